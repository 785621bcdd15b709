"""A cluster on Redis (setting `queue_url`): a real `redis-server` started by each test on a free port
(with its append-only file, as the README asks of production), API nodes and workers as real
`phronosd` processes, each with its own `instance_name`, and real Python containers.

Covered: jobs spread over two workers and the synchronous endpoints through an API node; a worker
SIGKILLed mid-batch (its jobs run again elsewhere once their lease expires, each job's result is
recorded once); Redis restarted mid-batch; an API node with no workers; a worker whose images are
missing; a returning worker cannot overwrite a newer attempt's result; settings and the lazy import
of the Redis client."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis
from conftest import INSTANCE, FakeDocker, docker, leftover_containers
from daemon import PHRONOSD, ROOT, Daemon, free_port, require_tool, wait_until_healthy

from phronosd.settings import SettingsError, load
from phronosd.worker import keep_going

SOLUTION = "def add(a, b):\n    return a + b\n"
PASSING = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"
FAILING = "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 4\n"
LEASE_S = "3"
FINISHED = ("succeeded", "failed", "cancelled")


def sleeping_tests(seconds: float) -> str:
    return f"import time\nfrom solution import add\n\ndef test_add():\n    time.sleep({seconds})\n    assert add(1, 2) == 3\n"


def validate_job(tests: str = PASSING) -> dict:
    return {"kind": "validate", "request": {"language": "python", "solution": SOLUTION, "tests": tests}}


class RedisServer:
    """`redis-server` on a free port with an append-only file in `folder` (restartable with its data)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [require_tool("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)]
        self.proc = subprocess.Popen(command, stdout=open(self.folder / "log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port).ping():
                    return
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not answer: {(self.folder / 'log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


class Cluster:
    """API nodes and workers of one test, on one Redis; all stopped (and the containers of those on
    the real engine checked) at the end."""

    def __init__(self, folder: Path, server: RedisServer):
        self.folder = folder
        self.server = server
        self.daemons: list[tuple[Daemon, str, bool]] = []

    def start(
        self, name: str, *args: str, fake_docker: FakeDocker | None = None, on_engine: bool = True
    ) -> tuple[Daemon, str]:
        """A daemon of its own instance; `on_engine`: it may start containers on the real engine (an
        API node never does, nor a worker on `fake_docker`), so none may be left at the end."""
        port = free_port()
        instance = f"{INSTANCE}-{name}"
        common = ["--port", str(port), "--queue-url", self.server.url, "--instance-name", instance]
        common += ["--lease-s", LEASE_S, "--heartbeat-s", "0.5"]
        daemon = Daemon(*args, *common, log=self.folder / f"{name}.log", fake_docker=fake_docker)
        self.daemons.append((daemon, instance, on_engine and fake_docker is None))
        return daemon, f"http://127.0.0.1:{port}"

    async def worker(self, name: str, *args: str, fake_docker: FakeDocker | None = None) -> tuple[Daemon, str]:
        daemon, url = self.start(name, "worker", "--concurrency", "2", *args, fake_docker=fake_docker)
        await wait_until_healthy(url, daemon, timeout=60)
        return daemon, url

    async def api(self, name: str = "api", workers: int = 1) -> str:
        """An API node, once it sees `workers` live workers."""
        daemon, url = self.start(name, "--role", "api", on_engine=False)
        await wait_for_workers(url, daemon, workers)
        return url

    def stop(self) -> None:
        for daemon, instance, on_engine in self.daemons:
            if daemon.proc.poll() is None:
                assert daemon.stop() == 0, daemon.log()
            if not on_engine:
                continue
            killed = leftover_containers(instance)
            if daemon.proc.returncode == -signal.SIGKILL and killed:
                docker("rm", "-f", *killed)  # a SIGKILLed daemon sweeps at its next start; it has none
            else:
                assert not killed, f"containers left behind by {instance}: {killed}"


@pytest.fixture
def cluster(tmp_path, redis_server) -> Iterator[Cluster]:
    running = Cluster(tmp_path, redis_server)
    yield running
    running.stop()


async def wait_for_workers(url: str, daemon: Daemon, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert daemon.proc.poll() is None, daemon.log()
            try:
                async with session.get(url + "/api/workers") as response:
                    if response.status == 200 and len(found := (await response.json())["workers"]) >= count:
                        return found
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} live workers after {timeout} s: {daemon.log()}")


async def submit_batch(session: aiohttp.ClientSession, url: str, jobs: list[dict]) -> list[str]:
    async with session.post(url + "/api/jobs/batch", json={"jobs": jobs}) as response:
        body = await response.json()
        assert response.status == 202, body
        return body["ids"]


async def jobs_now(session: aiohttp.ClientSession, url: str, ids: list[str]) -> list[dict] | None:
    """Every job as the API node shows it; None while it answers 503 (Redis restarting)."""
    found = []
    for job_id in ids:
        async with session.get(f"{url}/api/jobs/{job_id}") as response:
            if response.status == 503:
                return None
            assert response.status == 200, await response.text()
            found.append(await response.json())
    return found


async def wait_all(session: aiohttp.ClientSession, url: str, ids: list[str], timeout: float = 240) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] | None = None
    while time.monotonic() < deadline:
        found = await jobs_now(session, url, ids)
        if found is not None and all(job["status"] in FINISHED for job in found):
            return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"jobs not finished after {timeout} s: {[job['status'] for job in found or []]}")


def result_events(server: RedisServer, job_id: str) -> int:
    """How many final results the job's event stream holds (every API node replays this stream)."""
    return sum(entry["kind"] == "result" for _, entry in server.client().xrange(f"phronosd:events:{job_id}"))


def assert_each_succeeded_once(server: RedisServer, jobs: list[dict]) -> None:
    assert [job["status"] for job in jobs] == ["succeeded"] * len(jobs), [job["error"] for job in jobs]
    assert all(job["result"]["status"] == "passed" for job in jobs), [job["result"] for job in jobs]
    assert [result_events(server, job["id"]) for job in jobs] == [1] * len(jobs), "one result per job"


@pytest.fixture
def python_image(require_image):
    require_image("python")


@pytest.mark.usefixtures("python_image")
async def test_jobs_spread_over_two_workers_and_sync_endpoints(cluster):
    await cluster.worker("w1")
    await cluster.worker("w2")
    url = await cluster.api(workers=2)
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/health") as response:
            health = await response.json()
        assert response.status == 200 and health["workers"]["alive"] == 2 and health["languages"]["python"]["ready"]
        ids = await submit_batch(session, url, [validate_job(sleeping_tests(1))] * 8)
        jobs = await wait_all(session, url, ids)
        assert_each_succeeded_once(cluster.server, jobs)
        assert {job["worker"] for job in jobs} == {f"{INSTANCE}-w1", f"{INSTANCE}-w2"}, "both workers took jobs"
        async with session.post(url + "/api/execute/validate", json=validate_job()["request"]) as response:
            passed = await response.json()
        assert response.status == 200 and passed["status"] == "passed", passed
        async with session.post(url + "/api/execute/validate", json=validate_job(FAILING)["request"]) as response:
            failed = await response.json()
        assert response.status == 200 and failed["status"] == "failed" and not failed["passed"], failed
        async with session.get(f"{url}/api/jobs/{ids[0]}/events") as response:
            stream = await response.text()
        assert stream.count("event: result") == 1 and '"status": "running"' in stream, stream


@pytest.mark.usefixtures("python_image")
async def test_sigkill_a_worker_mid_batch_every_job_still_succeeds_once(cluster):
    victim, _ = await cluster.worker("w1")
    await cluster.worker("w2")
    url = await cluster.api(workers=2)
    async with aiohttp.ClientSession() as session:
        ids = await submit_batch(session, url, [validate_job(sleeping_tests(2))] * 10)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = await jobs_now(session, url, ids) or []
            if any(job["status"] == "running" and job["worker"] == f"{INSTANCE}-w1" for job in now):
                break
            await asyncio.sleep(0.1)
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        jobs = await wait_all(session, url, ids)
    assert_each_succeeded_once(cluster.server, jobs)
    rerun = [job for job in jobs if job["attempts"] > 1]
    assert rerun, "the killed worker's jobs ran again"
    assert all(job["worker"] == f"{INSTANCE}-w2" for job in rerun), rerun


@pytest.mark.usefixtures("python_image")
async def test_redis_restarted_mid_batch(cluster):
    await cluster.worker("w1")
    await cluster.worker("w2")
    url = await cluster.api(workers=2)
    async with aiohttp.ClientSession() as session:
        ids = await submit_batch(session, url, [validate_job(sleeping_tests(1))] * 8)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            j["status"] == "running" for j in await jobs_now(session, url, ids) or []
        ):
            await asyncio.sleep(0.1)
        cluster.server.stop()
        await asyncio.sleep(2)
        async with session.get(url + "/health") as response:
            down = await response.json()
        assert response.status == 503 and not down["queue"]["reachable"], down
        cluster.server.start()
        jobs = await wait_all(session, url, ids)
    assert_each_succeeded_once(cluster.server, jobs)


@pytest.mark.usefixtures("docker_ready")
async def test_api_node_without_workers(cluster):
    daemon, url = cluster.start("api", "--role", "api")
    async with aiohttp.ClientSession() as session:
        health = await answer(session, "GET", url + "/health", daemon)
        assert health["status"] == "unavailable" and health["workers"]["alive"] == 0, health
        workers = await answer(session, "GET", url + "/api/workers", daemon)
        assert workers == {"workers": []}
        for path, body in (("/api/jobs", validate_job()), ("/api/execute/validate", validate_job()["request"])):
            async with session.post(url + path, json=body) as response:
                error = await response.json()
            assert response.status == 503 and error["error"]["code"] == "cluster.no_worker", error
            assert "python" in error["error"]["message"]
        listed = await answer(session, "GET", url + "/api/jobs", daemon)
        assert listed == {"jobs": []}, "a refused job is not stored"


@pytest.mark.usefixtures("docker_ready")
async def test_worker_whose_images_are_missing_takes_nothing(cluster):
    await cluster.worker("bare", "--image-prefix", "phronosd-missing-")
    daemon, url = cluster.start("api", "--role", "api")
    [worker] = await wait_for_workers(url, daemon, 1)
    assert worker["name"] == f"{INSTANCE}-bare" and worker["languages"] == [], worker
    async with aiohttp.ClientSession() as session:
        health = await answer(session, "GET", url + "/health", daemon)
        assert health["status"] == "unavailable" and health["workers"]["alive"] == 1, health
        async with session.post(url + "/api/jobs", json=validate_job()) as response:
            error = await response.json()
        assert response.status == 503 and error["error"]["code"] == "cluster.no_worker", error


async def test_synchronous_requests_overtake_a_batch_and_cancel_reaches_the_worker(cluster, fake_docker):
    """On a fake engine (the subject is the queue): a busy worker takes an API node's synchronous
    request before the batch queued ahead of it, and a job cancelled on the API node stops on its
    worker at once."""
    _, url = await asyncio.gather(cluster.worker("w1", fake_docker=fake_docker), cluster.api())
    async with aiohttp.ClientSession() as session:
        ids = await submit_batch(session, url, [validate_job("# fake-docker: sleep=1\n" + PASSING)] * 8)
        await asyncio.sleep(0.5)
        started = time.monotonic()
        async with session.post(url + "/api/execute/validate", json=validate_job()["request"]) as response:
            verdict = await response.json()
        waited = time.monotonic() - started
        assert response.status == 200 and verdict["status"] == "passed", verdict
        assert waited < 2.5, f"waited {waited:.1f} s: behind the batch (8 jobs of 1 s on 2 slots, 3.5 s left)"
        await wait_all(session, url, ids)
        async with session.post(
            url + "/api/jobs", json=validate_job("# fake-docker: sleep=60\n" + PASSING)
        ) as response:
            job = await response.json()
        while (await jobs_now(session, url, [job["id"]]) or [{}])[0].get("status") != "running":
            await asyncio.sleep(0.1)
        removals = len(fake_docker.calls("rm"))
        async with session.delete(f"{url}/api/jobs/{job['id']}") as response:
            assert (await response.json())["status"] == "cancelled"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(fake_docker.calls("rm")) == removals:
            await asyncio.sleep(0.1)
        assert len(fake_docker.calls("rm")) > removals, "the worker removed the job's container"
        assert result_events(cluster.server, job["id"]) == 1


async def answer(session: aiohttp.ClientSession, method: str, url: str, daemon: Daemon) -> dict:
    """The JSON answer once the daemon listens (whatever its status)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert daemon.proc.poll() is None, daemon.log()
        try:
            async with session.request(method, url) as response:
                return await response.json()
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered: {daemon.log()}")


async def test_a_returning_worker_cannot_overwrite_a_newer_result(redis_server):
    from phronosd.job_store import Job
    from phronosd.queue_redis import RedisQueue, queue_key

    queue = RedisQueue(redis_server.url, ["python"])
    try:
        await queue.ensure_groups()
        job = Job(id="a" * 32, kind="validate", owner="", client="c", status="queued", request={}, created_at=1.0)
        await queue.insert([job], [queue_key("python")])
        first = await queue.start(job.id, "w1", {"phase": "queued"})
        second = await queue.start(job.id, "w2", {"phase": "queued"})  # w1's lease expired, w2 reclaimed it
        assert (first, second) == (1, 2)
        assert not await queue.update(job.id, first, {"status": "succeeded", "result": {"by": "w1"}})
        assert await queue.update(job.id, second, {"status": "succeeded", "result": {"by": "w2"}})
        assert not await queue.update(job.id, second, {"status": "failed"}), "a finished job never changes"
        assert await queue.start(job.id, "w3", {}) == 0, "a finished job is not started again"
        stored = await queue.get(job.id)
        assert stored is not None and stored.result == {"by": "w2"} and stored.status == "succeeded"
    finally:
        await queue.close()


async def test_a_worker_loop_ends_on_cancel_even_when_a_step_swallows_it():
    swallowed = []

    async def swallowing_step() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed.append(True)  # as Python 3.11's asyncio.wait_for may, when its inner future finishes then

    loop = asyncio.ensure_future(keep_going("a step that swallows cancellation", swallowing_step))
    await asyncio.sleep(0.05)
    loop.cancel()
    done, _ = await asyncio.wait([loop], timeout=5)
    assert done and loop.cancelled(), "the loop outlived its cancellation: the worker's shutdown would hang"


def test_cluster_settings_are_checked():
    assert load({"queue_url": "redis://r:6379/0", "role": "api"}, env={}).role == "api"
    with pytest.raises(SettingsError, match="role: worker needs a shared queue"):
        load({"role": "worker"}, env={})
    with pytest.raises(SettingsError, match="role: expected all, api or worker"):
        load({"queue_url": "redis://r:6379/0", "role": "both"}, env={})
    with pytest.raises(SettingsError, match="queue_url: expected redis://"):
        load({"queue_url": "http://r:6379"}, env={})


def test_worker_command_needs_a_queue():
    done = subprocess.run([str(PHRONOSD), "worker"], capture_output=True, text=True, timeout=60, cwd="/", env={})
    assert done.returncode == 1 and "needs a shared queue (setting queue_url)" in done.stderr, done.stderr


def test_the_embedded_queue_never_loads_redis():
    code = (
        "import sys; from pathlib import Path; from phronosd.app import create_app; "
        "from phronosd.settings import load; "
        "create_app(load({'database': ':memory:'}, env={}, cwd=Path('/nonexistent'))); "
        "print('redis' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_worker_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = require_tool("systemd-analyze")
    unit = (ROOT / "systemd/phronosd-worker.service").read_text()
    assert "ExecStart=/usr/local/bin/phronosd worker" in unit
    (tmp_path / "phronosd-worker.service").write_text(unit.replace("/usr/local/bin/phronosd", str(PHRONOSD)))
    result = subprocess.run(
        [analyze, "verify", "phronosd-worker.service"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_cluster_compose_file_is_valid():
    compose = require_tool("docker-compose")
    result = subprocess.run(
        [compose, "-f", str(ROOT / "docker-compose.cluster.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    for service in ("redis:", "api:", "worker-1:", "worker-2:"):
        assert f"  {service}\n" in result.stdout, result.stdout
    assert "PHRONOSD_ROLE: api" in result.stdout and "--appendonly" in result.stdout
