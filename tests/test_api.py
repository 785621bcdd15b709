"""What careless and hostile clients send: each gets the one error shape, and nothing is left behind."""

from __future__ import annotations

import asyncio
import json

import pytest

from conftest import leftover_containers
from helpers import post
from phronosd.keys import DOCKER

GOOD = {
    "language": "python",
    "solution": "def add(a, b):\n    return a + b\n",
    "tests": "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}
SLOW_TESTS = "import time\n\ndef test_sleep():\n    time.sleep(3)\n"


def assert_error(data: dict, code: str) -> None:
    assert set(data) == {"error", "requestId"}
    assert data["error"]["code"] == code, data
    assert isinstance(data["error"]["message"], str) and data["error"]["message"]
    assert isinstance(data["error"]["details"], list)


def paths(data: dict) -> list[str]:
    return [d["path"] for d in data["error"]["details"]]


async def test_health_reports_docker_languages_and_slots(client):
    response = await client.get("/health")
    data = await response.json()
    assert response.status == 200
    assert data["status"] == "ok"
    assert data["docker"]["reachable"] is True and data["docker"]["serverVersion"]
    assert data["languages"]["python"]["ready"] is True
    executions = data["executions"]
    assert (executions["running"], executions["queued"], executions["capacity"], executions["maxQueued"]) == (0, 0, 5, 50)
    assert executions["measuring"]["busy"] == 0 and executions["measuring"]["waiting"] == 0
    assert data["uptime"] >= 0 and data["timestamp"].endswith("+00:00")


async def test_languages_lists_conventions(client):
    response = await client.get("/api/languages")
    data = await response.json()
    python = next(lang for lang in data["languages"] if lang["name"] == "python")
    assert python["solutionFile"] == "solution.py" and python["testFile"] == "test_solution.py"
    assert "py" in python["aliases"] and python["defaultWarmup"] == 5
    assert python["framework"].startswith("pytest") and python["ready"] is True


@pytest.mark.parametrize(
    "change, path",
    [
        ({"language": 3}, "$.language"),
        ({"solution": None}, "$.solution"),
        ({"tests": ["x"]}, "$.tests"),
        ({"timeoutMs": "1000"}, "$.timeoutMs"),
        ({"timeoutMs": 1.5}, "$.timeoutMs"),
        ({"timeoutMs": 10}, "$.timeoutMs"),
        ({"memoryMb": 1}, "$.memoryMb"),
        ({"files": {"name": "a"}}, "$.files"),
        ({"files": [{"name": "a.py"}]}, "$.files[0]"),
        ({"files": [{"name": "a.py", "content": "", "mode": 7}]}, "$.files[0]"),
        ({"files": [{"name": "x" * 300, "content": ""}]}, "$.files[0].name"),
        ({"solutionFile": ""}, "$.solutionFile"),
        ({"language": "x" * 40}, "$.language"),
        ({"unknown": 1}, "$"),
    ],
)
async def test_schema_violations_name_the_field(client, change, path):
    data = await post(client, "/api/execute/validate", {**GOOD, **change}, expect=400)
    assert_error(data, "request.schema")
    assert path in paths(data)
    assert "def add" not in json.dumps(data)


@pytest.mark.parametrize("missing", ["language", "solution", "tests"])
async def test_missing_fields(client, missing):
    body = {k: v for k, v in GOOD.items() if k != missing}
    data = await post(client, "/api/execute/validate", body, expect=400)
    assert_error(data, "request.schema")
    assert missing in data["error"]["message"]


@pytest.mark.parametrize(
    "change",
    [{"runs": 0}, {"runs": "5"}, {"warmup": -1}, {"includeSamples": "yes"}],
)
async def test_run_schema(client, change):
    data = await post(client, "/api/execute/run", {**GOOD, **change}, expect=400)
    assert_error(data, "request.schema")


async def test_run_fields_are_unknown_to_validate(client):
    data = await post(client, "/api/execute/validate", {**GOOD, "runs": 5}, expect=400)
    assert_error(data, "request.schema")


@pytest.mark.parametrize(
    "change, field",
    [({"timeoutMs": 120001}, "timeoutMs"), ({"memoryMb": 4096}, "memoryMb")],
)
async def test_limits_above_the_configured_maximum(client, change, field):
    data = await post(client, "/api/execute/validate", {**GOOD, **change}, expect=400)
    assert_error(data, "request.limit")
    assert paths(data) == [f"$.{field}"]


async def test_runs_above_the_maximum(client):
    data = await post(client, "/api/execute/run", {**GOOD, "runs": 1001}, expect=400)
    assert_error(data, "request.limit")


async def test_unknown_language(client):
    data = await post(client, "/api/execute/validate", {**GOOD, "language": "cobol"}, expect=400)
    assert_error(data, "request.language")
    assert "python" in data["error"]["message"]


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "../x.py", "a/../../x.py", "a\\b.py", ".", "a//b/./c.py", "x\x00.py", "-", "a/" * 10 + "x"],
)
async def test_bad_file_names(client, name):
    body = {**GOOD, "files": [{"name": name, "content": "x"}]}
    data = await post(client, "/api/execute/validate", body, expect=400)
    assert_error(data, "request.file_name")


@pytest.mark.parametrize(
    "files",
    [
        [{"name": "solution.py", "content": "x"}],
        [{"name": "a.py", "content": "x"}, {"name": "a.py", "content": "y"}],
        [{"name": "a", "content": "x"}, {"name": "a/b.py", "content": "y"}],
    ],
    ids=["collides-with-solution", "duplicate", "file-and-directory"],
)
async def test_colliding_file_names(client, files):
    data = await post(client, "/api/execute/validate", {**GOOD, "files": files}, expect=400)
    assert_error(data, "request.file_collision")


async def test_same_solution_and_test_file(client):
    body = {**GOOD, "solutionFile": "x.py", "testFile": "x.py"}
    data = await post(client, "/api/execute/validate", body, expect=400)
    assert_error(data, "request.file_collision")


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"{not json", "request.invalid_json"),
        (b"\xff\xfe{}", "request.invalid_json"),
        (b"[" * 100000 + b"]" * 100000, "request.invalid_json"),
        (b'{"language": "python", "solution": "\\ud800", "tests": ""}', "request.invalid_text"),
        (b"[]", "request.schema"),
        (b"null", "request.schema"),
    ],
    ids=["malformed", "not-utf8", "deeply-nested", "lone-surrogate", "array", "null"],
)
async def test_malformed_bodies(client, raw, code):
    response = await client.post("/api/execute/validate", data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert_error(await response.json(), code)


async def test_nul_bytes_in_strings_are_accepted_as_text(client):
    body = {**GOOD, "solution": GOOD["solution"] + "# \x00\n"}
    data = await post(client, "/api/execute/validate", body)
    assert data["status"] in ("passed", "compile_error")


async def test_wrong_content_type(client):
    response = await client.post("/api/execute/validate", data=json.dumps(GOOD), headers={"Content-Type": "text/plain"})
    assert response.status == 415
    assert_error(await response.json(), "request.content_type")


async def test_body_over_the_limit(client):
    body = json.dumps({**GOOD, "solution": "#" * (3 * 1024 * 1024)})
    response = await client.post("/api/execute/validate", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert_error(await response.json(), "request.too_large")


async def test_unknown_route_and_method(client):
    response = await client.get("/api/nothing")
    assert response.status == 404
    assert_error(await response.json(), "route.not_found")
    response = await client.get("/api/execute/validate")
    assert response.status == 405
    assert_error(await response.json(), "route.method_not_allowed")
    assert response.headers["X-Request-ID"]


async def test_request_id_is_echoed_when_sane(client):
    response = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    response = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["X-Request-ID"] != "bad id\twith spaces"


@pytest.mark.parametrize("settings_overrides", [{"concurrency": 1, "max_queued": 0}])
async def test_full_queue_is_429_with_retry_after(client):
    slow = {**GOOD, "tests": SLOW_TESTS}
    first = asyncio.ensure_future(client.post("/api/execute/validate", json=slow))
    for _ in range(100):
        health = await (await client.get("/health")).json()
        if health["executions"]["running"] == 1:
            break
        await asyncio.sleep(0.05)
    response = await client.post("/api/execute/validate", json=GOOD)
    assert response.status == 429
    assert response.headers["Retry-After"]
    assert_error(await response.json(), "execution.queue_full")
    assert (await first).status == 200


@pytest.mark.parametrize("settings_overrides", [{"image_prefix": "phronosd-missing-"}])
async def test_missing_image_is_503_naming_the_build_command(client):
    data = await post(client, "/api/execute/validate", GOOD, expect=503)
    assert_error(data, "image.missing")
    assert "phronosd images build python" in data["error"]["message"]


async def test_docker_unreachable_is_503(client, monkeypatch):
    """A real fault: the daemon's docker CLI points at an engine that is not there."""
    monkeypatch.setitem(client.app[DOCKER].env, "DOCKER_HOST", "unix:///nonexistent/docker.sock")
    data = await post(client, "/api/execute/validate", GOOD, expect=503)
    assert_error(data, "docker.unavailable")
    response = await client.get("/health")
    assert response.status == 503
    assert (await response.json())["status"] == "unavailable"


async def test_nothing_is_left_after_bad_requests(client):
    for body in ({}, {**GOOD, "language": "cobol"}, {**GOOD, "files": [{"name": "../x", "content": ""}]}):
        response = await client.post("/api/execute/validate", json=body)
        assert response.status == 400
    assert leftover_containers() == []


@pytest.mark.parametrize("settings_overrides", [{"auth_tokens": "s3cret-one,s3cret-two"}])
async def test_bearer_tokens_guard_everything_but_health(client):
    assert (await client.get("/health")).status == 200
    for headers, code in (({}, "auth.required"), ({"Authorization": "Bearer nope"}, "auth.invalid"),
                          ({"Authorization": "Basic s3cret-one"}, "auth.required")):
        response = await client.post("/api/execute/validate", json=GOOD, headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert_error(await response.json(), code)
    response = await client.get("/api/languages", headers={"Authorization": "Bearer s3cret-two"})
    assert response.status == 200
    response = await client.post("/api/execute/validate", json=GOOD, headers={"Authorization": "Bearer s3cret-one"})
    assert response.status == 200


def test_token_file_is_read(tmp_path):
    from conftest import make_settings

    path = tmp_path / "tokens"
    path.write_text("# one per line\nalpha\n\nbeta\n")
    assert make_settings(auth_tokens_file=str(path), auth_tokens="gamma").tokens() == ("gamma", "alpha", "beta")
