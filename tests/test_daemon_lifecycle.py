"""The real daemon process: start-up failures, one daemon per instance, SIGKILL orphans, SIGTERM with
requests in flight, malformed HTTP, and the image commands. What is about the process and not the
engine runs on the fake docker CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from conftest import FakeDocker, docker, leftover_containers
from daemon import PHRONOSD, Daemon, free_port, serving, wait_until_healthy

from phronosd.images import LANGUAGE_LABEL
from phronosd.sandbox import INSTANCE_LABEL

SLEEPY = {
    "language": "python",
    "solution": "x = 1\n",
    "tests": "import time\n\ndef test_sleep():\n    time.sleep(SECONDS)\n",
}


async def start(instance: str, log: Path, *extra: str, fake_docker: FakeDocker | None = None) -> tuple[Daemon, str]:
    """A healthy daemon on a free port with its own instance label, and its URL."""
    return await serving("--instance-name", instance, *extra, log=log, fake_docker=fake_docker)


def unique_instance() -> str:
    return f"lifecycle-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def instance(docker_ready):
    name = unique_instance()
    yield name
    left = leftover_containers(name)
    if left:
        docker("rm", "-f", *left)


def phronosd(*args: str, fake_docker: FakeDocker) -> subprocess.CompletedProcess:
    """One `phronosd` command on the fake engine."""
    return subprocess.run(
        [str(PHRONOSD), "--docker-binary", fake_docker.binary, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **fake_docker.env},
    )


async def wait_for(predicate, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_missing_docker_binary_stops_start_up_with_one_line():
    result = subprocess.run(
        [str(PHRONOSD), "--port", str(free_port()), "--docker-binary", "/nonexistent/docker"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "docker" in lines[0] and "docker_binary" in lines[0], result.stderr


def test_bad_setting_stops_start_up_with_one_line():
    result = subprocess.run([str(PHRONOSD), "--port", "http"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == "phronosd: setting port: expected a whole number from 0 to 65535, got 'http'"


async def test_sigkill_orphans_are_swept_by_the_next_start(instance, require_image, tmp_path):
    require_image("python")
    daemon, url = await start(instance, tmp_path / "first.log")
    try:
        body = {**SLEEPY, "tests": SLEEPY["tests"].replace("SECONDS", "120")}
        async with aiohttp.ClientSession() as session:
            request = asyncio.ensure_future(session.post(url + "/api/execute/validate", json=body))
            await wait_for(lambda: leftover_containers(instance))
            daemon.proc.send_signal(signal.SIGKILL)
            daemon.proc.wait()
            with pytest.raises(aiohttp.ClientError):
                await request
        assert leftover_containers(instance), "the orphan should still be running"
        daemon, url = await start(instance, tmp_path / "second.log")
        assert leftover_containers(instance) == []
    finally:
        daemon.stop()


async def test_sigterm_finishes_running_requests_and_refuses_new_ones(instance, require_image, tmp_path):
    require_image("python")
    daemon, url = await start(instance, tmp_path / "log", "--shutdown-grace-s", "30")
    try:
        body = {**SLEEPY, "tests": SLEEPY["tests"].replace("SECONDS", "2")}
        async with aiohttp.ClientSession() as session:
            request = asyncio.ensure_future(session.post(url + "/api/execute/validate", json=body))
            await wait_for(lambda: leftover_containers(instance))
            daemon.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            with pytest.raises(aiohttp.ClientError):
                async with session.get(url + "/health"):
                    pass
            response = await request
            assert response.status == 200
            assert (await response.json())["status"] == "passed"
        assert await asyncio.get_running_loop().run_in_executor(None, daemon.proc.wait, 30) == 0
        assert leftover_containers(instance) == []
    finally:
        daemon.stop()


def test_images_list_names_every_language(docker_ready):
    listed = {line.split()[0] for line in images_list()}
    assert {"python"} <= listed


@pytest.mark.host_disturbing
def test_images_prune_removes_only_stale_tags_under_its_own_prefix(require_image):
    """Prune, with a test-only image prefix, the images this test tagged; nothing else on the engine."""
    require_image("python")
    source = docker("images", "--filter", f"label={LANGUAGE_LABEL}=python", "-q").stdout.split()[0]
    prefix = f"phronosd-prune-test-{uuid.uuid4().hex[:8]}-"
    python_line = next(line for line in images_list("--image-prefix", prefix) if line.split()[0] == "python")
    current = python_line.split()[1]
    stale = f"{prefix}python:stale{uuid.uuid4().hex[:7]}"
    foreign = f"someone-else-{uuid.uuid4().hex[:8]}:latest"  # not a phronosd repository: never touched
    others_before = {tag for tag in all_tags() if not tag.startswith(prefix)}
    for tag in (current, stale, foreign):
        assert docker("tag", source, tag).returncode == 0
    try:
        result = subprocess.run(
            [str(PHRONOSD), "--image-prefix", prefix, "images", "prune"], capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [f"{stale}: removed"]
        assert docker("image", "inspect", stale).returncode != 0
        assert docker("image", "inspect", current).returncode == 0
        assert {tag for tag in all_tags() if not tag.startswith(prefix)} >= others_before
        again = subprocess.run(
            [str(PHRONOSD), "--image-prefix", prefix, "images", "prune"], capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 0 and again.stdout.strip() == "no stale runner images"
    finally:
        docker("rmi", current, stale, foreign)


def all_tags() -> set[str]:
    return set(docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split())


def images_list(*settings: str) -> list[str]:
    result = subprocess.run([str(PHRONOSD), *settings, "images", "list"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


# One daemon per instance, and the process edge (fake engine) ----------------------------------------


async def test_settings_flags_after_serve_are_taken(fake_docker, tmp_path):
    port = free_port()
    daemon = Daemon(
        "serve",
        "--port",
        str(port),
        "--instance-name",
        unique_instance(),
        log=tmp_path / "log",
        fake_docker=fake_docker,
    )
    try:
        await wait_until_healthy(f"http://127.0.0.1:{port}", daemon)
    finally:
        assert daemon.stop() == 0, daemon.log()


async def test_a_second_daemon_and_a_sweep_are_refused_while_the_instance_runs(fake_docker, tmp_path):
    """Both would remove the running daemon's containers: each says why in one line and exits 1, having
    swept nothing, and the first daemon keeps serving. Once it has stopped, the sweep runs."""
    name = unique_instance()
    first, url = await start(name, tmp_path / "first.log", fake_docker=fake_docker)
    try:
        calls_before = fake_docker.calls()
        second = Daemon(
            "--port", str(free_port()), "--instance-name", name, log=tmp_path / "second.log", fake_docker=fake_docker
        )
        assert second.proc.wait(60) == 1
        lines = second.log().strip().splitlines()
        assert len(lines) == 1 and "instance_name" in lines[0] and repr(name) in lines[0], second.log()
        refused = phronosd("--instance-name", name, "sweep", fake_docker=fake_docker)
        assert refused.returncode == 1 and "not sweeping" in refused.stdout, refused.stdout + refused.stderr
        assert [c for c in fake_docker.calls()[len(calls_before) :] if c["args"][0] in ("ps", "rm")] == []
        async with aiohttp.ClientSession() as session, session.get(url + "/health") as response:
            assert response.status == 200
    finally:
        assert first.stop() == 0, first.log()
    swept = phronosd("--instance-name", name, "sweep", fake_docker=fake_docker)
    assert swept.returncode == 0 and f"removed 0 container(s) of instance {name!r}" in swept.stdout
    assert fake_docker.calls("ps")[-1]["args"][-1] == f"label={INSTANCE_LABEL}={name}"


async def test_an_unparsable_request_gets_the_api_error_shape_and_no_traceback(fake_docker, tmp_path):
    daemon, url = await start(unique_instance(), tmp_path / "log", fake_docker=fake_docker)
    try:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/execute/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=30)
        writer.close()
    finally:
        assert daemon.stop() == 0, daemon.log()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    assert status_line.split()[1] == "400", answer
    error = json.loads(body)
    assert error["error"]["code"] == "request.malformed" and error["requestId"] == headers["x-request-id"]
    assert "Traceback" not in daemon.log(), daemon.log()
