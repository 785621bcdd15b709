"""From a schema-checked body to a typed request (validate, run, compare): the edge where camelCase JSON ends. Limits above
this server's maximums are refused here; numbers the schema let through as `5.0` become ints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import BadRequest
from .languages import Language, Registry, Submission
from .settings import Settings


@dataclass(frozen=True)
class Measure:
    runs: int
    warmup: int | str  # a count, or ADAPTIVE_WARMUP: the harness warms until the times settle
    include_samples: bool


@dataclass(frozen=True)
class ExecutionRequest:
    language: Language
    submission: Submission
    timeout_ms: int
    memory_mb: int
    measure: Measure | None  # None: validate only


@dataclass(frozen=True)
class Entrant:
    """One solution of a compare request."""

    name: str
    submission: Submission


@dataclass(frozen=True)
class CompareRequest:
    language: Language
    entrants: tuple[Entrant, ...]
    timeout_ms: int
    memory_mb: int
    measure: Measure


def bounded(body: dict[str, Any], field: str, default: int, maximum: int) -> int:
    """`body[field]` as an int (JSON Schema's "integer" admits 5.0), at most `maximum`."""
    value = int(body.get(field, default))
    if value > maximum:
        raise BadRequest(
            "request.limit",
            f"{field} {value} is above this server's maximum of {maximum}",
            [{"path": f"$.{field}", "problem": f"larger than {maximum}"}],
        )
    return value


def default_memory_mb(language: Language, settings: Settings) -> int:
    """The memory of a request that names none: the language's, else the server's, capped."""
    return min(language.memory_mb or settings.memory_mb, settings.max_memory_mb)


def submission_of(body: dict[str, Any]) -> Submission:
    return Submission(
        solution=body["solution"],
        tests=body["tests"],
        solution_file=body.get("solutionFile"),
        test_file=body.get("testFile"),
        files=tuple((f["name"], f["content"]) for f in body.get("files", [])),
    )


def measure_of(body: dict[str, Any], settings: Settings, language: Language) -> Measure:
    warmup = body.get("warmup")
    return Measure(
        runs=bounded(body, "runs", settings.default_runs, settings.max_runs),
        warmup=language.default_warmup if warmup is None else int(warmup),
        include_samples=bool(body.get("includeSamples", False)),
    )


def compare_request(body: dict[str, Any], settings: Settings, registry: Registry) -> CompareRequest:
    """The typed request of `/compare`: each solution with the shared tests and files, then its own
    files; names unique; a solution's own files may not configure the test framework."""
    language = registry.get(body["language"])
    if not language.comparable:
        raise BadRequest(
            "request.language",
            f"{language.name} cannot be compared yet: its harness does not run interleaved",
            [{"path": "$.language", "problem": "compare is not available for this language"}],
        )
    names = [solution["name"] for solution in body["solutions"]]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise BadRequest(
            "request.duplicate_name",
            f"solution name {duplicates[0]!r} is used twice",
            [
                {
                    "path": f"$.solutions[{names.index(duplicates[0], names.index(duplicates[0]) + 1)}].name",
                    "problem": "a duplicate solution name",
                }
            ],
        )
    shared = tuple((f["name"], f["content"]) for f in body.get("files", []))
    entrants = []
    for index, solution in enumerate(body["solutions"]):
        own = tuple((f["name"], f["content"]) for f in solution.get("files", []))
        for name, _ in own:
            language.refuse_framework_config(name, f"$.solutions[{index}].files")
        submission = Submission(
            solution=solution["solution"],
            tests=body["tests"],
            solution_file=solution.get("solutionFile"),
            test_file=body.get("testFile"),
            files=shared + own,
        )
        entrants.append(Entrant(solution["name"], submission))
    return CompareRequest(
        language=language,
        entrants=tuple(entrants),
        timeout_ms=bounded(body, "timeoutMs", settings.default_timeout_ms, settings.max_timeout_ms),
        memory_mb=bounded(body, "memoryMb", default_memory_mb(language, settings), settings.max_memory_mb),
        measure=measure_of(body, settings, language),
    )


def execution_request(
    body: dict[str, Any], settings: Settings, registry: Registry, measuring: bool
) -> ExecutionRequest:
    """The typed request of `/validate` (`measuring=False`) or `/run`."""
    language = registry.get(body["language"])
    return ExecutionRequest(
        language=language,
        submission=submission_of(body),
        timeout_ms=bounded(body, "timeoutMs", settings.default_timeout_ms, settings.max_timeout_ms),
        memory_mb=bounded(body, "memoryMb", default_memory_mb(language, settings), settings.max_memory_mb),
        measure=measure_of(body, settings, language) if measuring else None,
    )
