"""Request helpers shared by the test modules."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from phronosd.languages import Registry

HANDLERS = Path(__file__).resolve().parent.parent / "handlers"


def example(language: str, case: str = "") -> tuple[str, str]:
    """An example suite of a language folder (`case`: a folder under its `example/`): (solution, tests)
    in the language's default file names."""
    folder = HANDLERS / language / "example" / case
    lang = Registry.discover().get(language)
    return (folder / lang.solution_file).read_text(), (folder / lang.test_file).read_text()


def example_solution(language: str, case: str) -> str:
    """The solution file of a case folder under a language's `example/` (its tests are the example's)."""
    return (HANDLERS / language / "example" / case / Registry.discover().get(language).solution_file).read_text()


async def post(client, path: str, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    """POST a JSON body; assert the status; return the JSON answer."""
    response = await client.post(path, json=body)
    data = await response.json()
    assert response.status == expect, data
    assert response.headers.get("X-Request-ID")
    return data


async def compare(client, language: str, tests: str, solutions: dict[str, str], runs: int) -> dict[str, Any]:
    """POST /api/execute/compare of named solutions to one suite; the answer, with `byName` added (each
    solution's entry by its name)."""
    body = {
        "language": language,
        "tests": tests,
        "runs": runs,
        "solutions": [{"name": name, "solution": solution} for name, solution in solutions.items()],
    }
    result = await post(client, "/api/execute/compare", body)
    return {**result, "byName": {entry["name"]: entry for entry in result["solutions"]}}


async def validate(client, language: str, solution: str, tests: str, expect: int = 200, **extra: Any) -> dict[str, Any]:
    body = {"language": language, "solution": solution, "tests": tests, **extra}
    return await post(client, "/api/execute/validate", body, expect)


async def run(client, language: str, solution: str, tests: str, expect: int = 200, **extra: Any) -> dict[str, Any]:
    body = {"language": language, "solution": solution, "tests": tests, **extra}
    return await post(client, "/api/execute/run", body, expect)


def statuses(result: dict[str, Any]) -> dict[str, str]:
    """Test name -> status of a result."""
    return {t["name"]: t["status"] for t in result["tests"]}


async def pool_ready(client, language: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Wait until the app's warm pool has a ready container of `language`; return its counts."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = (await (await client.get("/health")).json())["pool"]["languages"][language]
        if counts["ready"] >= 1:
            return counts
        if time.monotonic() > deadline:
            pytest.fail(f"no ready {language} container in the pool after {timeout_s} s: {counts}")
        await asyncio.sleep(0.1)


async def read_job_events(client, job_id: str) -> list[dict[str, Any]]:
    """A job's event stream, read to its end: [{"event": name, "data": object}]."""
    events: list[dict[str, Any]] = []
    async with client.get(f"/api/jobs/{job_id}/events") as stream:
        async for raw in stream.content:
            line = raw.decode().strip()
            if line.startswith("event:"):
                events.append({"event": line[6:].strip()})
            elif line.startswith("data:") and events:
                events[-1]["data"] = json.loads(line[5:])
    return events


async def job_events(client, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Submit a job and read its event stream to the end."""
    response = await client.post("/api/jobs", json=body)
    job = await response.json()
    assert response.status == 202, job
    return await read_job_events(client, job["id"])
