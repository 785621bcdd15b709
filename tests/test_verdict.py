"""The daemon's reading of a container's frame, without Docker: what the harness reports is checked,
never trusted (malformed samples, a clock that disagrees with the supervisor's), a passing /run
without a measurement says why, and failures on our side are faults (500s), not verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from phronosd.measurement import MAX_SAMPLE_NS
from phronosd.sandbox import ContainerOutcome
from phronosd.verdict import Fault, build_result


def outcome(
    events: list[dict[str, Any]], *, measure_ms: float = 100.0, exit_code: int = 0, **frame: Any
) -> ContainerOutcome:
    phases = [
        {"name": "start", "atMs": 0.0, "cpuUsageNs": 0},
        {"name": "validate", "atMs": 10.0, "cpuUsageNs": 10_000_000},
        {"name": "measure", "atMs": 20.0, "cpuUsageNs": 20_000_000},
        {"name": "measured", "atMs": 20.0 + measure_ms, "cpuUsageNs": int((20 + measure_ms) * 1e6)},
        {"name": "end", "atMs": 25.0 + measure_ms, "cpuUsageNs": int((25 + measure_ms) * 1e6)},
    ]
    body = {
        "events": events,
        "stdout": "",
        "stderr": "",
        "phases": phases,
        "cgroup": {},
        "exitCode": exit_code,
        **frame,
    }
    return ContainerOutcome(
        frame=body, exit_code=0, timed_out=False, overflow=False, docker_error="", duration_ms=500.0
    )


def passing(names=("t1", "t2")) -> list[dict[str, Any]]:
    return [{"event": "test", "name": n, "status": "passed", "durationMs": 1.0, "message": None} for n in names] + [
        {"event": "validated"}
    ]


def measured(elapsed_ns: int = 99_000_000, **extra: Any) -> dict[str, Any]:
    return {"event": "measured", "warmup": 1, "timerResolutionNs": 50, "notes": [], "elapsedNs": elapsed_ns, **extra}


def samples(name: str, ns: list[Any]) -> dict[str, Any]:
    return {"event": "samples", "test": name, "ns": ns}


def result_of(events, runs: int = 3, **kwargs: Any) -> dict[str, Any]:
    result = build_result(outcome(events, **kwargs), language="python", image="img", queue_ms=0.0, runs_requested=runs)
    assert not isinstance(result, Fault)
    return result


def test_a_clean_measurement_has_no_inconsistency():
    result = result_of([*passing(), samples("t1", [10_000_000] * 3), samples("t2", [5_000_000] * 3), measured()])
    assert result["passed"] and result["measurement"]["runs"] == 3
    assert "timing_inconsistent" not in result["measurement"]["flags"]
    assert result["meanExecutionTime"] == pytest.approx(15.0)


@pytest.mark.parametrize(
    "rows, why",
    [
        ([samples("t1", [int("9" * 400)] * 3), samples("t2", [1] * 3)], "not durations"),
        ([samples("t1", [MAX_SAMPLE_NS + 1] * 3), samples("t2", [1] * 3)], "not durations"),
        ([samples("t1", [-5] * 3), samples("t2", [1] * 3)], "not durations"),
        ([samples("t1", [1.5] * 3), samples("t2", [1] * 3)], "not durations"),
        ([samples("t1", [True] * 3), samples("t2", [1] * 3)], "not durations"),
        ([samples("t1", "123"), samples("t2", [1] * 3)], "not durations"),
        ([samples("t1", [1] * 3), samples("t2", [1] * 3), samples("fake", [1] * 3)], "not a test that passed"),
        ([samples("t1", [1] * 3), samples("t1", [1] * 3)], "two sample lists"),
        ([samples("t1", [1] * 3), samples("t2", [1] * 2)], "different numbers"),
        ([samples("t1", [1] * 4), samples("t2", [1] * 4)], "4 timed runs where 3"),
        ([samples(None, [1] * 3)], "not a test that passed"),
        ([samples("t1", [1] * 3)], "no samples for 't2'"),
    ],
)
def test_malformed_samples_are_a_runtime_error_never_a_500(rows, why):
    result = result_of([*passing(), *rows, measured()])
    assert result["status"] == "runtime_error" and not result["passed"]
    assert why in result["message"]
    assert result["measurement"] is None and result["meanExecutionTime"] is None


def test_a_stopped_clock_is_flagged():
    """The Python attack: perf_counter_ns patched to a constant makes a 5 ms loop report ~0."""
    result = result_of([*passing(["t1"]), samples("t1", [1] * 3), measured(elapsed_ns=3)], measure_ms=600.0)
    assert "timing_inconsistent" in result["measurement"]["flags"]
    assert any("clock" in note for note in result["measurement"]["notes"])


def test_runs_longer_than_the_phase_are_flagged():
    result = result_of([*passing(["t1"]), samples("t1", [90_000_000] * 3), measured(elapsed_ns=99_000_000)])
    assert "timing_inconsistent" in result["measurement"]["flags"]


def test_a_missing_elapsed_time_is_flagged():
    info = measured()
    del info["elapsedNs"]
    result = result_of([*passing(["t1"]), samples("t1", [1000] * 3), info])
    assert "timing_inconsistent" in result["measurement"]["flags"]


def test_a_passing_run_without_measurement_says_why():
    told = measured(notes=["t1 raised AssertionError while measured: boom"])
    result = result_of([*passing(["t1"]), samples("t1", []), told])
    assert result["passed"] and result["measurement"] is None
    assert result["notes"] == ["not measured: t1 raised AssertionError while measured: boom"]
    result = result_of([*passing(["t1"])])
    assert result["notes"] == ["not measured: the test process ended before its measure phase finished"]


def test_a_lost_test_event_is_never_a_pass():
    events = [{"event": "test", "name": "t1", "status": "passed"}, {"event": "validated", "tests": 2}]
    result = build_result(outcome(events), language="python", image="i", queue_ms=0.0)
    assert result["status"] == "runtime_error" and "incomplete" in result["message"]


def test_note_events_reach_the_response():
    result = result_of([{"event": "note", "message": "built with Go 1.24"}, *passing(["t1"])], runs=0)
    assert result["notes"] == ["built with Go 1.24"]


def test_a_harness_error_is_our_fault():
    result = build_result(outcome([{"event": "error", "message": "boom"}]), language="go", image="i", queue_ms=0.0)
    assert result == Fault("execution.harness", "the go harness failed: boom")


def test_a_container_killed_from_outside_is_not_an_out_of_memory():
    killed = ContainerOutcome(
        frame=None, exit_code=137, timed_out=False, overflow=False, docker_error="", duration_ms=1.0
    )
    result = build_result(killed, language="python", image="i", queue_ms=0.0)
    assert result["status"] == "runtime_error" and "SIGKILL" in result["message"]
    oom = ContainerOutcome(
        frame=None, exit_code=137, timed_out=False, overflow=False, docker_error="", duration_ms=1.0, oom_killed=True
    )
    assert build_result(oom, language="python", image="i", queue_ms=0.0)["status"] == "memory_limit"
