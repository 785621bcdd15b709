"""Starting the real daemon (and the real tools around it) as child processes, for the service tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from conftest import INSTANCE, FakeDocker, current_runner_images

ROOT = Path(__file__).resolve().parent.parent
PHRONOSD = Path(sys.executable).parent / "phronosd"


def require_tool(name: str) -> str:
    """The tool's path; a failure (never a skip) naming the install step when it is missing."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"{name} is not installed: run ./install.sh --no-start (it installs it)", pytrace=False)
    return path


def wait_for_unix_socket(path: Path, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the process exited with {proc.returncode} before listening")
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(path))
                return
            except OSError:
                time.sleep(0.05)
    raise AssertionError(f"nothing listens on {path} after {timeout} s")


async def wait_until_healthy(url: str, daemon: Daemon, timeout: float = 30) -> None:
    """Poll GET /health until it answers 200; fail with the daemon's log if it exits or never answers."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if daemon.proc.poll() is not None:
                raise AssertionError(f"the daemon exited with {daemon.proc.returncode}: {daemon.log()}")
            try:
                async with session.get(url + "/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"the daemon did not become healthy: {daemon.log()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Daemon:
    """`phronosd serve` with this session's instance label, no warm pool and a job database beside its
    log file (later flags may override each); its log is kept in that file. With `fake_docker`, its
    docker CLI is the fake."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        argv: list[str] | None = None,
        log: Path,
        fake_docker: FakeDocker | None = None,
    ):
        self.log_path = log
        if fake_docker is not None:
            args = ("--docker-binary", fake_docker.binary, *args)
            env = {**fake_docker.env, **(env or {})}
        defaults = ["--instance-name", INSTANCE, "--warm-pool", "0", "--database", str(log.with_suffix(".sqlite3"))]
        command = (argv or []) + [str(PHRONOSD), *defaults, *args]
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("PHRONOSD_", "NOTIFY_", "LISTEN_"))}
        self.proc = subprocess.Popen(
            command,
            env={**environment, **(env or {})},
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=open(log, "wb"),
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, and its exit status; one that does not exit in `timeout` is killed (so it cannot
        hold its instance name for the tests after) and fails with its log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the daemon did not exit {timeout} s after SIGTERM: {self.log()}") from None


async def serving(*args: str, log: Path, fake_docker: FakeDocker | None = None) -> tuple[Daemon, str]:
    """A healthy daemon on a free port, and its URL."""
    port = free_port()
    daemon = Daemon("--port", str(port), *args, log=log, fake_docker=fake_docker)
    url = f"http://127.0.0.1:{port}"
    await wait_until_healthy(url, daemon)
    return daemon, url


@contextlib.contextmanager
def daemon_on_fake_engine(folder: Path, instance: str) -> Iterator[str]:
    """A daemon of its own instance on a fake engine that has this version's images; yields its URL
    and, at the end, checks it stopped cleanly. For fixtures wider than a test (outside any event loop)."""
    fake = FakeDocker(folder / "fake-docker", current_runner_images())
    daemon, url = asyncio.run(serving("--instance-name", instance, log=folder / "log", fake_docker=fake))
    try:
        yield url
    finally:
        assert daemon.stop() == 0, daemon.log()
