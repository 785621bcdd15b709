"""The measurement of a `/run`: the harness's samples, checked, turned into statistics, flags and
notes. Language-agnostic: it reads the `samples` and `measured` events of the contract in
`handlers/README.md` and the supervisor's phase stamps.

The samples come from the test process, which also runs the code under test, so nothing in them is
taken on trust: their shape is checked (`MalformedSamples`), and the harness's own clock over the
measure phase (`elapsedNs`) is compared with the supervisor's, a separate process the code under test
cannot reach (`timing_inconsistent`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from . import stats

PREEMPTED_CPU_RATIO = 0.5
# A sample is at most this long: longer than any measure phase the daemon allows.
MAX_SAMPLE_NS = 10**13
# How far the harness's clock may disagree with the supervisor's over the measure phase: the
# supervisor stamps events as it reads them (its wake-up latency), and for C++, Go and Rust the
# harness's span includes starting the test binaries.
CLOCK_SLACK_MS = 100.0
CLOCK_SLACK_SHARE = 0.10


class MalformedSamples(Exception):
    """The harness's samples cannot be a measurement of the tests that passed."""


@dataclass(frozen=True)
class Samples:
    """Checked per-test timings (ns), cut to the runs every test completed."""

    per_test: dict[str, list[int]]
    runs: int

    def run_times_ms(self) -> list[float]:
        """A run's time is the sum of one timed execution of every test body."""
        return [sum(values[i] for values in self.per_test.values()) / 1e6 for i in range(self.runs)]


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def told_notes(info: dict[str, Any]) -> list[str]:
    """The `notes` of a `measured` event, keeping only strings."""
    notes = info.get("notes")
    return [note for note in notes if isinstance(note, str)] if isinstance(notes, list) else []


def times(name: str, test: str) -> bool:
    """Whether a sample list named `name` times `test`: the test itself, or its top-level test (Go times
    a top-level test with its subtests, under the top-level name)."""
    return test == name or test.startswith(name + "/")


def checked_samples(events: list[dict[str, Any]], passed: set[str], runs_requested: int) -> Samples:
    """The `samples` events, or `MalformedSamples` naming what is wrong: every test that passed exactly
    once (or none: not measured), no other name, equal lengths of at most the runs asked for,
    non-negative integers of sane size. A missing list would let a solution drop its slowest test."""
    per_test: dict[str, list[int]] = {}
    for event in events:
        name, values = event.get("test"), event.get("ns")
        if not isinstance(name, str) or not any(times(name, test) for test in passed):
            raise MalformedSamples(f"samples for {str(name)[:80]!r}, which is not a test that passed")
        if name in per_test:
            raise MalformedSamples(f"two sample lists for {name[:80]!r}")
        if not isinstance(values, list) or not all(is_count(v) and v <= MAX_SAMPLE_NS for v in values):
            raise MalformedSamples(f"the samples of {name[:80]!r} are not durations in nanoseconds")
        per_test[name] = values
    missing = sorted(test for test in passed if not any(times(name, test) for name in per_test)) if per_test else []
    if missing:
        raise MalformedSamples(f"no samples for {missing[0][:80]!r}, a test that passed")
    lengths = {len(values) for values in per_test.values()}
    if len(lengths) > 1:
        raise MalformedSamples("the tests have different numbers of timed runs")
    runs = lengths.pop() if lengths else 0
    if runs > runs_requested:
        raise MalformedSamples(f"{runs} timed runs where {runs_requested} were asked for")
    return Samples(per_test, runs)


def phase_resources(phases: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Wall time of the measure phase, and its CPU time (user+system, whole container cgroup) and
    throttling where the supervisor could read the cgroup (under gVisor it cannot: wall time only)."""
    start, end = phases.get("measure"), phases.get("end")
    if not start or not end:
        return None
    wall_ms = round(end["atMs"] - start["atMs"], 3)
    if "cpuUsageNs" not in start or "cpuUsageNs" not in end:
        return {"wallMs": wall_ms}
    return {
        "wallMs": wall_ms,
        "cpuMs": round((end["cpuUsageNs"] - start["cpuUsageNs"]) / 1e6, 3),
        "throttledPeriods": end.get("nrThrottled", 0) - start.get("nrThrottled", 0),
        "throttledMs": round((end.get("throttledNs", 0) - start.get("throttledNs", 0)) / 1e6, 3),
    }


def contamination_flags(resources: dict[str, Any] | None) -> list[str]:
    if not resources:
        return []
    flags = []
    if resources.get("throttledPeriods", 0) > 0:
        flags.append("throttled")
    cpu_ms = resources.get("cpuMs")
    if cpu_ms is not None and resources["wallMs"] > 50 and cpu_ms < PREEMPTED_CPU_RATIO * resources["wallMs"]:
        flags.append("preempted")
    return flags


def clock_disagreement(phases: dict[str, dict[str, Any]], elapsed_ns: Any, timed_ms: float) -> str | None:
    """Why the harness's timings cannot be true, or None.

    The supervisor stamps `phase measure` and `measured` with its own clock; the harness reports the
    same span by the clock it timed the tests with. A clock that the code under test slowed, stopped
    or replaced disagrees with the supervisor's; and the timed runs cannot add up to more than the
    span they were taken in."""
    start, end = phases.get("measure"), phases.get("measured")
    if not start or not end:
        return None
    if not is_count(elapsed_ns):
        return "the harness did not report its own elapsed time over the measure phase"
    outside_ms = end["atMs"] - start["atMs"]
    inside_ms = elapsed_ns / 1e6
    slack_ms = CLOCK_SLACK_MS + CLOCK_SLACK_SHARE * outside_ms
    if abs(outside_ms - inside_ms) > slack_ms:
        return (
            f"the test process's clock saw {inside_ms:.1f} ms where {outside_ms:.1f} ms passed outside it: "
            "the clock was tampered with, or the process was stopped"
        )
    if timed_ms > inside_ms + 1.0:
        return f"the timed runs add up to {timed_ms:.1f} ms, more than the {inside_ms:.1f} ms they were taken in"
    return None


def measurement_of(
    samples: Samples,
    info: dict[str, Any],
    phases: dict[str, dict[str, Any]],
    runs_requested: int,
    budget_ms: int,
    include_samples: bool,
    shared_container: bool = False,
) -> dict[str, Any]:
    """Statistics, flags and notes of checked samples (at least one run) and the `measured` event.
    `shared_container`: other solutions ran in the same container meanwhile (a compare job), so the
    container's CPU and throttling figures are not this solution's and are left out."""
    samples_ms = samples.run_times_ms()
    summary = stats.summarize(samples_ms)
    resources = None if shared_container else phase_resources(phases)
    resolution: Any = info.get("timerResolutionNs")
    flags = stats.flags_for(
        summary,
        samples_ms,
        [statistics.median(v) for v in samples.per_test.values()],
        float(resolution) if is_count(resolution) else 0.0,
    )
    early = stats.early_stop_flag(samples.runs, runs_requested, resources["wallMs"] if resources else None, budget_ms)
    flags += ([early] if early else []) + contamination_flags(resources)
    notes = told_notes(info)
    disagreement = clock_disagreement(phases, info.get("elapsedNs"), sum(samples_ms))
    if disagreement:
        flags.append("timing_inconsistent")
        notes.append(disagreement + "; these run times are not a measurement of the solution")
    peak_rss: Any = info.get("rssPeakBytes")
    if is_count(peak_rss) and peak_rss > 0:
        resources = {**(resources or {}), "rssPeakBytes": peak_rss}
    warmup = info.get("warmup")
    measurement = {
        "runs": samples.runs,
        "warmup": warmup if is_count(warmup) else None,
        **summary,
        "flags": flags,
        "notes": notes,
        "perTest": [
            {"name": name, "meanMs": statistics.fmean(v) / 1e6, "medianMs": statistics.median(v) / 1e6}
            for name, v in samples.per_test.items()
        ],
        "resources": resources,
    }
    if include_samples:
        measurement["samplesMs"] = samples_ms
    return measurement
