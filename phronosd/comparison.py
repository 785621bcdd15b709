"""`POST /api/execute/compare`: the job for the in-container driver, and its frame turned into the
answer (each solution's verdict as `/run` gives it, the comparison, the ranking). The interleaving
itself happens in the container (handlers/README.md: Compare jobs): every solution is measured in
blocks, a fresh process of it in each (the language's `compare_processes`), and the statistics
(`stats.compare_runs`) treat the processes as the replicates. The daemon decides the rounds of each
block (`block_rounds`, sent as the job's `blockRounds`); the driver only follows them."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from . import stats
from .execution_request import CompareRequest
from .measurement import MalformedSamples, Samples, checked_samples, measurement_of
from .sandbox import ContainerOutcome
from .verdict import Fault, build_result, events_of


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
        "blockRounds": block_rounds(request),
        "warmup": measure.warmup,
        "budgetMs": budget_ms,
        "env": dict(language.env),
    }


def block_rounds(request: CompareRequest) -> list[int]:
    """The rounds of each block of this request (one process of every solution per block)."""
    return split_runs(request.measure.runs, request.language.compare_processes)


def split_runs(runs: int, processes: int) -> list[int]:
    """`runs` shared out over `processes` blocks (the first `runs % blocks` get one more), fewer blocks
    when the runs would leave one fewer rounds than the statistics use (its processes would cost a
    validation and a warm-up each for nothing); at least one block."""
    blocks = max(1, min(processes, runs // stats.COMPARE_MIN_BLOCK_ROUNDS))
    return [runs // blocks + (block < runs % blocks) for block in range(blocks)]


def entrant_outcomes(outcome: ContainerOutcome, count: int, blocks: int) -> list[list[ContainerOutcome]] | Fault:
    """Per solution, one outcome per process it had (at most `blocks`), from the compare frame; a
    container that reported nothing gives each solution the container's own end (timeout, output
    limit, ...)."""
    frame = outcome.frame
    if frame is None:
        return [[outcome]] * count
    if "internalError" in frame:
        return Fault("execution.supervisor", "the sandbox supervisor failed: " + str(frame["internalError"])[:300])
    frames = frame.get("solutions")
    if (
        not isinstance(frames, list)
        or len(frames) != count
        or not all(isinstance(f, list) and 1 <= len(f) <= blocks for f in frames)
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


LEFT_OUT_BECAUSE = {
    "oom": "the out-of-memory killer killed a stopped process of it or of {rival} during the other's turn"
    " (the container's memory is shared: whose memory it was, cannot be told)",
    "ran": "{rival} ran during its turn, while {rival} was to be stopped ({rival} is not measured)",
}


def left_out_because(outcome: ContainerOutcome) -> str | None:
    """Why the driver left this process's block out (its `voidWith`: the rival and the cause), or None:
    the OOM killer killed a stopped process of one of the two during the other's turn, or the rival
    ran during this process's turn (supervisor `take_turn`)."""
    frame = outcome.frame
    void = frame.get("voidWith") if isinstance(frame, dict) else None
    if (
        not isinstance(void, dict)
        or void.get("cause") not in LEFT_OUT_BECAUSE
        or not isinstance(void.get("rival"), str)
    ):
        return None
    return LEFT_OUT_BECAUSE[void["cause"]].format(rival=void["rival"])


def ran_in_turn_of(outcome: ContainerOutcome) -> str | None:
    """The rival in whose turn a process of this solution ran while it was to be stopped (a SIGCONT of
    its own): the driver disqualified it."""
    frame = outcome.frame
    rival = frame.get("ranInTurnOf") if isinstance(frame, dict) else None
    return rival if isinstance(rival, str) else None


def unmeasured(result: dict[str, Any], status: str, message: str) -> dict[str, Any]:
    result.update(passed=False, status=status, message=message)
    result.update(measurement=None, meanExecutionTime=None, standardDeviation=None)
    return result


def solution_result(
    request: CompareRequest,
    outcomes: list[ContainerOutcome],
    rounds: list[int],
    image: str,
    queue_ms: float,
    budget_ms: int,
    core: int | None,
) -> tuple[dict[str, Any], list[list[float]] | None] | Fault:
    """One solution's `/run`-shaped result over its processes (`rounds`: each block's), and its samples
    per process (None when not measured; an empty list for a process that timed nothing, so that block
    i stays block i). A failure in any process is the solution's failure, and so is running while it
    was to be stopped; a block the driver left out (`left_out_because`) is left out here."""
    results: dict[int, dict[str, Any]] = {}
    whys: list[str] = []
    for block, outcome in enumerate(outcomes):
        result = build_result(
            outcome,
            language=request.language.name,
            image=image,
            queue_ms=queue_ms,
            runs_requested=rounds[block],
            budget_ms=budget_ms,
            include_samples=True,
            lane_core=core,
            shared_container=True,
        )
        if isinstance(result, Fault):
            return result
        last = result
        if rival := ran_in_turn_of(outcome):
            message = (
                f"a process of it ran during {rival}'s turn, while it was to be stopped (it continued itself,"
                " or did not stop): its times could take from the rival's; not measured"
            )
            return unmeasured(result, "runtime_error", message), None
        if why := left_out_because(outcome):
            whys += [why] if why not in whys else []
            continue
        if not result["passed"]:
            return result, None
        results[block] = result
    why = "; ".join(whys)
    if not results:
        return unmeasured(last, "runtime_error", f"every block of it was left out: {why}; not measured"), None
    first = next(iter(results.values()))
    if first["measurement"] is None:
        return first, None
    measured = [(outcomes[block].frame, r) for block, r in results.items() if r["measurement"] is not None]
    per_process = [
        results[block]["measurement"]["samplesMs"] if block in results and results[block]["measurement"] else []
        for block in range(len(outcomes))
    ]
    try:
        first["measurement"] = merged_measurement(
            [f for f, _ in measured], [r for _, r in measured], request.measure.runs, budget_ms, core
        )
    except MalformedSamples as exc:
        return unmeasured(first, "runtime_error", f"the measurement report is not valid: {exc}"), None
    if whys:
        left_out = len(outcomes) - len(results)
        first["measurement"]["notes"].append(f"{left_out} of its {len(outcomes)} blocks were left out: {why}")
    first["meanExecutionTime"] = first["measurement"]["meanMs"]
    first["standardDeviation"] = first["measurement"]["stddevMs"]
    return first, per_process


async def compare_result(
    request: CompareRequest, outcome: ContainerOutcome, image: str, queue_ms: float, budget_ms: int, core: int | None
) -> dict[str, Any] | Fault:
    rounds = block_rounds(request)
    outcomes = entrant_outcomes(outcome, len(request.entrants), len(rounds))
    if isinstance(outcomes, Fault):
        return outcomes
    solutions, blocks = [], {}
    for entrant, entrant_outcomes_ in zip(request.entrants, outcomes):
        built = solution_result(request, entrant_outcomes_, rounds, image, queue_ms, budget_ms, core)
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
