"""`POST /api/execute/compare`: the job for the in-container driver, and its frame turned into the
answer (each solution's verdict as `/run` gives it, the comparison, the ranking). The interleaving
itself happens in the container (handlers/README.md: Compare jobs): every solution is measured in
`COMPARE_PROCESSES` processes, one per block, and the statistics (`stats.compare_runs`) treat the
processes as the replicates."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from . import stats
from .execution_request import CompareRequest
from .measurement import MalformedSamples, Samples, checked_samples, measurement_of
from .sandbox import ContainerOutcome
from .verdict import Fault, build_result, events_of

# Processes per solution (blocks). Processes of one Python solution ran at speed levels 2-3 % apart
# (README: Comparing solutions); in simulation six keep an A/A indistinguishable whatever that spread,
# and find a 5 % difference in >= 95 % of trials while it is at most about 1 % and runs vary by about
# 2 % (tests/test_stats.py).
COMPARE_PROCESSES = 6


def compare_job(request: CompareRequest, budget_ms: int) -> dict[str, Any]:
    """The supervisor's job: every solution's own files, names and handler options."""
    language, measure = request.language, request.measure
    solutions = []
    for entrant in request.entrants:
        layout = language.layout(entrant.submission)
        solutions.append(
            {
                "name": entrant.name,
                "files": dict(layout.files),
                "solutionFile": layout.solution_file,
                "testFile": layout.test_file,
                "options": dict(layout.options),
            }
        )
    return {
        "mode": "compare",
        "solutions": solutions,
        "runs": measure.runs,
        "warmup": measure.warmup,
        "processes": compare_blocks(measure.runs),
        "budgetMs": budget_ms,
        "env": dict(language.env),
    }


def compare_blocks(runs: int) -> int:
    """Processes per solution: COMPARE_PROCESSES, fewer when the runs asked for would leave a block
    fewer rounds than the statistics use (a block of fewer is left out: its processes cost a
    validation and a warm-up each for nothing)."""
    return max(1, min(COMPARE_PROCESSES, runs // stats.COMPARE_MIN_BLOCK_ROUNDS))


def block_rounds(runs: int, block: int) -> int:
    """The rounds of one block: the runs asked for, shared out over the blocks (the driver's split)."""
    blocks = compare_blocks(runs)
    return runs // blocks + (block < runs % blocks)


def entrant_outcomes(outcome: ContainerOutcome, count: int) -> list[list[ContainerOutcome]] | Fault:
    """Per solution, one outcome per process it had, from the compare frame; a container that reported
    nothing gives each solution the container's own end (timeout, output limit, ...)."""
    frame = outcome.frame
    if frame is None:
        return [[outcome]] * count
    if "internalError" in frame:
        return Fault("execution.supervisor", "the sandbox supervisor failed: " + str(frame["internalError"])[:300])
    frames = frame.get("solutions")
    if (
        not isinstance(frames, list)
        or len(frames) != count
        or not all(isinstance(f, list) and 1 <= len(f) <= COMPARE_PROCESSES for f in frames)
    ):
        return Fault("execution.supervisor", "the sandbox supervisor's compare frame has the wrong shape")
    return [[dataclasses.replace(outcome, frame=entry) for entry in processes] for processes in frames]


def merged_samples(frames: list[dict[str, Any]], results: list[dict[str, Any]]) -> Samples:
    """Every process's checked samples, test by test, in block order (build_result checked each)."""
    per_test: dict[str, list[int]] = {}
    runs = 0
    for frame, result in zip(frames, results):
        passed = {t["name"] for t in result["tests"] if t["status"] == "passed"}
        samples = checked_samples(events_of(frame, "samples"), passed, result["measurement"]["runs"])
        for name, values in samples.per_test.items():
            per_test.setdefault(name, []).extend(values)
        runs += samples.runs
    if any(len(values) != runs for values in per_test.values()):
        raise MalformedSamples("the processes of one solution timed different tests")
    return Samples(per_test, runs)


def merged_measurement(
    frames: list[Any], results: list[dict[str, Any]], runs: int, budget_ms: int, core: int | None
) -> dict[str, Any]:
    """One solution's measurement over all its processes: the statistics of all its runs, every flag
    and note of any process, the highest peak RSS; `processRuns`: the runs of each process."""
    measurements = [r["measurement"] for r in results]
    info = {**events_of(frames[0], "measured")[-1], "notes": []}
    merged = measurement_of(merged_samples(frames, results), info, {}, runs, budget_ms, True, True)
    for measurement in measurements:
        merged["flags"] += [f for f in measurement["flags"] if f not in merged["flags"]]
        merged["notes"] += [n for n in measurement["notes"] if n not in merged["notes"]]
    peaks = [m["resources"]["rssPeakBytes"] for m in measurements if m["resources"]]
    merged["resources"] = {"rssPeakBytes": max(peaks)} if peaks else None
    merged["core"] = core
    merged["processRuns"] = [m["runs"] for m in measurements]
    return merged


def solution_result(
    request: CompareRequest,
    outcomes: list[ContainerOutcome],
    image: str,
    queue_ms: float,
    budget_ms: int,
    core: int | None,
) -> tuple[dict[str, Any], list[list[float]] | None] | Fault:
    """One solution's `/run`-shaped result over its processes, and its samples per process (None when
    not measured; an empty list for a process that timed nothing, so that block i stays block i). A
    failure in any process is the solution's failure."""
    results = []
    for block, outcome in enumerate(outcomes):
        result = build_result(
            outcome,
            language=request.language.name,
            image=image,
            queue_ms=queue_ms,
            runs_requested=block_rounds(request.measure.runs, block),
            budget_ms=budget_ms,
            include_samples=True,
            lane_core=core,
            shared_container=True,
        )
        if isinstance(result, Fault):
            return result
        if not result["passed"]:
            return result, None
        results.append(result)
    measured = [(o.frame, r) for o, r in zip(outcomes, results) if r["measurement"] is not None]
    first = results[0]
    if first["measurement"] is None:
        return first, None
    per_process = [r["measurement"]["samplesMs"] if r["measurement"] else [] for r in results]
    try:
        first["measurement"] = merged_measurement(
            [f for f, _ in measured], [r for _, r in measured], request.measure.runs, budget_ms, core
        )
    except MalformedSamples as exc:
        first.update(passed=False, status="runtime_error", message=f"the measurement report is not valid: {exc}")
        first.update(measurement=None, meanExecutionTime=None, standardDeviation=None)
        return first, None
    first["meanExecutionTime"] = first["measurement"]["meanMs"]
    first["standardDeviation"] = first["measurement"]["stddevMs"]
    return first, per_process


async def compare_result(
    request: CompareRequest, outcome: ContainerOutcome, image: str, queue_ms: float, budget_ms: int, core: int | None
) -> dict[str, Any] | Fault:
    outcomes = entrant_outcomes(outcome, len(request.entrants))
    if isinstance(outcomes, Fault):
        return outcomes
    solutions, blocks = [], {}
    for entrant, entrant_outcomes_ in zip(request.entrants, outcomes):
        built = solution_result(request, entrant_outcomes_, image, queue_ms, budget_ms, core)
        if isinstance(built, Fault):
            return built
        result, samples = built
        solutions.append({"name": entrant.name, **result})
        if samples is not None:
            blocks[entrant.name] = samples
    measured = [s for s in solutions if s["name"] in blocks]
    comparison = None
    if len(measured) >= 2:
        baseline, candidates = measured[0], measured[1:]
        results = await asyncio.to_thread(
            stats.compare_runs, blocks[baseline["name"]], {c["name"]: blocks[c["name"]] for c in candidates}
        )
        comparison = {"baseline": baseline["name"], "method": stats.COMPARE_METHOD, "results": results}
    if not request.measure.include_samples:
        for solution in measured:
            del solution["measurement"]["samplesMs"]
    return {
        "passed": all(s["passed"] for s in solutions),
        "solutions": solutions,
        "comparison": comparison,
        "ranking": [s["name"] for s in sorted(measured, key=lambda s: s["measurement"]["medianMs"])],
    }
