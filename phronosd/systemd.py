"""The two systemd protocols phronosd speaks, written out here to avoid a dependency:
sd_notify (READY/STOPPING/WATCHDOG datagrams to $NOTIFY_SOCKET) and socket activation
(listening sockets inherited as fds 3.. with $LISTEN_FDS, $LISTEN_PID and $LISTEN_FDNAMES)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

FIRST_INHERITED_FD = 3


class Notifier:
    """Sends state lines to the service manager; does nothing when not started by one."""

    def __init__(self, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        # "@name" is an abstract socket: its real name starts with a NUL byte.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_s = watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> None:
        if not self.enabled:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(self.address)
            sock.sendall("\n".join(lines).encode())

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")


def watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds between pings (half of WatchdogSec, as systemd advises), or None without a watchdog
    or when the watchdog is meant for another process."""
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6 / 2


@dataclass(frozen=True)
class InheritedSocket:
    fd: int
    name: str


def inherited_sockets(env: Mapping[str, str] | None = None) -> list[InheritedSocket]:
    """The listening sockets passed by socket activation; empty when none were passed to us."""
    env = os.environ if env is None else env
    count, pid = env.get("LISTEN_FDS", ""), env.get("LISTEN_PID", "")
    if not count.isdigit() or pid != str(os.getpid()):
        return []
    names = env.get("LISTEN_FDNAMES", "").split(":")
    return [
        InheritedSocket(fd, names[i] if i < len(names) and names[i] else "unknown")
        for i, fd in enumerate(range(FIRST_INHERITED_FD, FIRST_INHERITED_FD + int(count)))
    ]


def forget_activation_environment() -> None:
    """Child processes (docker) must not think the sockets were meant for them."""
    for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
