"""Statistics against values computed by hand."""

import math
import random

import pytest

from phronosd import stats


def test_summary_of_five_samples():
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["meanMs"] == 22.0
    assert s["medianMs"] == 3.0
    assert s["minMs"] == 1.0 and s["maxMs"] == 100.0
    assert s["stddevMs"] == pytest.approx(math.sqrt(7610 / 4))  # sample std, n-1
    assert s["p95Ms"] == pytest.approx(80.8)  # 4 + 0.8 * (100 - 4)
    half = 2.776 * math.sqrt(7610 / 4) / math.sqrt(5)
    assert s["ci95Ms"] == pytest.approx([22 - half, 22 + half])
    assert s["cv"] == pytest.approx(math.sqrt(7610 / 4) / 22)
    assert s["robustCv"] == pytest.approx(1.4826 * 1 / 3)  # MAD of |x - 3| = median(2,1,0,1,97) = 1
    assert s["outliers"] == [{"run": 4, "ms": 100.0}]  # 0.6745 * 97 / 1 = 65.4 > 3.5


def test_single_sample_has_no_spread():
    s = stats.summarize([2.5])
    assert s["meanMs"] == s["medianMs"] == s["p95Ms"] == 2.5
    assert s["stddevMs"] is None and s["ci95Ms"] is None and s["cv"] is None
    assert s["robustCv"] == 0.0 and s["outliers"] == []


def test_identical_samples_have_no_outliers():
    s = stats.summarize([1.0] * 10)
    assert s["stddevMs"] == 0.0 and s["robustCv"] == 0.0 and s["outliers"] == []


def test_t_quantiles():
    assert stats.t_quantile_95(1) == 12.706
    assert stats.t_quantile_95(30) == 2.042
    assert stats.t_quantile_95(60) == pytest.approx(2.000, abs=0.002)
    assert stats.t_quantile_95(10_000) == pytest.approx(1.960, abs=0.001)


def test_percentile_interpolates():
    assert stats.percentile([10.0, 20.0], 0.5) == 15.0
    assert stats.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == pytest.approx(4.8)


def flags(samples, medians_ns=(1_000_000,), resolution=1.0):
    summary = stats.summarize(samples)
    return stats.flags_for(summary, samples, medians_ns, resolution)


def test_quiet_samples_have_no_flags():
    assert flags([1.0, 1.01, 0.99, 1.0, 1.02, 0.98]) == []


def test_noisy_and_unreliable():
    # median 1.0, MAD 0.1 -> robust CV 14.8 %: noisy, not unreliable
    assert flags([0.9, 1.0, 1.1, 0.9, 1.1, 1.0, 1.0]) == ["noisy"]
    # median 1.0, MAD 0.5 -> robust CV 74 %
    assert flags([0.5, 1.0, 1.5, 0.5, 1.5, 1.0, 1.0]) == ["noisy", "unreliable"]


def test_slow_first_run():
    assert "slow_first_run" in flags([5.0, 1.0, 1.01, 0.99, 1.0, 1.0])


def test_below_timer_resolution():
    assert "below_timer_resolution" in flags([1.0, 1.0, 1.0], medians_ns=[300], resolution=100)
    assert "below_timer_resolution" not in flags([1.0, 1.0, 1.0], medians_ns=[3000], resolution=100)


def test_early_stop_reasons():
    assert stats.early_stop_flag(100, 100, 500.0, 60000) is None
    assert stats.early_stop_flag(40, 100, 59000.0, 60000) == "time_budget_exhausted"
    assert stats.early_stop_flag(40, 100, 1200.0, 60000) == "stopped_early"  # e.g. a test failed while measured
    assert stats.early_stop_flag(40, 100, None, 60000) == "stopped_early"


def two_levels(low_count, high_count, low=1.0, high=1.9):
    """Two bands with a little hand-made jitter (±1 %), interleaved like a runtime switching levels."""
    jitter = [0.99, 1.0, 1.01, 1.0]
    lows = [low * jitter[i % 4] for i in range(low_count)]
    highs = [high * jitter[i % 4] for i in range(high_count)]
    return [x for pair in zip(lows, highs) for x in pair] + lows[len(highs) :] + highs[len(lows) :]


def test_two_speed_levels_are_bimodal():
    samples = two_levels(50, 50)
    assert stats.bimodal(samples)
    assert "bimodal" in flags(samples)


def test_a_minor_band_of_ten_percent_is_bimodal():
    assert stats.bimodal(two_levels(90, 10))


def test_a_few_outliers_are_not_a_second_mode():
    # 5 of 100 runs at 10x: outliers (reported as such), not a cluster of their own
    assert not stats.bimodal(two_levels(95, 5, high=10.0))


def test_a_long_unimodal_tail_is_not_bimodal():
    # an even spread from 1.00 to 1.99 ms: many small gaps, no empty region
    assert not stats.bimodal([1.0 + i / 100 for i in range(100)])
    # geometric growth (a long right tail): gaps widen, but so does the spread beside them
    assert not stats.bimodal([1.03**i for i in range(100)])


def test_close_levels_and_few_samples_are_not_bimodal():
    assert not stats.bimodal(two_levels(50, 50, high=1.05))  # 5 % apart: below the 10 % separation
    assert not stats.bimodal(two_levels(10, 9))  # fewer than 20 samples
    assert not stats.bimodal([1.0] * 100)


def paired_trial(rng, effect: float, n: int = 100, cv: float = 0.02, tail=None):
    """Baseline and candidate run times from the same rounds: a common drifting level (the machine),
    independent noise, and the candidate `effect` times slower."""
    base, cand, level = [], [], 1.0
    for _ in range(n):
        level *= math.exp(rng.gauss(0, 0.01))
        noise = tail or (lambda: rng.gauss(0, cv))
        base.append(2.0 * level * math.exp(noise()))
        cand.append(2.0 * effect * level * math.exp(noise()))
    return base, cand


@pytest.mark.parametrize("tail", ["normal", "heavy"])
def test_compare_a_solution_with_itself_is_indistinguishable(tail):
    rng = random.Random(7)
    heavy = (
        (lambda: rng.gauss(0, 0.02) + (rng.expovariate(5) if rng.random() < 0.05 else 0)) if tail == "heavy" else None
    )
    same = [
        stats.compare_runs(base, {"c": cand})[0]
        for base, cand in (paired_trial(rng, 1.0, tail=heavy) for _ in range(100))
    ]
    assert sum(r["verdict"] == "indistinguishable" for r in same) >= 95
    assert sum(r["ci95"][0] <= 1.0 <= r["ci95"][1] for r in same) >= 90


@pytest.mark.parametrize("tail", ["normal", "heavy"])
def test_compare_finds_five_percent_more_work_with_the_ratio_in_its_interval(tail):
    rng = random.Random(11)
    heavy = (
        (lambda: rng.gauss(0, 0.02) + (rng.expovariate(5) if rng.random() < 0.05 else 0)) if tail == "heavy" else None
    )
    results = [
        stats.compare_runs(base, {"c": cand})[0]
        for base, cand in (paired_trial(rng, 1.05, tail=heavy) for _ in range(100))
    ]
    assert sum(r["verdict"] == "slower" for r in results) >= 95
    assert sum(r["ci95"][0] <= 1.05 <= r["ci95"][1] for r in results) >= 90
    slow, fast = paired_trial(rng, 1.05)
    faster = stats.compare_runs(fast, {"c": slow})
    assert faster[0]["verdict"] == "faster" and faster[0]["ratio"] < 1


def test_compare_needs_enough_rounds_and_adjusts_for_several_candidates():
    few = stats.compare_runs([1.0, 1.1, 1.0], {"c": [2.0, 2.1, 2.0]})
    assert few[0]["verdict"] == "indistinguishable" and few[0]["ratio"] is None and few[0]["pairs"] == 3
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    rng = random.Random(3)
    base, _ = paired_trial(rng, 1.0)
    results = stats.compare_runs(base, {"same": list(base), "double": [2 * b for b in base]})
    assert [r["verdict"] for r in results] == ["indistinguishable", "slower"]
    assert results[1]["ratio"] == pytest.approx(2.0)


def test_signed_rank_p_value_and_hodges_lehmann_by_hand():
    # Ten positive differences 1..10: W+ = 55, mean 27.5, variance 96.25, z = 27/9.811 = 2.752,
    # two-sided p = 0.00592 (normal approximation with continuity correction).
    assert stats.signed_rank_p([float(d) for d in range(1, 11)]) == pytest.approx(0.00592, abs=1e-4)
    assert stats.signed_rank_p([1.0, -1.0, 2.0, -2.0]) == 1.0
    centre, low, high = stats.hodges_lehmann([float(d) for d in range(1, 11)])
    assert centre == 5.5 and low < 5.5 < high
