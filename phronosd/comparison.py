"""`POST /api/execute/compare`: the job for the in-container driver, and its frame turned into the
answer (each solution's verdict as `/run` gives it, the paired comparison, the ranking). The
interleaving itself happens in the container (handlers/README.md: Compare jobs); the statistics are
`stats.compare_runs`."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from . import stats
from .execution_request import CompareRequest
from .sandbox import ContainerOutcome
from .verdict import Fault, build_result


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
        "budgetMs": budget_ms,
        "env": dict(language.env),
    }


def entrant_outcomes(outcome: ContainerOutcome, count: int) -> list[ContainerOutcome] | Fault:
    """One outcome per solution, from the compare frame; a container that reported nothing gives each
    solution the container's own end (timeout, output limit, ...)."""
    frame = outcome.frame
    if frame is None:
        return [outcome] * count
    if "internalError" in frame:
        return Fault("execution.supervisor", "the sandbox supervisor failed: " + str(frame["internalError"])[:300])
    frames = frame.get("solutions")
    if not isinstance(frames, list) or len(frames) != count:
        return Fault("execution.supervisor", "the sandbox supervisor's compare frame has the wrong shape")
    return [dataclasses.replace(outcome, frame=entry) for entry in frames]


async def compare_result(
    request: CompareRequest, outcome: ContainerOutcome, image: str, queue_ms: float, budget_ms: int, core: int | None
) -> dict[str, Any] | Fault:
    outcomes = entrant_outcomes(outcome, len(request.entrants))
    if isinstance(outcomes, Fault):
        return outcomes
    solutions = []
    for entrant, entrant_outcome in zip(request.entrants, outcomes):
        result = build_result(
            entrant_outcome,
            language=request.language.name,
            image=image,
            queue_ms=queue_ms,
            runs_requested=request.measure.runs,
            budget_ms=budget_ms,
            include_samples=True,
            lane_core=core,
            shared_container=True,
        )
        if isinstance(result, Fault):
            return result
        solutions.append({"name": entrant.name, **result})
    measured = [s for s in solutions if s["measurement"] is not None]
    comparison = None
    if len(measured) >= 2:
        baseline, candidates = measured[0], measured[1:]
        results = await asyncio.to_thread(
            stats.compare_runs,
            baseline["measurement"]["samplesMs"],
            {c["name"]: c["measurement"]["samplesMs"] for c in candidates},
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
