"""One running daemon per instance name and Docker engine.

The sweeps remove every container labelled with this daemon's instance name, so a second daemon with
the same name on the same engine would remove the first one's running containers. The claim is an
abstract Unix socket whose name hashes the instance and the engine's address: binding it is atomic,
and the kernel releases it when the process dies, SIGKILL included, so a crashed daemon never blocks
its successor (whose start-up sweep then removes the orphans safely). Abstract sockets are per
network namespace: daemons on one host (the systemd unit, the tests) see each other's claims.
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


class InstanceTaken(Exception):
    """Another live daemon holds this instance name on this engine."""


def claim_name(instance: str, docker_host: str) -> str:
    digest = hashlib.sha256(f"{docker_host}\0{instance}".encode()).hexdigest()[:32]
    return f"\0phronosd-instance-{digest}"


def claim_instance(instance: str, docker_host: str | None = None) -> socket.socket:
    """Hold the claim for as long as the returned socket is open."""
    engine = docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        claim.bind(claim_name(instance, engine))
    except OSError as exc:
        claim.close()
        if exc.errno == errno.EADDRINUSE:
            raise InstanceTaken(
                f"another phronosd with instance_name {instance!r} is running for the Docker engine at {engine}; "
                "give each daemon its own instance_name"
            ) from None
        raise
    return claim
