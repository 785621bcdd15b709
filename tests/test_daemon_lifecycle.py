"""The real daemon process: start-up failures, SIGKILL orphans, SIGTERM with requests in flight."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from conftest import docker, leftover_containers
from daemon import PHRONOSD, Daemon, free_port, wait_until_healthy

SLEEPY = {
    "language": "python",
    "solution": "x = 1\n",
    "tests": "import time\n\ndef test_sleep():\n    time.sleep(SECONDS)\n",
}


async def start(instance: str, log: Path, *extra: str) -> tuple[Daemon, str]:
    """A healthy daemon on a free port with its own instance label, and its URL."""
    port = free_port()
    daemon = Daemon("--port", str(port), "--instance-name", instance, *extra, log=log)
    url = f"http://127.0.0.1:{port}"
    await wait_until_healthy(url, daemon)
    return daemon, url


@pytest.fixture
def instance(docker_ready):
    name = f"lifecycle-{uuid.uuid4().hex[:8]}"
    yield name
    left = leftover_containers(name)
    if left:
        docker("rm", "-f", *left)


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
        capture_output=True, text=True, timeout=30,
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


def test_images_list_names_every_language():
    listed = {line.split()[0] for line in images_list()}
    assert {"python"} <= listed


def test_images_prune_removes_only_tags_of_earlier_versions(docker_ready):
    current = {line.split()[1] for line in images_list()}
    python_current = next(tag for tag in current if tag.startswith("phronosd-python:"))
    stale = f"phronosd-python:stale{uuid.uuid4().hex[:7]}"
    foreign = f"someone-else:{uuid.uuid4().hex[:8]}"  # not a phronosd repository: never touched
    docker("tag", python_current, stale)
    docker("tag", python_current, foreign)
    try:
        result = subprocess.run([str(PHRONOSD), "images", "prune"], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert f"{stale}: removed" in result.stdout
        assert docker("image", "inspect", stale).returncode != 0
        assert docker("image", "inspect", foreign).returncode == 0
        assert {line.split()[1] for line in images_list()} == current
        assert all(line.split()[2] == "ready" for line in images_list())
        again = subprocess.run([str(PHRONOSD), "images", "prune"], capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and "no stale runner images" in again.stdout
    finally:
        docker("rmi", stale)
        docker("rmi", foreign)


def images_list() -> list[str]:
    result = subprocess.run([str(PHRONOSD), "images", "list"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()
