"""The warm pool: validation containers started ahead of time, one job each.

A pooled container is started with the same hardened flags as a cold one (`Sandbox.run_args`) plus
`PHRONOSD_POOLED`: its supervisor starts the harness at once, the harness loads its runtime and
framework and says so, the supervisor prints `phronosd-ready`, and then both wait for the job on
stdin. A request takes a ready container instead of starting one; the container runs that one job
and is removed like any other (`--rm`), and the pool starts a replacement in the background once
that job has ended: a replacement started at once would load its runtime and framework on the same
cores as the job it replaces (on two cores that took back all that the pool saved for Jest and
Rust). When requests find the pool empty (more of them than it holds), it refills at once.
Nothing of one job is visible to another: no container ever sees two.

Only validation is pooled. A `/run` starts its own container pinned to its measuring core with no
CPU quota from the first instruction (README: the warm pool). A request whose `memoryMb` differs
from the pool's gets the pooled container re-limited with `docker update` first (about 45 ms,
against about 400 ms for a cold start). A runtime that cannot re-limit a running container (gVisor's
runsc has no `update` command; the first refusal teaches it) leaves such requests to cold containers
and keeps its pooled ones for requests of their own limit (the response says `pooled: false`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from .docker import DockerCli, DockerUnavailable
from .images import Images
from .languages import Language
from .sandbox import READY_LINE, Limits, Sandbox, container_name

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0
RETRY_AFTER_FAILURE_S = 5.0
MAINTAIN_EVERY_S = 5.0


@dataclass(eq=False)
class PooledContainer:
    """A started container whose harness waits for its job."""

    name: str
    language: str
    image: str
    memory_mb: int
    proc: asyncio.subprocess.Process
    ready_at: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.proc.returncode is None


class WarmPool:
    """Keeps `size` ready containers per language whose image is built."""

    def __init__(
        self,
        docker: DockerCli,
        sandbox: Sandbox,
        images: Images,
        languages: list[Language],
        base_limits: dict[str, Limits],
        size: int,
        idle_s: float,
    ):
        self.docker = docker
        self.sandbox = sandbox
        self.images = images
        self.languages = {lang.name: lang for lang in languages}
        self.base_limits = base_limits  # per language: the limits pooled containers start with
        self.size = size
        self.idle_s = idle_s
        self.ready: dict[str, list[PooledContainer]] = {name: [] for name in self.languages}
        self.starting: dict[str, int] = {name: 0 for name in self.languages}
        self.in_use: dict[str, int] = {name: 0 for name in self.languages}  # taken, job still running
        self.failed_at: dict[str, float] = {}
        self.tasks: set[asyncio.Task] = set()
        self.maintainer: asyncio.Task | None = None

    def counts(self) -> dict[str, dict[str, int]]:
        """Per language: ready and starting containers (for /health and /metrics)."""
        return {
            name: {"ready": sum(c.alive() for c in self.ready[name]), "starting": self.starting[name]}
            for name in self.languages
        }

    def start(self) -> None:
        if self.size > 0:
            self.maintainer = asyncio.ensure_future(self.maintain())

    async def maintain(self) -> None:
        """Top up every language, retire dead, stale and long-idle containers; forever."""
        while True:
            with contextlib.suppress(DockerUnavailable):
                if not all(self.images.ready(name) for name in self.languages):
                    await self.images.refresh()  # an image built since (`phronosd images build`)
                self.retire_unusable()
                for name in self.languages:
                    self.top_up(name)
            await asyncio.sleep(MAINTAIN_EVERY_S)

    def retire_unusable(self) -> None:
        now = time.monotonic()
        for name, ready in self.ready.items():
            current = self.images.tag(name) if self.images.ready(name) else None
            for container in list(ready):
                if not container.alive() or container.image != current or now - container.ready_at > self.idle_s:
                    ready.remove(container)
                    self.spawn_task(self.discard(container))

    def top_up(self, name: str, wait_for_jobs: bool = True) -> None:
        """Start the containers this language lacks; `wait_for_jobs`: a taken container's slot stays
        filled until its job ends."""
        if not self.images.ready(name) or time.monotonic() - self.failed_at.get(name, -1e9) < RETRY_AFTER_FAILURE_S:
            return
        occupied = sum(c.alive() for c in self.ready[name]) + self.starting[name]
        missing = self.size - occupied - (self.in_use[name] if wait_for_jobs else 0)
        for _ in range(max(missing, 0)):
            self.starting[name] += 1
            self.spawn_task(self.start_one(name))

    def spawn_task(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def start_one(self, name: str) -> None:
        """Start a pooled container and wait until its harness is ready; a failure pauses refills."""
        language, limits = self.languages[name], self.base_limits[name]
        image, container = self.images.tag(name), container_name()
        args = self.sandbox.run_args(container, image, language, limits, pooled_env=json.dumps(dict(language.env)))
        proc = None
        try:
            proc = await self.docker.spawn(args, stdin=True)
            assert proc.stdout is not None
            async with asyncio.timeout(READY_TIMEOUT_S):
                line = await proc.stdout.readline()
            if line != READY_LINE:
                raise RuntimeError(f"no ready line (got {line[:80]!r})")
            self.ready[name].append(PooledContainer(container, name, image, limits.memory_mb, proc))
        except (Exception, asyncio.CancelledError) as exc:
            if not isinstance(exc, asyncio.CancelledError):
                log.warning("warm pool: starting a %s container failed: %s", name, exc)
                self.failed_at[name] = time.monotonic()
            if proc is not None and proc.returncode is None:
                proc.kill()
            await self.sandbox.remove(container)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self.starting[name] -= 1

    def fits(self, name: str, limits: Limits) -> bool:
        """Whether this language's pooled containers can take a job with these limits: their own
        memory limit, or one their runtime can change."""
        base = self.base_limits.get(name)
        return base is not None and (base.memory_mb == limits.memory_mb or self.sandbox.can_relimit(limits.runtime))

    @contextlib.contextmanager
    def taken(self, name: str, limits: Limits) -> Iterator[PooledContainer | None]:
        """A ready container of this language for one job with these limits (the oldest alive), or
        None: start a cold one. Its replacement starts when the job ends."""
        container = self.take(name) if self.fits(name, limits) else None
        if container is None:
            yield None
            return
        self.in_use[name] += 1
        try:
            yield container
        finally:
            self.in_use[name] -= 1
            self.top_up(name)

    def take(self, name: str) -> PooledContainer | None:
        if name not in self.ready:
            return None
        ready = self.ready[name]
        while ready:
            container = ready.pop(0)
            if container.alive() and container.image == self.images.tag(name):
                return container
            self.spawn_task(self.discard(container))
        self.top_up(name, wait_for_jobs=False)  # more requests than the pool holds: refill now
        return None

    async def discard(self, container: PooledContainer) -> None:
        if container.alive():
            container.proc.kill()
        await self.sandbox.remove(container.name)

    async def close(self) -> None:
        """Stop refilling and remove every pooled container (the shutdown sweep removes stragglers)."""
        if self.maintainer is not None:
            self.maintainer.cancel()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        idle = [c for ready in self.ready.values() for c in ready]
        for ready in self.ready.values():
            ready.clear()
        await asyncio.gather(*(self.discard(c) for c in idle), return_exceptions=True)
