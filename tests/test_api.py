"""What careless and hostile clients send: each gets the one error shape, and nothing is left behind.

Tests of the API edge need no engine: checks answered before any container would run use `api`, a
session to one daemon on the fake docker CLI shared by the test session; those that need settings of
their own or look at what reached the engine use `fake_client` (the real app on the fake CLI). Those
whose subject is the engine (health, code that runs, an unreachable engine) use `client`.
"""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest
from helpers import post

from phronosd.keys import DOCKER, EXECUTOR

GOOD = {
    "language": "python",
    "solution": "def add(a, b):\n    return a + b\n",
    "tests": "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}
SLOW_TESTS = "# fake-docker: sleep=1\ndef test_sleep():\n    pass\n"
ORIGIN = "https://front.example"


@pytest.fixture
async def api(shared_daemon_url):
    async with aiohttp.ClientSession(shared_daemon_url) as session:
        yield session


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
    assert (executions["running"], executions["queued"], executions["capacity"], executions["maxQueued"]) == (
        0,
        0,
        5,
        50,
    )
    assert executions["measuring"]["busy"] == 0 and executions["measuring"]["waiting"] == 0
    assert data["uptime"] >= 0 and data["timestamp"].endswith("+00:00")


async def test_languages_lists_conventions(api):
    response = await api.get("/api/languages")
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
async def test_schema_violations_name_the_field(api, change, path):
    data = await post(api, "/api/execute/validate", {**GOOD, **change}, expect=400)
    assert_error(data, "request.schema")
    assert path in paths(data)
    assert "def add" not in json.dumps(data)


@pytest.mark.parametrize("missing", ["language", "solution", "tests"])
async def test_missing_fields(api, missing):
    body = {k: v for k, v in GOOD.items() if k != missing}
    data = await post(api, "/api/execute/validate", body, expect=400)
    assert_error(data, "request.schema")
    assert missing in data["error"]["message"]


@pytest.mark.parametrize(
    "change",
    [{"runs": 0}, {"runs": "5"}, {"warmup": -1}, {"includeSamples": "yes"}],
)
async def test_run_schema(api, change):
    data = await post(api, "/api/execute/run", {**GOOD, **change}, expect=400)
    assert_error(data, "request.schema")


async def test_run_fields_are_unknown_to_validate(api):
    data = await post(api, "/api/execute/validate", {**GOOD, "runs": 5}, expect=400)
    assert_error(data, "request.schema")


@pytest.mark.parametrize(
    "change, field",
    [({"timeoutMs": 120001}, "timeoutMs"), ({"memoryMb": 4096}, "memoryMb")],
)
async def test_limits_above_the_configured_maximum(api, change, field):
    data = await post(api, "/api/execute/validate", {**GOOD, **change}, expect=400)
    assert_error(data, "request.limit")
    assert paths(data) == [f"$.{field}"]


async def test_runs_above_the_maximum(api):
    data = await post(api, "/api/execute/run", {**GOOD, "runs": 1001}, expect=400)
    assert_error(data, "request.limit")


async def test_unknown_language(api):
    data = await post(api, "/api/execute/validate", {**GOOD, "language": "cobol"}, expect=400)
    assert_error(data, "request.language")
    assert "python" in data["error"]["message"]


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "../x.py", "a/../../x.py", "a\\b.py", ".", "a//b/./c.py", "x\x00.py", "-", "a/" * 10 + "x"],
)
async def test_bad_file_names(api, name):
    body = {**GOOD, "files": [{"name": name, "content": "x"}]}
    data = await post(api, "/api/execute/validate", body, expect=400)
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
async def test_colliding_file_names(api, files):
    data = await post(api, "/api/execute/validate", {**GOOD, "files": files}, expect=400)
    assert_error(data, "request.file_collision")


async def test_same_solution_and_test_file(api):
    body = {**GOOD, "solutionFile": "x.py", "testFile": "x.py"}
    data = await post(api, "/api/execute/validate", body, expect=400)
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
async def test_malformed_bodies(api, raw, code):
    response = await api.post("/api/execute/validate", data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert_error(await response.json(), code)


async def test_nul_bytes_in_strings_are_accepted_as_text(client):
    body = {**GOOD, "solution": GOOD["solution"] + "# \x00\n"}
    data = await post(client, "/api/execute/validate", body)
    assert data["status"] in ("passed", "compile_error")


async def test_wrong_content_type(api):
    response = await api.post("/api/execute/validate", data=json.dumps(GOOD), headers={"Content-Type": "text/plain"})
    assert response.status == 415
    assert_error(await response.json(), "request.content_type")


async def test_body_over_the_limit(api):
    body = json.dumps({**GOOD, "solution": "#" * (3 * 1024 * 1024)})
    response = await api.post("/api/execute/validate", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert_error(await response.json(), "request.too_large")


async def test_unknown_route_and_method(api):
    response = await api.get("/api/nothing")
    assert response.status == 404
    assert_error(await response.json(), "route.not_found")
    response = await api.get("/api/execute/validate")
    assert response.status == 405
    assert_error(await response.json(), "route.method_not_allowed")
    assert response.headers["X-Request-ID"]


async def test_request_id_is_echoed_when_sane(api):
    response = await api.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    response = await api.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["X-Request-ID"] != "bad id\twith spaces"


@pytest.mark.parametrize("settings_overrides", [{"concurrency": 1, "max_queued": 0}])
async def test_full_queue_is_429_with_retry_after(fake_client):
    slow = {**GOOD, "tests": SLOW_TESTS}
    first = asyncio.ensure_future(fake_client.post("/api/execute/validate", json=slow))
    executor = fake_client.app[EXECUTOR]
    for _ in range(200):
        if executor.running == 1:
            break
        await asyncio.sleep(0.01)
    response = await fake_client.post("/api/execute/validate", json=GOOD)
    assert response.status == 429
    assert response.headers["Retry-After"]
    assert_error(await response.json(), "execution.queue_full")
    assert (await first).status == 200


@pytest.mark.parametrize("settings_overrides", [{"concurrency": 1, "max_queued": 0}])
async def test_the_answer_comes_with_the_frame_and_the_slot_waits_for_the_container(fake_client):
    """After its sealed frame a container only exits and is removed (`--rm`): the answer does not wait
    for that, but the slot (here the only one) stays taken until the container is gone."""
    lingering = {**GOOD, "tests": "# fake-docker: linger=3\n" + GOOD["tests"]}
    assert (await post(fake_client, "/api/execute/validate", lingering))["passed"]
    executions = (await (await fake_client.get("/health")).json())["executions"]
    assert executions["running"] == 1, "the container is still there, and holds its slot"
    response = await fake_client.post("/api/execute/validate", json=GOOD)
    assert response.status == 429
    assert_error(await response.json(), "execution.queue_full")
    executor = fake_client.app[EXECUTOR]
    await executor.drain_held()
    assert executor.running == 0
    assert (await post(fake_client, "/api/execute/validate", GOOD))["passed"]


@pytest.mark.parametrize("settings_overrides", [{"image_prefix": "phronosd-missing-"}])
async def test_missing_image_is_503_naming_the_build_command(fake_client):
    data = await post(fake_client, "/api/execute/validate", GOOD, expect=503)
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


async def test_bad_requests_never_start_a_container(fake_client, fake_docker):
    for body in ({}, {**GOOD, "language": "cobol"}, {**GOOD, "files": [{"name": "../x", "content": ""}]}):
        response = await fake_client.post("/api/execute/validate", json=body)
        assert response.status == 400
    assert fake_docker.calls("run") == []


@pytest.mark.parametrize("settings_overrides", [{"auth_tokens": "s3cret-one,s3cret-two"}])
async def test_bearer_tokens_guard_everything_but_health(fake_client):
    assert (await fake_client.get("/health")).status == 200
    for headers, code in (
        ({}, "auth.required"),
        ({"Authorization": "Bearer nope"}, "auth.invalid"),
        ({"Authorization": "Basic s3cret-one"}, "auth.required"),
    ):
        response = await fake_client.post("/api/execute/validate", json=GOOD, headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert_error(await response.json(), code)
    response = await fake_client.get("/api/languages", headers={"Authorization": "Bearer s3cret-two"})
    assert response.status == 200
    response = await fake_client.post(
        "/api/execute/validate", json=GOOD, headers={"Authorization": "Bearer s3cret-one"}
    )
    assert response.status == 200


def test_token_file_is_read(tmp_path):
    from conftest import make_settings

    path = tmp_path / "tokens"
    path.write_text("# one per line\nalpha\n\nbeta\n")
    assert make_settings(auth_tokens_file=str(path), auth_tokens="gamma").tokens() == ("gamma", "alpha", "beta")


# Regressions of daemon fixes -----------------------------------------------------------------------


def nested(depth: int, opening: str, closing: str) -> bytes:
    return (opening * depth + "1" + closing * depth).encode()


@pytest.mark.parametrize(
    "raw",
    [
        nested(5000, "[", "]"),
        nested(5000, '{"a":', "}"),
        b'{"language": "python", "solution": "", "tests": "", "files": ' + nested(5000, "[", "]") + b"}",
    ],
    ids=["array", "object", "inside-a-field"],
)
async def test_a_body_nested_5000_deep_is_a_400(api, raw):
    response = await api.post("/api/execute/validate", data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert_error(await response.json(), "request.invalid_json")


@pytest.mark.parametrize("where", ["top", "runs", "timeoutMs"])
async def test_a_5000_digit_integer_is_a_400(api, where):
    huge = "9" * 5000
    body = huge if where == "top" else json.dumps(GOOD)[:-1] + f', "{where}": {huge}}}'
    response = await api.post("/api/execute/run", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    data = await response.json()
    assert_error(data, "request.invalid_json")
    assert huge[:50] not in json.dumps(data)


async def test_whole_numbers_written_as_floats_are_taken_as_ints(fake_client, fake_docker):
    body = {**GOOD, "runs": 5.0, "warmup": 2.0, "timeoutMs": 5000.0, "memoryMb": 256.0}
    result = await post(fake_client, "/api/execute/run", body)
    [job] = fake_docker.jobs()
    sent = {key: job[key] for key in ("runs", "warmup", "timeoutMs")}
    assert sent == {"runs": 5, "warmup": 2, "timeoutMs": 5000}
    assert all(type(value) is int for value in sent.values())
    args = fake_docker.calls("run")[0]["args"]
    assert args[args.index("--memory") + 1] == "256m"
    assert result["measurement"]["runs"] == 5 and result["measurement"]["warmup"] == 2


@pytest.mark.parametrize("field", ["solutionFile", "testFile", "files"])
async def test_a_file_name_ending_in_a_newline_is_refused(fake_client, fake_docker, field):
    change = {"files": [{"name": "x.py\n", "content": ""}]} if field == "files" else {field: "x.py\n"}
    data = await post(fake_client, "/api/execute/validate", {**GOOD, **change}, expect=400)
    assert_error(data, "request.file_name")
    assert fake_docker.calls("run") == []


AUTHORIZED = {"Authorization": "Bearer s3cret"}
CORS_CASES = [  # (method, path, request arguments, status, error code): errors a browser must be able to read
    ("POST", "/api/execute/validate", {"json": {**GOOD, "language": 3}, "headers": AUTHORIZED}, 400, "request.schema"),
    ("GET", "/api/nothing", {"headers": AUTHORIZED}, 404, "route.not_found"),
    ("GET", "/api/execute/validate", {"headers": AUTHORIZED}, 405, "route.method_not_allowed"),
    ("POST", "/api/execute/validate", {"json": GOOD}, 401, "auth.required"),
    (
        "POST",
        "/api/execute/validate",
        {"data": "{" * 2000, "headers": {**AUTHORIZED, "Content-Type": "application/json"}},
        413,
        "request.too_large",
    ),
    (
        "POST",
        "/api/execute/validate",
        {"data": json.dumps(GOOD), "headers": {**AUTHORIZED, "Content-Type": "text/plain"}},
        415,
        "request.content_type",
    ),
]


@pytest.mark.parametrize(
    "settings_overrides", [{"cors_origins": ORIGIN, "auth_tokens": "s3cret", "max_body_bytes": 1024}]
)
@pytest.mark.parametrize("method, path, arguments, status, code", CORS_CASES, ids=[str(case[3]) for case in CORS_CASES])
async def test_error_responses_carry_cors_headers_for_an_allowed_origin(
    fake_client, method, path, arguments, status, code
):
    for origin, allowed in ((ORIGIN, True), ("https://elsewhere.example", False)):
        headers = {**arguments.get("headers", {}), "Origin": origin}
        response = await fake_client.request(method, path, **{**arguments, "headers": headers})
        assert response.status == status
        assert_error(await response.json(), code)
        if allowed:
            assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]
            assert response.headers["Vary"] == "Origin"
        else:
            assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("settings_overrides", [{"cors_origins": ORIGIN, "auth_tokens": "s3cret"}])
async def test_preflight_is_answered_for_an_allowed_origin_only(fake_client):
    asking = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type, authorization"}
    response = await fake_client.options("/api/execute/validate", headers={**asking, "Origin": ORIGIN})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "content-type" in allowed_headers and "authorization" in allowed_headers
    response = await fake_client.options(
        "/api/execute/validate", headers={**asking, "Origin": "https://elsewhere.example"}
    )
    assert response.status != 204
    assert not any(name.startswith("Access-Control-") for name in response.headers)


async def test_languages_report_the_versions_installed_in_their_images(client, require_image):
    """Versions come from the image's Debian packages (labels written by `phronosd images build`),
    not from text typed into the handlers."""
    body = await (await client.get("/api/languages")).json()
    for language in body["languages"]:
        require_image(language["name"])
        versions = language["versions"]
        assert versions and all(re.fullmatch(r"\d+(\.\d+)+", v or "") for v in versions.values()), language
        assert language["runtime"].endswith(versions["runtime"]), language
        assert language["features"].keys() == {"warmPool", "compare"}
