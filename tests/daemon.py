"""Starting the real daemon (and the real tools around it) as child processes, for the service tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from conftest import INSTANCE

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


async def wait_until_healthy(url: str, daemon: "Daemon", timeout: float = 30) -> None:
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
    """`phronosd serve` with this session's instance label; its log is kept in a file."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, argv: list[str] | None = None, log: Path):
        self.log_path = log
        command = (argv or []) + [str(PHRONOSD), "--instance-name", INSTANCE, *args]
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("PHRONOSD_", "NOTIFY_", "LISTEN_"))}
        self.proc = subprocess.Popen(
            command, env={**environment, **(env or {})}, cwd="/", stdout=subprocess.DEVNULL,
            stderr=open(log, "wb"),
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)
