"""From a checked request to a result: limits, file layout, image, a slot, the container, the verdict."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from .comparison import compare_job, compare_result
from .docker import DockerUnavailable
from .errors import Internal, TooManyRequests, Unavailable
from .execution_request import CompareRequest, ExecutionRequest, Measure
from .health import DockerProbe
from .images import Images
from .lanes import CpuPlan, Lanes
from .languages import Language, Submission
from .pool import PooledContainer, WarmPool
from .sandbox import ContainerOutcome, EventHandler, Limits, Sandbox
from .settings import Settings
from .verdict import Fault, build_result

log = logging.getLogger(__name__)

RETRY_AFTER_S = "5"


@dataclass
class Lease:
    """A container slot (and, to measure, a lane core) held by one request: the seconds it waited,
    the core, and the end of a container that answered before it was gone (`ContainerOutcome.ending`),
    until which the slot stays taken."""

    waited_s: float
    core: int | None
    until: asyncio.Task[None] | None = None

    def hold(self, outcome: ContainerOutcome) -> ContainerOutcome:
        self.until = outcome.ending
        return outcome


def limits_for(
    language: Language, settings: Settings, cpus: CpuPlan, timeout_ms: int, memory_mb: int, core: int | None
) -> Limits:
    """A container's limits: the request's, the language's, capped by the server's settings; on a
    measuring core (`core`) pinned there without a CPU quota."""
    return Limits(
        timeout_ms=timeout_ms,
        compile_timeout_ms=min(language.compile_timeout_ms, settings.max_timeout_ms),
        memory_mb=memory_mb,
        cpuset=str(core) if core is not None else cpus.general_cpuset,
        cpu_quota=None if core is not None else settings.cpus,
        pids=min(language.pids or settings.pids_limit, settings.pids_limit),
        output_limit=settings.output_limit_bytes,
        runtime=settings.runtime_for(language.name),
    )


def job_of(language: Language, submission: Submission, measure: Measure | None, budget_ms: int) -> dict[str, Any]:
    """The job the in-container supervisor reads from stdin (handlers/README.md)."""
    layout = language.layout(submission)
    return {
        "files": dict(layout.files),
        "mode": "run" if measure else "validate",
        "runs": measure.runs if measure else 0,
        "warmup": measure.warmup if measure else 0,
        "budgetMs": budget_ms,
        "solutionFile": layout.solution_file,
        "testFile": layout.test_file,
        "options": dict(layout.options),
        "env": dict(language.env),
    }


class Executor:
    """Runs submissions under a concurrency limit, with a bounded queue in front of it."""

    def __init__(
        self,
        settings: Settings,
        images: Images,
        sandbox: Sandbox,
        probe: DockerProbe,
        cpus: CpuPlan,
        pool: WarmPool | None = None,
    ):
        self.settings = settings
        self.cpus = cpus
        self.lanes = Lanes(cpus.measuring)
        self.images = images
        self.sandbox = sandbox
        self.probe = probe
        self.pool = pool
        self.on_release: list[Callable[[], None]] = []  # told whenever a slot frees (the jobs dispatcher)
        self.slots = asyncio.Semaphore(settings.concurrency)
        self.running = 0
        self.queued = 0
        self.accepting = True
        self.held: set[asyncio.Task] = set()  # slots kept after their answer, until the container is gone

    @contextlib.asynccontextmanager
    async def slot(self, measuring: bool) -> AsyncIterator[Lease]:
        """Wait for a container slot (and, to measure, a lane core). A full queue is answered at once
        with 429. The slot is free again when the block ends or, if the lease holds a container's
        ending, once that container is gone."""
        if not self.accepting:
            raise Unavailable(
                "server.shutting_down", "the server is shutting down", headers={"Retry-After": RETRY_AFTER_S}
            )
        lane = self.lanes if measuring and self.lanes.cores else None
        must_wait = self.slots.locked() or (lane is not None and lane.full())
        if must_wait and self.queued >= self.settings.max_queued:
            raise TooManyRequests(
                "execution.queue_full",
                f"{self.running} executions running and {self.queued} waiting; try again later",
                headers={"Retry-After": RETRY_AFTER_S},
            )
        waited = time.monotonic()
        self.queued += 1
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(self.released)  # last out: after the slot and the lane core are free again
            try:
                core = await stack.enter_async_context(lane.core()) if lane else None
                await self.slots.acquire()
            finally:
                self.queued -= 1
            stack.callback(self.slots.release)
            self.running += 1
            stack.callback(self.stopped_running)
            lease = Lease(time.monotonic() - waited, core)
            yield lease
            if lease.until is not None:
                self.hold_until(lease.until, stack.pop_all())

    def stopped_running(self) -> None:
        self.running -= 1

    def hold_until(self, ending: asyncio.Task[None], slot: contextlib.AsyncExitStack) -> None:
        """Free `slot` once `ending` is over (the response has gone out meanwhile)."""

        async def release() -> None:
            async with slot:
                await asyncio.gather(ending, return_exceptions=True)

        task = asyncio.ensure_future(release())
        self.held.add(task)
        task.add_done_callback(self.held.discard)

    async def drain_held(self) -> None:
        """Wait until every slot held for an ending container is free (at shutdown)."""
        if self.held:
            await asyncio.gather(*self.held, return_exceptions=True)

    def released(self) -> None:
        for callback in self.on_release:
            callback()

    def can_start(self, measuring: bool) -> bool:
        """A slot is free and no synchronous request waits for one (and, to measure, a lane core is free)."""
        if not self.accepting or self.slots.locked() or self.queued:
            return False
        return not (measuring and self.lanes.cores and self.lanes.full())

    async def image_for(self, language: str) -> str:
        if not self.images.ready(language):
            await self.images.refresh()
        if not self.images.ready(language):
            raise Unavailable(
                "image.missing",
                f"the {language} runner image {self.images.tag(language)} is not built; "
                f"run `phronosd images build {language}`",
            )
        return self.images.tag(language)

    async def compare(self, request: CompareRequest, on_event: EventHandler | None = None) -> dict[str, Any]:
        """Validate every solution and measure those that pass interleaved, in one container on a
        measuring core; then compare them (phronosd/comparison.py)."""
        language, settings = request.language, self.settings
        image = await self.image_for(language.name)
        budget_ms = settings.measure_budget_ms
        job = compare_job(request, budget_ms)
        async with self.slot(measuring=True) as lease:
            limits = limits_for(language, settings, self.cpus, request.timeout_ms, request.memory_mb, lease.core)
            processes = len(request.entrants) * len(job["blockRounds"])
            outcome = lease.hold(
                await self.sandbox.run(image, language, job, limits, budget_ms, on_event, entrants=processes)
            )
        await self.check_engine(outcome)
        result = await compare_result(request, outcome, image, lease.waited_s * 1000, budget_ms, lease.core)
        if isinstance(result, Fault):
            raise Internal(result.code, result.message)
        return result

    async def check_engine(self, outcome: ContainerOutcome) -> None:
        """A container that ended without a frame for no reason of its own: is the engine gone?"""
        if outcome.frame is None and not (outcome.timed_out or outcome.overflow):
            state = await self.probe.fresh()
            if not state.reachable:
                raise DockerUnavailable(f"the Docker engine is not reachable: {state.error}")

    def pooled(
        self, name: str, measure: Measure | None, limits: Limits
    ) -> contextlib.AbstractContextManager[PooledContainer | None]:
        """A ready pooled container for a validation (a measuring job starts cold on its core)."""
        if self.pool is None or measure is not None:
            return contextlib.nullcontext()
        return self.pool.taken(name, limits)

    async def execute(self, request: ExecutionRequest, on_event: EventHandler | None = None) -> dict[str, Any]:
        """Run one validate or run request; `on_event` gets its live phase and progress events."""
        language, measure, settings = request.language, request.measure, self.settings
        image = await self.image_for(language.name)
        budget_ms = settings.measure_budget_ms if measure else 0
        job = job_of(language, request.submission, measure, budget_ms)
        async with self.slot(measuring=measure is not None) as lease:
            limits = limits_for(language, settings, self.cpus, request.timeout_ms, request.memory_mb, lease.core)
            with self.pooled(language.name, measure, limits) as pooled:
                outcome = await self.sandbox.run_pooled(pooled, job, limits, on_event) if pooled else None
            if outcome is None:
                outcome = await self.sandbox.run(image, language, job, limits, budget_ms, on_event)
            lease.hold(outcome)
        await self.check_engine(outcome)
        result = build_result(
            outcome,
            language=language.name,
            image=image,
            queue_ms=lease.waited_s * 1000,
            runs_requested=measure.runs if measure else 0,
            budget_ms=budget_ms,
            include_samples=bool(measure and measure.include_samples),
            lane_core=lease.core,
        )
        if isinstance(result, Fault):
            raise Internal(result.code, result.message)
        log.debug(  # at info, the request line (logs.py) carries language, verdict and timings
            "execution language=%s mode=%s status=%s tests=%d/%d total_ms=%.0f",
            language.name,
            job["mode"],
            result["status"],
            result["testsPassed"],
            result["totalTests"],
            result["timings"]["totalMs"],
        )
        return result
