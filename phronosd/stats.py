"""Statistics of timed runs: central values, spread, a confidence interval and honesty flags.

Outliers are reported, never removed. Robust figures use the median absolute deviation (MAD):
robust CV = 1.4826 * MAD / median; modified z-score = 0.6745 * (x - median) / MAD.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

NOISY_ROBUST_CV = 0.05
UNRELIABLE_ROBUST_CV = 0.15
OUTLIER_Z = 3.5
SLOW_FIRST_RATIO = 1.2
# Below this many clock ticks a single reading carries more than 5 % quantisation error.
RESOLUTION_TICKS = 20
# A measure phase that used this share of its budget stopped because of the budget.
BUDGET_SPENT_SHARE = 0.9
# Bimodality: see `bimodal`.
BIMODAL_MIN_SAMPLES = 20
BIMODAL_MIN_SIDE = 0.10
BIMODAL_GAP_SPREADS = 3.0
BIMODAL_MIN_SEPARATION = 0.10

# Two-sided 95 % Student t quantiles for 1..30 degrees of freedom.
T95 = [
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
]


def t_quantile_95(df: int) -> float:
    """Two-sided 95 % t quantile; table up to 30 df, Cornish-Fisher expansion beyond."""
    if df <= len(T95):
        return T95[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def mad(values: Sequence[float], median: float) -> float:
    return statistics.median(abs(v - median) for v in values)


def modified_z(value: float, median: float, deviation: float) -> float:
    if deviation == 0:
        return 0.0 if value == median else math.inf
    return 0.6745 * (value - median) / deviation


def robust_sigma(values: Sequence[float]) -> float:
    """1.4826 * MAD: the standard deviation a normal distribution with this MAD would have."""
    return 1.4826 * mad(values, statistics.median(values))


def bimodal(samples_ms: Sequence[float]) -> bool:
    """Whether the samples fall into two well-separated clusters (e.g. a runtime switching between
    two speed levels, or JIT/GC bands), which makes any single central value misleading.

    A gap test on the sorted samples: take the widest gap between neighbours that leaves at least
    10 % of the samples (and at least 5) on each side; the samples are bimodal when that gap is wider
    than 3 robust standard deviations (1.4826 * MAD) of the more spread-out side, and the two sides'
    medians differ by at least 10 %. Robust: a few outliers (under 10 % of the runs) cannot form a
    side, and the spreads ignore them; a long unimodal tail (log-normal, exponential) has no such gap
    (under 1 % false positives in simulation from 20 samples up). The 10 % separation keeps timer
    quantisation levels and differences nobody would act on out of it.
    """
    n = len(samples_ms)
    if n < BIMODAL_MIN_SAMPLES:
        return False
    ordered = sorted(samples_ms)
    side = max(5, math.ceil(BIMODAL_MIN_SIDE * n))
    split = max(range(side, n - side + 1), key=lambda k: ordered[k] - ordered[k - 1])
    low, high = ordered[:split], ordered[split:]
    if statistics.median(high) < (1 + BIMODAL_MIN_SEPARATION) * statistics.median(low):
        return False
    return ordered[split] - ordered[split - 1] > BIMODAL_GAP_SPREADS * max(robust_sigma(low), robust_sigma(high))


def summarize(samples_ms: Sequence[float]) -> dict[str, Any]:
    """Mean, sample std (n-1), median, min, max, p95, 95 % CI of the mean, CV, robust CV, outliers."""
    n = len(samples_ms)
    ordered = sorted(samples_ms)
    mean = statistics.fmean(samples_ms)
    median = statistics.median(ordered)
    stddev = statistics.stdev(samples_ms) if n > 1 else None
    deviation = mad(samples_ms, median)
    if stddev is None:
        ci = None
    else:
        half = t_quantile_95(n - 1) * stddev / math.sqrt(n)
        ci = [mean - half, mean + half]
    outliers = [
        {"run": index, "ms": value}
        for index, value in enumerate(samples_ms)
        if abs(modified_z(value, median, deviation)) > OUTLIER_Z
    ]
    return {
        "meanMs": mean,
        "stddevMs": stddev,
        "medianMs": median,
        "minMs": ordered[0],
        "maxMs": ordered[-1],
        "p95Ms": percentile(ordered, 0.95),
        "ci95Ms": ci,
        "cv": stddev / mean if stddev is not None and mean > 0 else None,
        "robustCv": 1.4826 * deviation / median if median > 0 else None,
        "outliers": outliers,
    }


def flags_for(
    summary: dict[str, Any],
    samples_ms: Sequence[float],
    per_test_medians_ns: Sequence[float],
    resolution_ns: float,
) -> list[str]:
    """The honesty flags of the samples themselves (early stops and contamination: the caller)."""
    flags = []
    robust_cv = summary["robustCv"]
    if robust_cv is not None and robust_cv > NOISY_ROBUST_CV:
        flags.append("noisy")
    if robust_cv is not None and robust_cv > UNRELIABLE_ROBUST_CV:
        flags.append("unreliable")
    median = summary["medianMs"]
    deviation = mad(samples_ms, median)
    first = samples_ms[0]
    if len(samples_ms) > 2 and first > SLOW_FIRST_RATIO * median and modified_z(first, median, deviation) > OUTLIER_Z:
        flags.append("slow_first_run")
    if resolution_ns > 0 and any(m < RESOLUTION_TICKS * resolution_ns for m in per_test_medians_ns):
        flags.append("below_timer_resolution")
    if bimodal(samples_ms):
        flags.append("bimodal")
    return flags


def early_stop_flag(runs_done: int, runs_requested: int, measure_wall_ms: float | None, budget_ms: int) -> str | None:
    """Why fewer runs than asked: the measuring budget was spent (the measure phase lasted about as
    long as the budget), or the harness stopped for another reason (its notes say which)."""
    if runs_done >= runs_requested:
        return None
    if measure_wall_ms is not None and measure_wall_ms >= BUDGET_SPENT_SHARE * budget_ms:
        return "time_budget_exhausted"
    return "stopped_early"


# Comparing solutions measured in the same rounds (POST /api/execute/compare).
COMPARE_ALPHA = 0.01  # a difference is declared at p < 1 %, after Holm's adjustment
COMPARE_MIN_EFFECT = 0.01  # ... and only if the ratio is at least 1 % away from 1
COMPARE_MIN_BLOCKS = 2  # a process-to-process spread needs two processes of each solution
COMPARE_MIN_BLOCK_ROUNDS = 3  # a block's estimate needs a few paired rounds
COMPARE_METHOD = (
    "blocks of processes: every solution is measured in several processes, one per block, and in a block "
    "every round runs each solution once; per block, the Hodges-Lehmann estimate of the per-round log ratios "
    "(candidate over baseline); the ratio is exp of the mean of the block estimates, with the Student t 95 % "
    "interval over blocks (the processes are the replicates, so a process's own speed level counts as noise); "
    f"two-sided t test, Holm-adjusted over the candidates; a difference is declared only when p < {COMPARE_ALPHA:g}, "
    f"the interval excludes 1 and the ratio is at least {COMPARE_MIN_EFFECT:.0%} away from 1"
)


def t_two_sided_p(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom (the closed forms for integer df,
    Abramowitz and Stegun 26.7.3 and 26.7.4)."""
    theta = math.atan(abs(t) / math.sqrt(df))
    cos2, term, total = math.cos(theta) ** 2, 1.0, 0.0
    if df % 2:
        total = 1.0 if df > 1 else 0.0
        for k in range(3, df, 2):
            term *= cos2 * (k - 1) / k
            total += term
        inside = 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    else:
        total = 1.0
        for k in range(2, df, 2):
            term *= cos2 * (k - 1) / k
            total += term
        inside = math.sin(theta) * total
    return min(1.0, max(0.0, 1.0 - inside))


def hodges_lehmann(differences: Sequence[float]) -> float:
    """The Hodges-Lehmann estimate of the centre of paired differences: the median of the Walsh
    averages (robust to outliers and heavy tails, efficient under normal noise)."""
    n = len(differences)
    return statistics.median((differences[i] + differences[j]) / 2 for i in range(n) for j in range(i, n))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def block_estimates(
    baseline: Sequence[Sequence[float]], candidate: Sequence[Sequence[float]]
) -> tuple[list[float], int]:
    """One estimate of the log ratio per block (a process of each, run i of both from the same round):
    the Hodges-Lehmann centre of the block's per-round log ratios; and the number of pairs used.
    Blocks with too few rounds are left out."""
    estimates, pairs = [], 0
    for base_runs, cand_runs in zip(baseline, candidate):
        logs = [math.log(c / b) for b, c in zip(base_runs, cand_runs) if b > 0 and c > 0]
        if len(logs) >= COMPARE_MIN_BLOCK_ROUNDS:
            estimates.append(hodges_lehmann(logs))
            pairs += len(logs)
    return estimates, pairs


def compare_blocks(estimates: Sequence[float]) -> tuple[float, float, float, float]:
    """(centre, low, high, two-sided p) of the mean of the block estimates: one-sample Student t over
    blocks. Each block's processes bring their own speed levels, so the blocks' spread holds the
    process-to-process variation as well as the run-to-run noise."""
    count = len(estimates)
    centre = statistics.fmean(estimates)
    error = statistics.stdev(estimates) / math.sqrt(count)
    if error == 0:
        return centre, centre, centre, 1.0 if centre == 0 else 0.0
    half = t_quantile_95(count - 1) * error
    return centre, centre - half, centre + half, t_two_sided_p(centre / error, count - 1)


def compare_runs(
    baseline: Sequence[Sequence[float]], candidates: dict[str, Sequence[Sequence[float]]]
) -> list[dict[str, Any]]:
    """Each candidate's run times against the baseline's. Every solution's runs come as one list per
    block (one process of each solution per block), run i of every list of a block from the same round."""
    results: list[dict[str, Any]] = []
    p_values: list[float] = []
    for name, blocks in candidates.items():
        estimates, pairs = block_estimates(baseline, blocks)
        result: dict[str, Any] = {
            "name": name,
            "ratio": None,
            "ci95": None,
            "pValue": None,
            "verdict": "indistinguishable",
            "pairs": pairs,
            "processes": len(estimates),
        }
        results.append(result)
        if len(estimates) < COMPARE_MIN_BLOCKS:
            p_values.append(1.0)
            continue
        centre, low, high, p = compare_blocks(estimates)
        result.update(ratio=math.exp(centre), ci95=[math.exp(low), math.exp(high)])
        p_values.append(p)
    for result, p in zip(results, holm(p_values)):
        if result["ratio"] is None:
            continue
        low, high = result["ci95"]
        result["pValue"] = p
        declared = (
            p < COMPARE_ALPHA
            and (low > 1 or high < 1)
            and abs(math.log(result["ratio"])) >= math.log1p(COMPARE_MIN_EFFECT)
        )
        result["verdict"] = ("slower" if result["ratio"] > 1 else "faster") if declared else "indistinguishable"
    return results
