"""A real Docker outage: dockerd stopped mid-request, then started again.

The request in flight gets a clear 503 `docker.unavailable`, /health says so, the daemon keeps
serving and recovers by itself when the engine returns, and the container of the interrupted
request is gone afterwards. The engine is restarted with the command line it had.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import pytest
from conftest import docker, leftover_containers
from helpers import validate

pytestmark = [pytest.mark.docker, pytest.mark.host_disturbing]

SLEEPING = "import time\n\ndef test_sleep():\n    time.sleep(60)\n"
QUICK = "def test_ok():\n    assert True\n"


def dockerd_pid() -> int:
    found = subprocess.run(["pgrep", "-xo", "dockerd"], capture_output=True, text=True).stdout.split()
    if not found:
        pytest.fail("no dockerd process on this host to stop (this test restarts the engine it stops)", pytrace=False)
    return int(found[0])


def command_line(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return [part.decode() for part in handle.read().split(b"\0") if part]


def stop_dockerd(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.2)


def start_dockerd(argv: list[str]) -> None:
    with open("/var/log/phronosd-dockerd.log", "ab") as log:
        subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if docker("info").returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError("dockerd did not come back")


async def test_dockerd_stopped_mid_request_then_back(client, require_image):
    require_image("python")
    pid = dockerd_pid()
    argv = command_line(pid)
    request = asyncio.ensure_future(validate(client, "python", "x = 1\n", SLEEPING, expect=503))
    for _ in range(100):
        if leftover_containers():
            break
        await asyncio.sleep(0.1)
    assert leftover_containers(), "the container never started"
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, stop_dockerd, pid)
        data = await asyncio.wait_for(request, 60)
        assert data["error"]["code"] == "docker.unavailable"
        health = await client.get("/health")
        assert health.status == 503 and (await health.json())["docker"]["reachable"] is False
        data = await validate(client, "python", "x = 1\n", QUICK, expect=503)
        assert data["error"]["code"] == "docker.unavailable"
    finally:
        await loop.run_in_executor(None, start_dockerd, argv)
    health = await client.get("/health")
    assert health.status == 200
    result = await validate(client, "python", "x = 1\n", QUICK)
    assert result["status"] == "passed"
    for _ in range(50):
        if not leftover_containers():
            break
        await asyncio.sleep(0.2)
    assert leftover_containers() == []
