"""Starting the real daemon (and the real tools around it) as child processes, for the service tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


@pytest.fixture
def shared_dir():
    """A temp folder other users can traverse (nginx workers run as nobody; pytest's are 0700),
    removed after the test."""
    path = Path(tempfile.mkdtemp(prefix="phronosd-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


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
