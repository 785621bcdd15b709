"""Statistics of timed runs: central values, spread, a confidence interval and honesty flags.

Outliers are reported, never removed. Robust figures use the median absolute deviation (MAD):
robust CV = 1.4826 * MAD / median; modified z-score = 0.6745 * (x - median) / MAD.
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence

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
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
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


def summarize(samples_ms: Sequence[float]) -> dict[str, object]:
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
    summary: dict[str, object],
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
