"""From a checked request to a result: limits, file layout, image, a slot, the container, the verdict."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

from .docker import DockerUnavailable
from .errors import BadRequest, TooManyRequests, Unavailable
from .health import DockerProbe
from .images import Images
from .languages import Registry, Submission
from .lanes import CpuPlan, Lanes
from .sandbox import Limits, Sandbox
from .settings import Settings
from .verdict import build_result

log = logging.getLogger(__name__)

RETRY_AFTER_S = "5"


@dataclass(frozen=True)
class Measure:
    runs: int
    warmup: int | str  # a count, or ADAPTIVE_WARMUP: the harness warms until the times settle
    include_samples: bool


def bounded(body: dict[str, Any], field: str, default: int, maximum: int) -> int:
    value = body.get(field, default)
    if value > maximum:
        raise BadRequest(
            "request.limit",
            f"{field} {value} is above this server's maximum of {maximum}",
            [{"path": f"$.{field}", "problem": f"larger than {maximum}"}],
        )
    return value


class Executor:
    """Runs submissions under a concurrency limit, with a bounded queue in front of it."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        images: Images,
        sandbox: Sandbox,
        probe: DockerProbe,
        cpus: CpuPlan,
    ):
        self.settings = settings
        self.cpus = cpus
        self.lanes = Lanes(cpus.measuring)
        self.registry = registry
        self.images = images
        self.sandbox = sandbox
        self.probe = probe
        self.slots = asyncio.Semaphore(settings.concurrency)
        self.running = 0
        self.queued = 0
        self.accepting = True

    @contextlib.asynccontextmanager
    async def slot(self, measuring: bool) -> AsyncIterator[tuple[float, int | None]]:
        """Wait for a container slot (and, to measure, a lane core); yields the seconds waited and the
        core. A full queue is answered at once with 429."""
        if not self.accepting:
            raise Unavailable("server.shutting_down", "the server is shutting down", headers={"Retry-After": RETRY_AFTER_S})
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
            try:
                core = await stack.enter_async_context(lane.core()) if lane else None
                await self.slots.acquire()
            finally:
                self.queued -= 1
            stack.callback(self.slots.release)
            self.running += 1
            try:
                yield time.monotonic() - waited, core
            finally:
                self.running -= 1

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

    async def execute(self, body: dict[str, Any], measure: Measure | None = None) -> dict[str, Any]:
        language = self.registry.get(body["language"])
        settings = self.settings
        timeout_ms = bounded(body, "timeoutMs", settings.default_timeout_ms, settings.max_timeout_ms)
        memory_mb = bounded(body, "memoryMb", settings.memory_mb, settings.max_memory_mb)
        submission = Submission(
            solution=body["solution"],
            tests=body["tests"],
            solution_file=body.get("solutionFile"),
            test_file=body.get("testFile"),
            files=tuple((f["name"], f["content"]) for f in body.get("files", [])),
        )
        layout = language.layout(submission)
        image = await self.image_for(language.name)
        budget_ms = settings.measure_budget_ms if measure else 0
        job = {
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
        async with self.slot(measuring=measure is not None) as (waited_s, core):
            limits = Limits(
                timeout_ms=timeout_ms,
                memory_mb=memory_mb,
                cpuset=str(core) if core is not None else self.cpus.general_cpuset,
                cpu_quota=None if core is not None else settings.cpus,
                pids=settings.pids_limit,
                output_limit=settings.output_limit_bytes,
            )
            outcome = await self.sandbox.run(image, language, job, limits, budget_ms)
        if outcome.frame is None and not (outcome.timed_out or outcome.overflow):
            state = await self.probe.fresh()
            if not state.reachable:
                raise DockerUnavailable(f"the Docker engine is not reachable: {state.error}")
        result = build_result(
            outcome,
            language=language.name,
            image=image,
            queue_ms=waited_s * 1000,
            runs_requested=measure.runs if measure else 0,
            budget_ms=budget_ms,
            include_samples=bool(measure and measure.include_samples),
            lane_core=core,
        )
        log.debug(  # at info, the request line (logs.py) carries language, verdict and timings
            "execution language=%s mode=%s status=%s tests=%d/%d total_ms=%.0f",
            language.name, job["mode"], result["status"], result["testsPassed"], result["totalTests"],
            result["timings"]["totalMs"],
        )
        return result

    def measure_of(self, body: dict[str, Any]) -> Measure:
        language = self.registry.get(body["language"])
        return Measure(
            runs=bounded(body, "runs", self.settings.default_runs, self.settings.max_runs),
            warmup=body.get("warmup", language.default_warmup),
            include_samples=body.get("includeSamples", False),
        )
