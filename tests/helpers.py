"""Request helpers shared by the test modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phronosd.languages import Registry

HANDLERS = Path(__file__).resolve().parent.parent / "handlers"


def example(language: str) -> tuple[str, str]:
    """The example suite of a language folder: (solution, tests) in its default file names."""
    folder = HANDLERS / language / "example"
    lang = Registry.discover().get(language)
    return (folder / lang.solution_file).read_text(), (folder / lang.test_file).read_text()


async def post(client, path: str, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    """POST a JSON body; assert the status; return the JSON answer."""
    response = await client.post(path, json=body)
    data = await response.json()
    assert response.status == expect, data
    assert response.headers.get("X-Request-ID")
    return data


async def validate(client, language: str, solution: str, tests: str, expect: int = 200, **extra: Any) -> dict[str, Any]:
    body = {"language": language, "solution": solution, "tests": tests, **extra}
    return await post(client, "/api/execute/validate", body, expect)


async def run(client, language: str, solution: str, tests: str, expect: int = 200, **extra: Any) -> dict[str, Any]:
    body = {"language": language, "solution": solution, "tests": tests, **extra}
    return await post(client, "/api/execute/run", body, expect)


def statuses(result: dict[str, Any]) -> dict[str, str]:
    """Test name -> status of a result."""
    return {t["name"]: t["status"] for t in result["tests"]}
