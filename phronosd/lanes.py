"""Measuring lanes: CPU cores reserved for timed phases.

A container that measures runs pinned to a core of its own (`--cpuset-cpus N`) with no CFS quota,
because a quota throttles multi-threaded runtimes in bursts (JVM, Node: ~50 ms stalls) while a
pinned core does not. No two measuring containers share a core. Everything else (validation-only
containers, the daemon itself, docker) runs on the remaining cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

# Read once: after `keep_off_lanes` this process's own affinity no longer shows the lane cores.
HOST_CPUS = sorted(os.sched_getaffinity(0))


@dataclass(frozen=True)
class CpuPlan:
    """Which cores measure and which do everything else."""

    measuring: tuple[int, ...]
    general: tuple[int, ...]

    @property
    def general_cpuset(self) -> str:
        return ",".join(map(str, self.general))


def plan_cpus(configured: tuple[int, ...], available: list[int] = HOST_CPUS, lane: bool = True) -> CpuPlan:
    """Configured cores, or by default a quarter of the cores (at least one) from the top end;
    a one-core host, or `lane=False`, has no lane. The general cores are the rest (all of them if
    none is left)."""
    available = sorted(available)
    if not lane:
        measuring: tuple[int, ...] = ()
    elif configured:
        unknown = [core for core in configured if core not in available]
        if unknown:
            raise ValueError(f"measuring core(s) {unknown} are not available (have {available})")
        measuring = tuple(sorted(set(configured)))
    elif len(available) < 2:
        measuring = ()
    else:
        measuring = tuple(available[-max(1, len(available) // 4) :])
    general = tuple(core for core in available if core not in measuring) or tuple(available)
    return CpuPlan(measuring, general)


def keep_off_lanes(plan: CpuPlan) -> None:
    """Pin this process (and the threads and docker clients it starts) to the general cores."""
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, plan.general)


class Lanes:
    """A pool of measuring cores; `core()` waits for one and always gives it back."""

    def __init__(self, cores: tuple[int, ...]):
        self.cores = cores
        self.free: asyncio.Queue[int] = asyncio.Queue()
        for core in cores:
            self.free.put_nowait(core)
        self.waiting = 0

    @property
    def busy(self) -> int:
        return len(self.cores) - self.free.qsize()

    def full(self) -> bool:
        return self.free.empty()

    @contextlib.asynccontextmanager
    async def core(self) -> AsyncIterator[int]:
        self.waiting += 1
        try:
            core = await self.free.get()
        finally:
            self.waiting -= 1
        try:
            yield core
        finally:
            self.free.put_nowait(core)
