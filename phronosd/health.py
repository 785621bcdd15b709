"""The Docker probe behind /health, cached so that health checks never pile up docker calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .docker import DockerCli, DockerUnavailable
from .images import Images


@dataclass(frozen=True)
class DockerState:
    reachable: bool
    server_version: str | None
    error: str | None


class DockerProbe:
    """`docker version` at most once per `ttl` seconds; concurrent callers share one call."""

    def __init__(self, docker: DockerCli, images: Images, ttl: float, on_reachable: Callable[[], Awaitable[None]]):
        self.docker = docker
        self.images = images
        self.ttl = ttl
        self.on_reachable = on_reachable
        self.state: DockerState | None = None
        self.checked_at = -float("inf")
        self.lock = asyncio.Lock()

    async def get(self) -> DockerState:
        async with self.lock:
            if self.state is None or time.monotonic() - self.checked_at >= self.ttl:
                self.state = await self.probe()
                self.checked_at = time.monotonic()
            return self.state

    async def probe(self) -> DockerState:
        try:
            version = (await self.docker.check(["version", "--format", "{{.Server.Version}}"], timeout=10)).strip()
            await self.images.refresh()
        except DockerUnavailable as exc:
            return DockerState(False, None, exc.message)
        await self.on_reachable()
        return DockerState(True, version, None)

    async def fresh(self) -> DockerState:
        """Probe now, whatever the cache says (a docker call just failed)."""
        self.checked_at = -float("inf")
        return await self.get()
