"""The real daemon process: start-up failures, SIGKILL orphans, SIGTERM with requests in flight."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from conftest import docker
from phronosd.sandbox import INSTANCE_LABEL

PHRONOSD = [sys.executable, "-m", "phronosd"]
SLEEPY = {
    "language": "python",
    "solution": "x = 1\n",
    "tests": "import time\n\ndef test_sleep():\n    time.sleep(SECONDS)\n",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def containers(instance: str) -> list[str]:
    return docker("ps", "-aq", "--filter", f"label={INSTANCE_LABEL}={instance}").stdout.split()


class Daemon:
    """`python -m phronosd` on a free port with its own instance label."""

    def __init__(self, instance: str, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [*PHRONOSD, "--port", str(self.port), "--instance-name", instance, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=Path(__file__).parent,
        )

    async def ready(self) -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(self.url + "/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.proc.poll() is not None:
                    raise AssertionError(f"daemon exited: {self.proc.stdout.read()}")
                await asyncio.sleep(0.1)
        raise AssertionError("daemon did not become healthy")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def instance(docker_ready):
    name = f"lifecycle-{uuid.uuid4().hex[:8]}"
    yield name
    left = containers(name)
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
        [*PHRONOSD, "--port", str(free_port()), "--docker-binary", "/nonexistent/docker"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "docker" in lines[0] and "docker_binary" in lines[0], result.stderr


def test_bad_setting_stops_start_up_with_one_line():
    result = subprocess.run([*PHRONOSD, "--port", "http"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == "phronosd: setting port: expected a whole number from 0 to 65535, got 'http'"


async def test_sigkill_orphans_are_swept_by_the_next_start(instance, require_image):
    require_image("python")
    daemon = Daemon(instance)
    try:
        await daemon.ready()
        body = {**SLEEPY, "tests": SLEEPY["tests"].replace("SECONDS", "120")}
        async with aiohttp.ClientSession() as session:
            request = asyncio.ensure_future(session.post(daemon.url + "/api/execute/validate", json=body))
            await wait_for(lambda: containers(instance))
            daemon.proc.send_signal(signal.SIGKILL)
            daemon.proc.wait()
            with pytest.raises(aiohttp.ClientError):
                await request
        assert containers(instance), "the orphan should still be running"
        daemon = Daemon(instance)
        await daemon.ready()
        assert containers(instance) == []
    finally:
        daemon.stop()


async def test_sigterm_finishes_running_requests_and_refuses_new_ones(instance, require_image):
    require_image("python")
    daemon = Daemon(instance, "--shutdown-grace-s", "30")
    try:
        await daemon.ready()
        body = {**SLEEPY, "tests": SLEEPY["tests"].replace("SECONDS", "2")}
        async with aiohttp.ClientSession() as session:
            request = asyncio.ensure_future(session.post(daemon.url + "/api/execute/validate", json=body))
            await wait_for(lambda: containers(instance))
            daemon.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            with pytest.raises(aiohttp.ClientError):
                async with session.get(daemon.url + "/health"):
                    pass
            response = await request
            assert response.status == 200
            assert (await response.json())["status"] == "passed"
        assert await asyncio.get_running_loop().run_in_executor(None, daemon.proc.wait, 30) == 0
        assert containers(instance) == []
    finally:
        daemon.stop()


def test_images_list_names_every_language():
    result = subprocess.run([*PHRONOSD, "images", "list"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines()}
    assert {"python"} <= listed
