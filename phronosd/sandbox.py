"""One hardened container per job: the `docker run` flags, the job sent over stdin, the result frame
read back from stdout, and the guarantee that the container is gone afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from .docker import DockerCli
from .languages import Language

log = logging.getLogger(__name__)

SANDBOX_USER = "65534:65534"
LABEL = "phronosd"
INSTANCE_LABEL = "phronosd.instance"
STDERR_LIMIT = 64 << 10
REPORT_LIMIT = 16 << 20
# The supervisor enforces the job's own deadline; the daemon's deadline only catches a supervisor
# that cannot act (stopped, starved), so it allows for container start-up on a loaded machine.
BACKSTOP_SLACK_S = 3.0
MEASURE_GRACE_S = 10.0


@dataclass(frozen=True)
class Limits:
    timeout_ms: int
    memory_mb: int
    cpuset: str
    cpu_quota: float | None  # None on a measuring core: a quota would throttle the timed phase
    pids: int
    output_limit: int


@dataclass(frozen=True)
class ContainerOutcome:
    """What happened to one container, before any interpretation."""

    frame: dict[str, Any] | None
    exit_code: int | None
    timed_out: bool
    overflow: bool
    docker_error: str
    duration_ms: float


def frame_limit(output_limit: int) -> int:
    """Bytes of container stdout kept: two capped streams (JSON escaping may grow them 6x) + events."""
    return 12 * output_limit + REPORT_LIMIT + (1 << 20)


def extract_frame(stdout: bytes, nonce: str) -> dict[str, Any] | None:
    marker = b"\n" + nonce.encode()
    at = stdout.rfind(marker)
    if at < 0:
        return None
    line = stdout[at + len(marker):].split(b"\n", 1)[0]
    try:
        frame = json.loads(line)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


class Sandbox:
    """Runs jobs in containers labelled with this daemon's instance name."""

    def __init__(self, docker: DockerCli, instance: str):
        self.docker = docker
        self.instance = instance
        self.removals: set[asyncio.Task] = set()
        self.unremoved: set[str] = set()
        self.cleanup_failures = 0  # read by metrics.py (phronosd_container_cleanup_failures)

    def run_args(self, name: str, image: str, language: Language, limits: Limits) -> list[str]:
        def tmpfs(path: str, size_mb: int) -> str:
            return f"{path}:rw,exec,nosuid,nodev,size={size_mb}m,uid=65534,gid=65534"

        largest_file = max(language.work_tmpfs_mb, language.tmp_tmpfs_mb) << 20
        return [
            "run", "-i", "--rm", "--init",
            "--name", name,
            "--label", LABEL,
            "--label", f"{INSTANCE_LABEL}={self.instance}",
            "--network", "none",
            "--memory", f"{limits.memory_mb}m",
            "--memory-swap", f"{limits.memory_mb}m",
            "--cpuset-cpus", limits.cpuset,
            *(["--cpus", f"{limits.cpu_quota:g}"] if limits.cpu_quota else []),
            "--pids-limit", str(limits.pids),
            "--read-only",
            "--tmpfs", tmpfs("/work", language.work_tmpfs_mb),
            "--tmpfs", tmpfs("/tmp", language.tmp_tmpfs_mb),
            "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "--user", SANDBOX_USER,
            "--ulimit", "nofile=1024:1024",
            "--ulimit", f"fsize={largest_file}",
            "--log-driver", "none",
            "--workdir", "/work",
            "--env", "HOME=/tmp",
            image,
        ]

    async def run(
        self,
        image: str,
        language: Language,
        job: dict[str, Any],
        limits: Limits,
        measure_budget_ms: int = 0,
    ) -> ContainerOutcome:
        """Run one job; the container is removed whatever happens, cancellation included."""
        name = f"phronosd-{secrets.token_hex(8)}"
        nonce = secrets.token_hex(16)
        payload = json.dumps({**job, "nonce": nonce, "timeoutMs": limits.timeout_ms,
                              "outputLimit": limits.output_limit}).encode()
        deadline = limits.timeout_ms / 1000 + BACKSTOP_SLACK_S
        if measure_budget_ms:
            deadline += measure_budget_ms / 1000 + MEASURE_GRACE_S
        clean = False
        try:
            result = await self.docker.run(
                self.run_args(name, image, language, limits),
                stdin=payload,
                timeout=deadline,
                stdout_limit=frame_limit(limits.output_limit),
                stderr_limit=STDERR_LIMIT,
            )
            frame = None if result.overflow else extract_frame(result.stdout, nonce)
            clean = frame is not None and not result.timed_out
            return ContainerOutcome(
                frame=frame,
                exit_code=result.exit_code,
                timed_out=result.timed_out,
                overflow=result.overflow,
                docker_error=result.stderr.decode("utf-8", "replace").strip(),
                duration_ms=result.duration_s * 1000,
            )
        finally:
            if not clean:
                # `--rm` removes a container that exited; one whose client was killed (timeout,
                # output cap, cancellation) keeps running until removed by name.
                await self.remove(name)

    async def remove(self, name: str) -> None:
        """`docker rm -f` by name; a name that could not be removed (engine down) is kept for a retry."""
        task = asyncio.ensure_future(self.docker.run(["rm", "-f", name], timeout=30))
        self.removals.add(task)
        task.add_done_callback(self.removals.discard)
        with contextlib.suppress(Exception):
            result = await asyncio.shield(task)
            if result.exit_code == 0 or b"No such container" in result.stderr:
                log.info("removed container %s", name)
                self.unremoved.discard(name)
                return
            log.warning("removing container %s failed: %s", name, result.stderr[:200])
        self.cleanup_failures += 1
        self.unremoved.add(name)

    async def retry_removals(self) -> None:
        """Remove the containers whose removal failed before (called once the engine answers again)."""
        for name in list(self.unremoved):
            await self.remove(name)

    async def sweep(self) -> int:
        """Remove every container of this instance (orphans of a crash, or leftovers at shutdown)."""
        listed = await self.docker.run(["ps", "-aq", "--filter", f"label={INSTANCE_LABEL}={self.instance}"])
        ids = listed.stdout.decode().split()
        if ids:
            await self.docker.run(["rm", "-f", *ids], timeout=60)
        return len(ids)

    async def drain_removals(self) -> None:
        if self.removals:
            await asyncio.gather(*self.removals, return_exceptions=True)
