"""A cluster worker (role `worker`, or `all` with a `queue_url`): takes jobs from Redis up to its own
`concurrency`, for the languages whose images it has ready, runs them on its own engine and writes
progress and results back (phronosd/queue_redis.py).

Leases: a taken job stays pending in its stream's consumer group under this worker's name; the
worker renews its leases every `lease_s / 3`. A worker that stops renewing (SIGKILL, host lost)
leaves its jobs to be reclaimed by any worker once `lease_s` passed; they run again from the start
(`attempts` counts the starts). A worker that finds it lost a lease stops that job; whatever it
writes afterwards is refused (only the current attempt may write), so a result is recorded once.
On a clean stop the worker hands its running jobs back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import ApiError, TooManyRequests
from .execution_request import compare_request, execution_request
from .executor import Executor
from .health import DockerProbe
from .images import Images
from .job_store import Job
from .jobs import describe
from .languages import Registry
from .middlewares import error_body
from .queue_redis import CANCEL_CHANNEL, TRANSIENT, RedisQueue, queue_keys
from .settings import Settings
from .webhooks import WebhookSender

log = logging.getLogger(__name__)

TAKE_BLOCK_MS = 1000
T = TypeVar("T")


@dataclass
class Lease:
    """A job this worker took: its stream entry, and why its task was stopped, if it was."""

    stream: str
    entry_id: str
    job_id: str
    task: asyncio.Task | None = None
    stop_reason: str | None = None  # "cancelled" by a client, or "lost" (the lease was reclaimed)
    attempt: int = 0
    taken_at: float = field(default_factory=time.monotonic)


async def keep_going(what: str, step: Callable[[], Awaitable[None]]) -> None:
    """Repeat `step` for as long as the worker runs: Redis being away, or any other failure, pauses
    the loop for a second instead of ending it. A cancellation ends it even when a step swallowed it
    (Python 3.11's `asyncio.wait_for` loses one that races its inner future), else shutdown hangs."""
    this = asyncio.current_task()
    assert this is not None
    while True:
        if this.cancelling():
            raise asyncio.CancelledError
        try:
            await step()
        except TRANSIENT as exc:
            log.warning("%s: Redis unreachable (%s); retrying", what, exc)
            await asyncio.sleep(1)
        except Exception:
            log.exception("%s failed; retrying", what)
            await asyncio.sleep(1)


class Worker:
    def __init__(
        self,
        queue: RedisQueue,
        executor: Executor,
        images: Images,
        probe: DockerProbe,
        settings: Settings,
        registry: Registry,
        webhooks: WebhookSender,
    ):
        self.queue = queue
        self.executor = executor
        self.images = images
        self.probe = probe
        self.settings = settings
        self.registry = registry
        self.webhooks = webhooks
        self.name = settings.instance_name
        self.leases: dict[str, Lease] = {}  # job id -> lease
        self.freed = asyncio.Event()
        self.background: list[asyncio.Task] = []
        self.tasks: set[asyncio.Task] = set()
        self.started_at = time.time()
        self.languages: list[str] = []
        self.next_reclaim = 0.0

    async def start(self) -> None:
        with contextlib.suppress(*TRANSIENT):
            await self.queue.ensure_groups()
        await self.refresh_languages()
        self.background = [
            asyncio.ensure_future(loop())
            for loop in (self.take_loop, self.renew_loop, self.heartbeat_loop, self.cancel_loop)
        ]

    async def close(self) -> None:
        """Stop taking jobs, hand the running ones back, leave the list of live workers."""
        for task in self.background:
            task.cancel()
        running = [lease.task for lease in self.leases.values() if lease.task is not None]
        for task in running:
            task.cancel()
        await asyncio.gather(*self.background, *running, return_exceptions=True)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with contextlib.suppress(*TRANSIENT):
            await self.queue.leave(self.name)

    def spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # Taking jobs ------------------------------------------------------------------------------------

    async def take_loop(self) -> None:
        await keep_going("taking jobs", self.take_some)

    async def take_some(self) -> None:
        """Take up to the free capacity, or wait until a slot frees or the languages change."""
        free = self.settings.concurrency - len(self.leases)
        if free <= 0 or not self.languages:
            self.freed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.heartbeat_s):
                    await self.freed.wait()
            return
        for stream, entry_id, job_id in await self.take(free):
            self.launch(Lease(stream, entry_id, job_id))

    async def take(self, free: int) -> list[tuple[str, str, str]]:
        """Expired leases first (their jobs waited longest), then the synchronous endpoints' jobs (a
        client waits on the line), then the others. When nothing is there, one blocking read of
        every stream (at most one entry from each) waits for the next job."""
        taken = await self.reclaim_expired(free)
        if len(taken) < free:
            urgent = queue_keys(self.languages, urgent=True)
            taken += await self.queue.take(self.name, urgent, free - len(taken), None)
        if len(taken) < free:
            others = queue_keys(self.languages, urgent=False)
            taken += await self.queue.take(self.name, others, free - len(taken), None)
        if not taken:
            taken = await self.queue.take(self.name, queue_keys(self.languages), 1, TAKE_BLOCK_MS)
        return taken

    async def reclaim_expired(self, free: int) -> list[tuple[str, str, str]]:
        """Entries whose lease expired, looked for at most every `lease_s / 3`."""
        if time.monotonic() < self.next_reclaim:
            return []
        self.next_reclaim = time.monotonic() + self.settings.lease_s / 3
        taken: list[tuple[str, str, str]] = []
        for stream in queue_keys(self.languages):
            if len(taken) < free:
                taken += await self.queue.reclaim(self.name, stream, self.settings.lease_s, free - len(taken))
        return taken

    def launch(self, lease: Lease) -> None:
        if lease.job_id in self.leases:  # reclaimed our own entry: it already runs here
            return
        self.leases[lease.job_id] = lease
        lease.task = asyncio.ensure_future(self.run(lease))

    # Running one job --------------------------------------------------------------------------------

    async def run(self, lease: Lease) -> None:
        try:
            job = await self.begin(lease)
            if job is None:
                await self.queue.done(lease.stream, lease.entry_id)
                return
            await self.execute_and_record(lease, job)
        except asyncio.CancelledError:
            await asyncio.shield(self.stopped(lease))
            if lease.stop_reason is None:
                raise
        except TRANSIENT as exc:
            log.warning("job %s: Redis unreachable (%s); its lease will expire and it runs again", lease.job_id, exc)
        finally:
            self.leases.pop(lease.job_id, None)
            self.freed.set()

    async def begin(self, lease: Lease) -> Job | None:
        """Start the job's next attempt; None when it is finished (cancelled while queued) or gone."""
        job = await self.queue.get(lease.job_id)
        if job is None:
            return None
        progress = {
            "phase": "queued",
            "runsDone": 0,
            "runsTotal": job.request.get("runs", 0) if job.kind != "validate" else 0,
        }
        lease.attempt = await self.queue.start(job.id, self.name, progress)
        if not lease.attempt:
            return None
        job.status, job.worker, job.attempts, job.progress = "running", self.name, lease.attempt, progress
        return job

    async def execute_and_record(self, lease: Lease, job: Job) -> None:
        try:
            result = await self.execute(job, lease.attempt)
        except TooManyRequests:
            await self.hand_back(lease)
        except ApiError as error:
            await self.finish(
                lease,
                job,
                "failed",
                error=error_body(error.code, error.message, error.details, job.id),
                status_code=error.status,
            )
        except Exception:
            log.exception("job %s failed", job.id)
            await self.finish(
                lease,
                job,
                "failed",
                error=error_body("internal", "internal error; quote the job id", [], job.id),
                status_code=500,
            )
        else:
            await self.finish(lease, job, "succeeded", result=result)

    async def execute(self, job: Job, attempt: int) -> dict[str, Any]:
        def on_event(event: dict[str, Any]) -> None:
            self.progressed(job, attempt, event)

        if job.kind == "compare":
            return await self.executor.compare(compare_request(job.request, self.settings, self.registry), on_event)
        typed = execution_request(job.request, self.settings, self.registry, measuring=job.kind == "run")
        return await self.executor.execute(typed, on_event)

    def progressed(self, job: Job, attempt: int, event: dict[str, Any]) -> None:
        progress = dict(job.progress or {})
        if event.get("event") == "phase":
            progress["phase"] = str(event.get("name"))
        elif event.get("event") == "progress":
            progress.update(phase="measure", runsDone=event.get("runsDone"), runsTotal=event.get("runsTotal"))
        else:
            return
        job.progress = progress
        self.spawn(self.write_progress(job.id, attempt, progress))

    async def write_progress(self, job_id: str, attempt: int, progress: dict[str, Any]) -> None:
        with contextlib.suppress(*TRANSIENT):
            await self.queue.update(job_id, attempt, {"progress": progress}, ("progress", progress))

    async def finish(
        self,
        lease: Lease,
        job: Job,
        status: str,
        result: dict | None = None,
        error: dict | None = None,
        status_code: int = 200,
    ) -> None:
        """Record the end once (only the current attempt may), then leave the queue. Redis being away
        for a moment is waited for, up to the lease: after that the job runs again anyway."""
        job.status, job.finished_at, job.result, job.error = status, time.time(), result, error
        values = {
            "status": status,
            "finished_at": job.finished_at,
            "result": result,
            "error": error,
            "progress": job.progress,
        }
        if error is not None:
            values["httpStatus"] = status_code
        events = (("status", {"status": status}), ("result", describe(job)))
        written = await self.retrying(lambda: self.queue.update(job.id, lease.attempt, values, *events))
        if not written:
            log.info(
                "job %s: attempt %d's result not recorded (the job ended or runs again elsewhere)",
                job.id,
                lease.attempt,
            )
            return
        await self.retrying(lambda: self.queue.done(lease.stream, lease.entry_id))
        with contextlib.suppress(*TRANSIENT):
            await self.queue.expire(job, self.settings.job_ttl_s)
        if job.webhook_url:
            self.spawn(self.notify(job))

    async def retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.settings.lease_s
        while True:
            try:
                return await operation()
            except TRANSIENT as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("Redis unreachable (%s); retrying", exc)
                await asyncio.sleep(1)

    async def stopped(self, lease: Lease) -> None:
        """The job's task was cancelled: by its client (the job is already `cancelled`: leave the
        queue), by a lost lease (another worker has it: touch nothing), or by shutdown (hand back)."""
        with contextlib.suppress(*TRANSIENT):
            if lease.stop_reason == "cancelled":
                await self.queue.done(lease.stream, lease.entry_id)
            elif lease.stop_reason is None:
                await self.hand_back(lease)

    async def hand_back(self, lease: Lease) -> None:
        """The job is queued again at once, for any worker."""
        if lease.attempt:
            queued = {"status": "queued"}
            await self.queue.update(lease.job_id, lease.attempt, queued, ("status", queued))
        await self.queue.hand_back(lease.stream, lease.entry_id, lease.job_id)

    async def notify(self, job: Job) -> None:
        payload: dict[str, Any] = {"id": job.id, "status": job.status}
        payload.update({"error": job.error} if job.status == "failed" else {"result": job.result})

        async def record(state: dict[str, Any]) -> None:
            with contextlib.suppress(*TRANSIENT):
                await self.queue.set_webhook_state(job.id, state)

        assert job.webhook_url is not None and job.webhook_secret is not None
        await self.webhooks.deliver(job.webhook_url, job.webhook_secret, payload, record)

    # Leases, cancellations, heartbeats ----------------------------------------------------------------

    async def renew_loop(self) -> None:
        async def renew_later() -> None:
            await asyncio.sleep(self.settings.lease_s / 3)
            await self.renew()

        await keep_going("renewing leases", renew_later)

    async def renew(self) -> None:
        """Renew every lease; a job whose lease was reclaimed elsewhere is stopped here."""
        by_stream: dict[str, list[Lease]] = {}
        for lease in list(self.leases.values()):
            by_stream.setdefault(lease.stream, []).append(lease)
        for stream, leases in by_stream.items():
            held = await self.queue.renew(self.name, stream, [lease.entry_id for lease in leases])
            for lease in leases:
                if lease.entry_id not in held and lease.task is not None and not lease.task.done():
                    log.warning("job %s: lease lost (reclaimed by another worker); stopping it here", lease.job_id)
                    lease.stop_reason = "lost"
                    lease.task.cancel()

    async def cancel_loop(self) -> None:
        await keep_going("listening for cancellations", self.listen_for_cancellations)

    async def listen_for_cancellations(self) -> None:
        """Cancellations published by API nodes: the job's container is removed at once."""
        async with self.queue.redis.pubsub() as pubsub:
            await pubsub.subscribe(CANCEL_CHANNEL)
            async for message in pubsub.listen():
                if message["type"] == "message":
                    self.cancelled(message["data"])

    def cancelled(self, job_id: str) -> None:
        lease = self.leases.get(job_id)
        if lease is not None and lease.task is not None and not lease.task.done():
            lease.stop_reason = "cancelled"
            lease.task.cancel()

    async def heartbeat_loop(self) -> None:
        async def beat() -> None:
            await self.refresh_languages()
            await self.queue.beat(self.name, self.describe(), self.settings.heartbeat_s * 3)
            await asyncio.sleep(self.settings.heartbeat_s)

        await keep_going("heartbeat", beat)

    async def refresh_languages(self) -> None:
        """The languages this worker takes: those with a ready image, while Docker answers."""
        docker = await self.probe.get()
        ready = [name for name in self.registry.languages if self.images.ready(name)] if docker.reachable else []
        if ready != self.languages:
            log.info("taking jobs for: %s", ", ".join(ready) or "no language (no ready image)")
            self.languages = ready
            self.freed.set()

    def describe(self) -> dict[str, Any]:
        """This worker as `GET /api/workers` shows it."""
        return {
            "name": self.name,
            "languages": self.languages,
            "versions": {name: self.images.versions(name) for name in self.languages},
            "capacity": self.settings.concurrency,
            "running": len(self.leases),
            "measuring": {"cores": list(self.executor.lanes.cores), "lane": self.settings.measure_lane},
            "startedAt": self.started_at,
            "beatAt": time.time(),
        }
