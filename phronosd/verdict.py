"""Turns what a container did (the supervisor's frame) into the API's result: status, counts, tests,
timings and the measurement. Language-agnostic: it reads only the report events of the contract in
`handlers/README.md`."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from .measurement import MalformedSamples, checked_samples, measurement_of, told_notes
from .sandbox import ContainerOutcome

FAILED = ("failed", "error")


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
    """Where the wall time went. `containerMs` is docker's share: the container's start-up (the
    request's wall time in docker, up to the frame, minus the time the supervisor saw; its exit and
    removal come after the answer); `pooled`: the container was started ahead of time by the warm
    pool, so its start-up is not in it."""
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
        "pooled": outcome.pooled,
    }


@dataclass(frozen=True)
class Fault:
    """The sandbox failed on our side (supervisor, harness, docker): no verdict about the code. The
    executor answers it with a 500 carrying `code`."""

    code: str
    message: str


def classify(outcome: ContainerOutcome, frame: dict[str, Any], tests: list[dict[str, Any]]) -> tuple[str, str | None]:
    """The status and a human message; the first matching rule wins."""
    verdict = frame.get("verdict")
    if outcome.timed_out or verdict == "timeout":
        if frame.get("phase") == "compile":
            return (
                "timeout",
                "compilation did not finish within this language's compile time limit; the container was stopped",
            )
        return "timeout", "the time limit was reached; the container was stopped"
    if outcome.overflow or verdict in ("output_limit", "report_limit"):
        return "output_limit", "the output limit was reached; the container was stopped"
    memory = events_of(frame, "memory_limit")
    if frame.get("cgroup", {}).get("oomKills", 0) > 0 or memory:
        return "memory_limit", memory[0].get("message") if memory else "the memory limit was reached"
    compile_errors = events_of(frame, "compile_error")
    if compile_errors:
        return "compile_error", compile_errors[0].get("message")
    validated = events_of(frame, "validated")
    if not validated:
        how = signal_name(frame.get("signal"))
        how = f"was killed by {how}" if how else f"exited with code {frame.get('exitCode')}"
        return "runtime_error", f"the test process {how} before the suite finished"
    sent = validated[0].get("tests")
    if isinstance(sent, int) and sent != len(tests):
        return "runtime_error", f"the report is incomplete: the harness sent {sent} test results, {len(tests)} arrived"
    if not tests:
        return "no_tests", "no tests were found"
    if any(t["status"] in FAILED for t in tests):
        return "failed", None
    if not any(t["status"] == "passed" for t in tests):
        return "no_tests", "every test was skipped"
    return "passed", None


def no_frame_status(outcome: ContainerOutcome) -> tuple[str, str | None] | Fault:
    """The container ended without a result frame: decide from how it ended."""
    if outcome.timed_out:
        return "timeout", "the time limit was reached; the container was stopped"
    if outcome.overflow:
        return "output_limit", "the output limit was reached; the container was stopped"
    if outcome.oom_killed:
        return "memory_limit", "the memory limit was reached; the kernel stopped the container"
    if outcome.exit_code in (125, 126, 127):
        return Fault("docker.run", f"docker could not run the container: {outcome.docker_error[:300]}")
    if outcome.exit_code is not None and outcome.exit_code > 128:
        how = signal_name(outcome.exit_code - 128)
        return "runtime_error", f"the container was stopped by {how} from outside, before it reported a result"
    return "runtime_error", f"the container exited with code {outcome.exit_code} without a result"


def test_entry(event: dict[str, Any]) -> dict[str, Any]:
    duration = event.get("durationMs")
    message = event.get("message")
    return {
        "name": str(event.get("name")),
        "status": event.get("status") if event.get("status") in ("passed", "failed", "error", "skipped") else "error",
        "durationMs": duration if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None,
        "message": message if isinstance(message, str) or message is None else str(message),
    }


def notes_of(frame: dict[str, Any]) -> list[str]:
    return [str(e.get("message")) for e in events_of(frame, "note") if e.get("message")]


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
    shared_container: bool = False,
) -> dict[str, Any] | Fault:
    """The validate response; with `runs_requested`, the run response's measurement fields too. A
    `Fault` when the sandbox failed on our side. `shared_container`: one solution of a compare job."""
    frame = outcome.frame
    if frame is not None and "internalError" in frame:
        return Fault("execution.supervisor", "the sandbox supervisor failed: " + str(frame["internalError"])[:300])
    if frame is not None and events_of(frame, "error"):
        failure = str(events_of(frame, "error")[0].get("message"))[:300]
        return Fault("execution.harness", f"the {language} harness failed: {failure}")
    tests = [test_entry(e) for e in events_of(frame or {}, "test")]
    decided = classify(outcome, frame, tests) if frame is not None else no_frame_status(outcome)
    if isinstance(decided, Fault):
        return decided
    status, message = decided
    frame = frame or {}
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
        "notes": notes_of(frame),
        "timings": timings(outcome, queue_ms),
        "language": language,
        "image": image,
        "containerRuntime": outcome.runtime,
    }
    if runs_requested:
        add_measurement(result, frame, tests, runs_requested, budget_ms, include_samples, lane_core, shared_container)
    return result


def add_measurement(
    result: dict[str, Any],
    frame: dict[str, Any],
    tests: list[dict[str, Any]],
    runs_requested: int,
    budget_ms: int,
    include_samples: bool,
    lane_core: int | None,
    shared_container: bool = False,
) -> None:
    """The run response's fields: `measurement` (null unless the tests passed and a run was timed,
    with a note saying why when they passed), `meanExecutionTime`, `standardDeviation`."""
    measurement = None
    if result["status"] == "passed":
        passed = {t["name"] for t in tests if t["status"] == "passed"}
        done = events_of(frame, "measured")
        try:
            samples = checked_samples(events_of(frame, "samples"), passed, runs_requested)
        except MalformedSamples as exc:
            result.update(passed=False, status="runtime_error", message=f"the measurement report is not valid: {exc}")
            samples = None
        if samples is not None and samples.runs and done:
            measurement = measurement_of(
                samples, done[-1], phase_times(frame), runs_requested, budget_ms, include_samples, shared_container
            )
            measurement["core"] = lane_core
            if lane_core is None:
                measurement["flags"].append("no_measuring_lane")
        elif samples is not None:
            result["notes"].append(unmeasured_reason(done))
    result["measurement"] = measurement
    result["meanExecutionTime"] = measurement["meanMs"] if measurement else None
    result["standardDeviation"] = measurement["stddevMs"] if measurement else None


def unmeasured_reason(done: list[dict[str, Any]]) -> str:
    """Why a passing suite has no measurement, in words."""
    if not done:
        return "not measured: the test process ended before its measure phase finished"
    told = told_notes(done[-1])
    return "not measured: " + ("; ".join(told) if told else "no timed run completed within the measuring budget")
