"""The jobs API on real containers (Python's image) and a real SQLite file: submit and poll, live
events, batches, cancellation, idempotency, signed webhooks and refused hosts, tenancy, fairness,
a full database, and SIGKILL with queued jobs followed by a restart."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import subprocess
import time

import aiohttp
import pytest
from aiohttp import web
from conftest import INSTANCE, leftover_containers, make_settings
from daemon import serving

from phronosd.app import create_app
from phronosd.server import runner_options

pytestmark = pytest.mark.docker

SOLUTION = "def add(a, b):\n    return a + b\n"
PASSING = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"
FAILING = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 4\n"
SLEEPING = "import time\n\ndef test_sleep():\n    time.sleep(30)\n"


def validate_job(tests: str = PASSING, **extra) -> dict:
    return {"kind": "validate", "request": {"language": "python", "solution": SOLUTION, "tests": tests}, **extra}


@pytest.fixture
def settings_overrides(tmp_path):
    return {"database": str(tmp_path / "jobs.sqlite3"), "webhook_allow": "127.0.0.1/32", "webhook_retry_s": 2}


@pytest.fixture(autouse=True)
def python_image(require_image):
    require_image("python")


async def wait_for(
    client, job_id: str, statuses=("succeeded", "failed", "cancelled"), timeout_s: float = 120.0, headers=None
) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = await (await client.get(f"/api/jobs/{job_id}", headers=headers)).json()
        if job["status"] in statuses:
            return job
        await asyncio.sleep(0.1)
    pytest.fail(f"job {job_id} did not reach {statuses}: {job}")


async def submit(client, body: dict, expect: int = 202, headers=None) -> dict:
    response = await client.post("/api/jobs", json=body, headers=headers)
    data = await response.json()
    assert response.status == expect, data
    return data


async def test_submit_poll_and_result(client):
    response = await client.post("/api/jobs", json=validate_job())
    job = await response.json()
    assert response.status == 202 and job["status"] == "queued", job
    assert response.headers["Location"] == f"/api/jobs/{job['id']}"
    done = await wait_for(client, job["id"])
    assert done["status"] == "succeeded" and done["result"]["status"] == "passed", done
    assert done["worker"] and done["startedAt"] and done["finishedAt"] and done["attempts"] == 1
    failing = await wait_for(client, (await submit(client, validate_job(FAILING)))["id"])
    assert failing["status"] == "succeeded" and failing["result"]["status"] == "failed", (
        "a failed test is still a result"
    )
    listed = await (await client.get("/api/jobs", params={"status": "succeeded", "limit": "10"})).json()
    assert {j["id"] for j in listed["jobs"]} == {job["id"], failing["id"]}
    assert all(j["result"] is None for j in listed["jobs"]), "lists leave results out"


async def test_events_stream_progress_then_result_and_resume(client):
    body = {"kind": "run", "request": {"language": "python", "solution": SOLUTION, "tests": PASSING, "runs": 200}}
    job = await submit(client, body)
    events = []
    async with client.get(f"/api/jobs/{job['id']}/events") as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        async for raw in response.content:
            line = raw.decode().strip()
            if line.startswith("id:"):
                events.append({"id": int(line[3:])})
            elif line.startswith("event:"):
                events[-1]["event"] = line[6:].strip()
            elif line.startswith("data:"):
                events[-1]["data"] = json.loads(line[5:])
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "result" and events[-1]["data"]["status"] == "succeeded", kinds
    assert {"status": "running"} in [e["data"] for e in events if e["event"] == "status"]
    progress = [e["data"] for e in events if e["event"] == "progress" and e["data"].get("phase") == "measure"]
    done = [p["runsDone"] for p in progress if p.get("runsDone")]
    assert len(done) >= 10 and done[-1] == 200, progress
    # Resuming after the third event replays only what came after it.
    async with client.get(f"/api/jobs/{job['id']}/events", headers={"Last-Event-ID": str(events[2]["id"])}) as again:
        text = await again.text()
    assert f"id: {events[2]['id']}\n" not in text and f"id: {events[3]['id']}\n" in text


async def test_batch_is_all_or_nothing(client):
    bad = {
        "jobs": [validate_job(), {"kind": "validate", "request": {"language": "cobol", "solution": "", "tests": ""}}]
    }
    response = await client.post("/api/jobs/batch", json=bad)
    error = await response.json()
    assert response.status == 400 and error["error"]["code"] == "request.language", error
    assert (await (await client.get("/api/jobs")).json())["jobs"] == [], "nothing of a refused batch is stored"
    schema_error = await client.post(
        "/api/jobs/batch", json={"jobs": [validate_job(), {"kind": "validate", "request": {}}]}
    )
    details = (await schema_error.json())["error"]["details"]
    assert schema_error.status == 400 and details[0]["path"].startswith("$.jobs[1].request"), details
    response = await client.post(
        "/api/jobs/batch", json={"jobs": [validate_job(), validate_job(FAILING), validate_job()]}
    )
    ids = (await response.json())["ids"]
    assert response.status == 202 and len(ids) == 3
    results = [await wait_for(client, job_id) for job_id in ids]
    assert [r["result"]["status"] for r in results] == ["passed", "failed", "passed"]


async def test_cancel_queued_and_running_jobs(client):
    running = await submit(client, validate_job(SLEEPING))
    await wait_for(client, running["id"], statuses=("running",))
    await asyncio.sleep(1.0)  # the container is up
    response = await client.delete(f"/api/jobs/{running['id']}")
    cancelled = await response.json()
    assert response.status == 200 and cancelled["status"] == "cancelled", cancelled
    assert leftover_containers() == [], "the running job's container is removed at once"
    again = await (await client.get(f"/api/jobs/{running['id']}")).json()
    assert again["status"] == "cancelled" and again["result"] is None


async def test_idempotency_key_gives_back_the_first_job(client):
    first = await submit(client, validate_job(idempotencyKey="attempt-1"))
    second = await submit(client, validate_job(idempotencyKey="attempt-1"), expect=200)
    assert second["id"] == first["id"]
    other = await submit(client, validate_job(idempotencyKey="attempt-2"))
    assert other["id"] != first["id"]
    await wait_for(client, first["id"])
    await wait_for(client, other["id"])


@pytest.mark.parametrize("path", ["/api/jobs/nope", "/api/jobs/" + "0" * 32, "/api/jobs/%00", "/api/jobs/x/events"])
async def test_unknown_and_malformed_ids_are_404(client, path):
    for method in ("GET", "DELETE") if not path.endswith("events") else ("GET",):
        response = await client.request(method, path)
        assert response.status == 404, await response.text()
        assert (await response.json())["error"]["code"] in ("jobs.not_found", "route.not_found")


@pytest.mark.parametrize(
    "body, path",
    [
        ({"kind": "sleep", "request": {}}, "$.kind"),
        ({"kind": "validate", "request": {"language": "python"}}, "$.request"),
        ({"kind": "run", "request": {"language": "python", "solution": "", "tests": "", "runs": 0}}, "$.request.runs"),
        ({"kind": "validate"}, "$"),
        (validate_job(webhook={"url": "http://169.254.169.254/latest/meta-data", "secret": "s"}), "$.webhook.url"),
        (validate_job(webhook={"url": "http://metadata.google.internal/", "secret": "s"}), "$.webhook.url"),
        (validate_job(webhook={"url": "file:///etc/passwd", "secret": "s"}), "$.webhook.url"),
    ],
)
async def test_bad_submissions_are_400_naming_the_path(client, body, path):
    response = await client.post("/api/jobs", json=body)
    error = await response.json()
    assert response.status == 400, error
    assert error["error"]["details"][0]["path"] == path, error


async def test_webhook_is_signed_and_a_hanging_one_holds_nothing_up(client, aiohttp_server):
    received: list[tuple[bytes, str]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.read(), request.headers["X-Phronosd-Signature"]))
        return web.Response(status=204)

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(60)
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/hang", hang)
    server = await aiohttp_server(app, host="127.0.0.1")
    url = f"http://127.0.0.1:{server.port}"
    hanging = await submit(client, validate_job(webhook={"url": f"{url}/hang", "secret": "s"}))
    job = await submit(client, validate_job(webhook={"url": f"{url}/hook", "secret": "top-secret"}))
    started = time.monotonic()
    await wait_for(client, hanging["id"])
    done = await wait_for(client, job["id"])
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.1)
    assert time.monotonic() - started < 60, "a hanging webhook held up another job"
    body, sent = received[0]
    assert sent == "sha256=" + hmac.new(b"top-secret", body, hashlib.sha256).hexdigest()
    payload = json.loads(body)
    assert payload["id"] == job["id"] and payload["status"] == "succeeded" and payload["result"]["passed"]
    delivered = await (await client.get(f"/api/jobs/{job['id']}")).json()
    assert delivered["webhook"]["state"] == "delivered" and "secret" not in json.dumps(delivered)
    assert done["status"] == "succeeded"


@pytest.fixture
def tokens(settings_overrides):
    settings_overrides["auth_tokens"] = "token-a,token-b"
    return {"a": {"Authorization": "Bearer token-a"}, "b": {"Authorization": "Bearer token-b"}}


async def test_a_job_belongs_to_its_token(tokens, client):
    job = await submit(client, validate_job(), headers=tokens["a"])
    assert (await client.get(f"/api/jobs/{job['id']}", headers=tokens["b"])).status == 404
    assert (await client.delete(f"/api/jobs/{job['id']}", headers=tokens["b"])).status == 404
    assert (await (await client.get("/api/jobs", headers=tokens["b"])).json())["jobs"] == []
    assert (await (await client.get("/api/jobs", headers=tokens["a"])).json())["jobs"][0]["id"] == job["id"]
    assert (await client.get(f"/api/jobs/{job['id']}/events", headers=tokens["b"])).status == 404
    await wait_for(client, job["id"], headers=tokens["a"])


@pytest.fixture
def one_slot(settings_overrides):
    settings_overrides["concurrency"] = 1


async def test_a_big_batch_does_not_starve_another_caller(tokens, one_slot, client):
    batch = {"jobs": [validate_job() for _ in range(8)]}
    ids = (await (await client.post("/api/jobs/batch", json=batch, headers=tokens["a"])).json())["ids"]
    await asyncio.sleep(0.5)
    single = await submit(client, validate_job(), headers=tokens["b"])
    mine = await wait_for(client, single["id"], headers=tokens["b"])
    batch_done = [await wait_for(client, job_id, headers=tokens["a"]) for job_id in ids]
    finished_after = sum(job["finishedAt"] > mine["finishedAt"] for job in batch_done)
    assert finished_after >= 5, f"caller b's job waited for caller a's batch: {mine['finishedAt']} {batch_done}"


async def test_a_full_database_is_503_and_nothing_half_written(client_factory, tmp_path):
    """A tiny tmpfs holds the database; once it is full, submissions are refused cleanly."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    try:
        client = await client_factory(database=str(mount / "jobs.sqlite3"), concurrency=1)
        big = validate_job(tests=PASSING + "#" + "x" * 60_000)
        statuses = []
        for _ in range(12):
            response = await client.post("/api/jobs", json=big)
            statuses.append(response.status)
            if response.status == 503:
                error = await response.json()
                assert error["error"]["code"] == "jobs.storage", error
                break
        assert statuses[-1] == 503, statuses
        listed = await (await client.get("/api/jobs", params={"limit": "1000"})).json()
        assert len(listed["jobs"]) == statuses.count(202), "a refused job was stored anyway"
        await client.close()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
async def client_factory(aiohttp_server, aiohttp_client, docker_ready):
    """Clients of apps with settings of the test's choosing (closed by the test or at the end)."""

    async def make(**overrides):
        settings = make_settings(**overrides)
        server = await aiohttp_server(create_app(settings), **runner_options(settings))
        return await aiohttp_client(server)

    yield make


async def job_of(session: aiohttp.ClientSession, job_id: str, until=("succeeded", "failed", "cancelled")) -> dict:
    for _ in range(1200):
        job = await (await session.get(f"/api/jobs/{job_id}")).json()
        if job["status"] in until:
            return job
        await asyncio.sleep(0.1)
    pytest.fail(f"job {job_id} did not reach {until}: {job}")


async def test_sigkill_with_queued_jobs_then_restart(tmp_path, docker_ready):
    """A daemon killed with jobs queued and running: after a restart on the same database every job
    finishes, and the results from before the kill are kept."""
    instance = f"{INSTANCE}-jobs-restart"
    args = (
        "--instance-name",
        instance,
        "--database",
        str(tmp_path / "jobs.sqlite3"),
        "--concurrency",
        "1",
        "--warm-pool",
        "0",
    )
    daemon, url = await serving(*args, log=tmp_path / "first.log")
    async with aiohttp.ClientSession(url) as session:
        finished = (await (await session.post("/api/jobs", json=validate_job())).json())["id"]
        await job_of(session, finished)
        pending = [
            (await (await session.post("/api/jobs", json=validate_job(tests))).json())["id"]
            for tests in (SLEEPING.replace("30", "3"), PASSING, FAILING)
        ]
        await job_of(session, pending[0], until=("running",))
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(30)
    daemon, url = await serving(*args, log=tmp_path / "second.log")
    try:
        async with aiohttp.ClientSession(url) as session:
            kept = await (await session.get(f"/api/jobs/{finished}")).json()
            assert kept["status"] == "succeeded" and kept["result"]["passed"], kept
            after = [await job_of(session, job_id) for job_id in pending]
        assert [job["result"]["status"] for job in after] == ["passed", "passed", "failed"], after
        assert after[0]["attempts"] == 2, "the job running at the kill ran again"
    finally:
        assert daemon.stop() == 0, daemon.log()
    assert leftover_containers(instance) == []
