"""Turns what a container did (the supervisor's frame) into the API's result: status, counts, tests,
timings and the measurement. Language-agnostic: it reads only the report events of the contract in
`handlers/README.md`."""

from __future__ import annotations

import signal
import statistics
from typing import Any

from . import stats
from .errors import Internal
from .sandbox import ContainerOutcome

FAILED = ("failed", "error")
PREEMPTED_CPU_RATIO = 0.5


def signal_name(number: int | None) -> str | None:
    if number is None:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def events_of(frame: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in frame.get("events", []) if e.get("event") == kind]


def phase_times(frame: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p.get("name"): p for p in frame.get("phases", [])}


def span_ms(phases: dict[str, dict[str, Any]], start: str, ends: tuple[str, ...]) -> float | None:
    if start not in phases:
        return None
    for end in ends:
        if end in phases:
            return round(phases[end]["atMs"] - phases[start]["atMs"], 3)
    return None


def timings(outcome: ContainerOutcome, queue_ms: float) -> dict[str, Any]:
    """Where the wall time went. `containerMs` is docker's share: start-up and removal of the container
    (the request's wall time in docker minus the time the supervisor saw)."""
    frame = outcome.frame or {}
    phases = phase_times(frame)
    inside = phases.get("end", {}).get("atMs")
    return {
        "queueMs": round(queue_ms, 3),
        "containerMs": round(outcome.duration_ms - inside, 3) if inside is not None else None,
        "compileMs": span_ms(phases, "compile", ("validate", "end")),
        "validateMs": span_ms(phases, "validate", ("measure", "end")),
        "measureMs": span_ms(phases, "measure", ("end",)),
        "totalMs": round(outcome.duration_ms + queue_ms, 3),
        "memoryPeakBytes": frame.get("cgroup", {}).get("memoryPeakBytes"),
    }


def classify(outcome: ContainerOutcome, frame: dict[str, Any], tests: list[dict[str, Any]]) -> tuple[str, str | None]:
    """The status and a human message; the first matching rule wins."""
    verdict = frame.get("verdict")
    if outcome.timed_out or verdict == "timeout":
        return "timeout", "the time limit was reached; the container was stopped"
    if outcome.overflow or verdict in ("output_limit", "report_limit"):
        return "output_limit", "the output limit was reached; the container was stopped"
    memory = events_of(frame, "memory_limit")
    if frame.get("cgroup", {}).get("oomKills", 0) > 0 or memory:
        return "memory_limit", memory[0].get("message") if memory else "the memory limit was reached"
    compile_errors = events_of(frame, "compile_error")
    if compile_errors:
        return "compile_error", compile_errors[0].get("message")
    harness_errors = events_of(frame, "error")
    if harness_errors:
        return "runtime_error", harness_errors[0].get("message")
    if not events_of(frame, "validated"):
        how = signal_name(frame.get("signal"))
        how = f"was killed by {how}" if how else f"exited with code {frame.get('exitCode')}"
        return "runtime_error", f"the test process {how} before the suite finished"
    if not tests:
        return "no_tests", "no tests were found"
    if any(t["status"] in FAILED for t in tests):
        return "failed", None
    if not any(t["status"] == "passed" for t in tests):
        return "no_tests", "every test was skipped"
    return "passed", None


def no_frame_status(outcome: ContainerOutcome) -> tuple[str, str]:
    """The container ended without a result frame: decide from how it ended."""
    if outcome.timed_out:
        return "timeout", "the time limit was reached; the container was stopped"
    if outcome.overflow:
        return "output_limit", "the output limit was reached; the container was stopped"
    if outcome.exit_code == 137:
        return "memory_limit", "the container was killed (SIGKILL), most likely by the memory limit"
    if outcome.exit_code in (125, 126, 127):
        raise Internal("docker.run", f"docker could not run the container: {outcome.docker_error[:300]}")
    return "runtime_error", f"the container exited with code {outcome.exit_code} without a result"


def test_entry(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(event.get("name")),
        "status": event.get("status") if event.get("status") in ("passed", "failed", "error", "skipped") else "error",
        "durationMs": event.get("durationMs"),
        "message": event.get("message"),
    }


def build_result(
    outcome: ContainerOutcome,
    *,
    language: str,
    image: str,
    queue_ms: float,
    runs_requested: int = 0,
    budget_ms: int = 0,
    include_samples: bool = False,
    lane_core: int | None = None,
) -> dict[str, Any]:
    """The validate response; with `runs_requested`, the run response's measurement fields too."""
    frame = outcome.frame
    if frame is not None and "internalError" in frame:
        raise Internal("execution.supervisor", "the sandbox supervisor failed: " + str(frame["internalError"])[:300])
    if frame is None:
        status, message = no_frame_status(outcome)
        frame = {}
    tests = [test_entry(e) for e in events_of(frame, "test")]
    if outcome.frame is not None:
        status, message = classify(outcome, frame, tests)
    stdout, stderr = frame.get("stdout", ""), frame.get("stderr", "")
    result = {
        "passed": status == "passed",
        "status": status,
        "message": message,
        "signal": signal_name(frame.get("signal")),
        "testsPassed": sum(t["status"] == "passed" for t in tests),
        "testsFailed": sum(t["status"] in FAILED for t in tests),
        "testsSkipped": sum(t["status"] == "skipped" for t in tests),
        "totalTests": len(tests),
        "tests": tests,
        "output": stdout + stderr,
        "outputTruncated": status == "output_limit"
        or frame.get("stdoutBytes", 0) > len(stdout.encode())
        or frame.get("stderrBytes", 0) > len(stderr.encode()),
        "timings": timings(outcome, queue_ms),
        "language": language,
        "image": image,
    }
    if runs_requested:
        measurement = measurement_of(frame, runs_requested, budget_ms, include_samples) if status == "passed" else None
        if measurement is not None:
            measurement["core"] = lane_core
            if lane_core is None:
                measurement["flags"].append("no_measuring_lane")
        result["measurement"] = measurement
        result["meanExecutionTime"] = measurement["meanMs"] if measurement else None
        result["standardDeviation"] = measurement["stddevMs"] if measurement else None
    return result


def measurement_of(
    frame: dict[str, Any], runs_requested: int, budget_ms: int, include_samples: bool
) -> dict[str, Any] | None:
    """Statistics of the runs: a run's time is the sum of one timed execution of every test body."""
    per_test = {str(e.get("test")): [int(x) for x in e.get("ns", [])] for e in events_of(frame, "samples")}
    done = events_of(frame, "measured")
    if not per_test or not done:
        return None
    count = min(len(v) for v in per_test.values())
    if count == 0:
        return None
    per_test = {name: values[:count] for name, values in per_test.items()}
    samples_ms = [sum(v[i] for v in per_test.values()) / 1e6 for i in range(count)]
    summary = stats.summarize(samples_ms)
    info = done[-1]
    phases = phase_times(frame)
    resources = phase_resources(phases)
    flags = stats.flags_for(
        summary, samples_ms, [statistics.median(v) for v in per_test.values()],
        float(info.get("timerResolutionNs") or 0),
    )
    early = stats.early_stop_flag(count, runs_requested, resources and resources["wallMs"], budget_ms)
    flags += ([early] if early else []) + contamination_flags(phases)
    peak_rss = info.get("rssPeakBytes")
    if isinstance(peak_rss, int) and not isinstance(peak_rss, bool) and peak_rss > 0:
        resources = {**(resources or {}), "rssPeakBytes": peak_rss}
    measurement = {
        "runs": count,
        "warmup": info.get("warmup"),
        **summary,
        "flags": flags,
        "notes": [str(n) for n in info.get("notes", [])],
        "perTest": [
            {"name": name, "meanMs": statistics.fmean(v) / 1e6, "medianMs": statistics.median(v) / 1e6}
            for name, v in per_test.items()
        ],
        "resources": resources,
    }
    if include_samples:
        measurement["samplesMs"] = samples_ms
    return measurement


def phase_resources(phases: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """CPU time (user+system, whole container cgroup) and wall time of the measure phase."""
    start, end = phases.get("measure"), phases.get("end")
    if not start or not end or "cpuUsageNs" not in start:
        return None
    return {
        "wallMs": round(end["atMs"] - start["atMs"], 3),
        "cpuMs": round((end["cpuUsageNs"] - start["cpuUsageNs"]) / 1e6, 3),
        "throttledPeriods": end.get("nrThrottled", 0) - start.get("nrThrottled", 0),
        "throttledMs": round((end.get("throttledNs", 0) - start.get("throttledNs", 0)) / 1e6, 3),
    }


def contamination_flags(phases: dict[str, dict[str, Any]]) -> list[str]:
    resources = phase_resources(phases)
    if not resources:
        return []
    flags = []
    if resources["throttledPeriods"] > 0:
        flags.append("throttled")
    if resources["wallMs"] > 50 and resources["cpuMs"] < PREEMPTED_CPU_RATIO * resources["wallMs"]:
        flags.append("preempted")
    return flags
