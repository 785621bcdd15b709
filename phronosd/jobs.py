"""Asynchronous jobs: submitted validate/run/compare requests, run in the background, with live
events, cancellation, webhooks, and a store that survives restarts (phronosd/job_store.py).

Fairness: the dispatcher starts a job only when an execution slot is free and no synchronous request
is waiting for one, so batches never delay `/validate`, `/run` or `/compare` by more than the jobs
already running. Among queued jobs it takes turns between callers (the bearer token's owner, or the
client address without tokens): the caller with the fewest running jobs goes first, among equals the
one served longest ago, and each caller's oldest job first; so a batch of 500 from one client does
not starve the single jobs of another, which start after at most one job of each other caller.

A job that was queued or running when the daemon stopped (even by SIGKILL) is queued again at the
next start and runs from the beginning (`attempts` counts the starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import ApiError, BadRequest, NotFound, TooManyRequests, Unavailable
from .execution_request import compare_request, execution_request
from .executor import Executor
from .job_store import Job, JobStore
from .languages import Registry
from .middlewares import error_body
from .request_schemas import SchemaSet
from .settings import Settings
from .webhooks import WebhookSender

log = logging.getLogger(__name__)

KINDS = ("validate", "run", "compare")
EVENT_LOG_LIMIT = 500  # live events kept per job for SSE resumption
FINISHED_LOGS_KEPT = 2000
RETRY_AFTER_S = "5"


@dataclass
class JobEvents:
    """A job's server-sent events: numbered, kept for resumption (`Last-Event-ID`), waited on."""

    events: deque = field(default_factory=lambda: deque(maxlen=EVENT_LOG_LIMIT))
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    next_id: int = 1
    ended: bool = False

    async def add(self, kind: str, data: Any, final: bool = False) -> None:
        async with self.changed:
            self.events.append((self.next_id, kind, data))
            self.next_id += 1
            self.ended = self.ended or final
            self.changed.notify_all()


@dataclass(frozen=True)
class JobSpec:
    """A checked submission: the job's kind, its request body, webhook and idempotency key."""

    kind: str
    request: dict[str, Any]
    webhook: dict[str, str] | None
    idempotency_key: str | None

    def new_job(self, owner: str, client: str) -> Job:
        """A queued job of this submission, under a fresh id."""
        return Job(
            id=secrets.token_hex(16),
            kind=self.kind,
            owner=owner,
            client=client,
            status="queued",
            request=self.request,
            created_at=time.time(),
            idempotency_key=self.idempotency_key,
            webhook_url=self.webhook["url"] if self.webhook else None,
            webhook_secret=self.webhook["secret"] if self.webhook else None,
        )


def iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def describe(job: Job, with_result: bool = True) -> dict[str, Any]:
    """The job as the API shows it (never its webhook secret)."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "result": job.result if with_result else None,
        "error": job.error,
        "worker": job.worker,
        "attempts": job.attempts,
        "webhook": {
            "url": job.webhook_url,
            **(job.webhook_state or {"state": "pending", "attempts": 0, "lastError": None}),
        }
        if job.webhook_url
        else None,
        "createdAt": iso(job.created_at),
        "startedAt": iso(job.started_at),
        "finishedAt": iso(job.finished_at),
    }


class JobService:
    """Submission, dispatch, cancellation, events and clean-up of jobs."""

    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        settings: Settings,
        registry: Registry,
        schemas: SchemaSet,
        webhooks: WebhookSender,
    ):
        self.store = store
        self.executor = executor
        self.settings = settings
        self.registry = registry
        self.schemas = schemas
        self.webhooks = webhooks
        self.policy = webhooks.policy
        self.queues: dict[str, deque[Job]] = {}  # client -> queued jobs, oldest first
        self.running: dict[str, tuple[Job, asyncio.Task]] = {}
        self.running_per_client: dict[str, int] = {}
        self.served: dict[str, int] = {}  # client -> the turn it was last served in
        self.turn = 0
        self.logs: dict[str, JobEvents] = {}
        self.cancelling: set[str] = set()
        self.wake = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()
        self.background: list[asyncio.Task] = []

    # Submission ---------------------------------------------------------------------------------

    def check(self, spec: dict[str, Any], at: str) -> JobSpec:
        """A job as `POST /api/jobs` names it, checked as its endpoint would check its request."""
        self.schemas.check("job", spec, at)
        kind, body = spec["kind"], spec["request"]
        self.schemas.check(kind, body, f"{at}.request")
        if kind == "compare":
            typed = compare_request(body, self.settings, self.registry)
            for entrant in typed.entrants:
                typed.language.layout(entrant.submission)
        else:
            typed_one = execution_request(body, self.settings, self.registry, measuring=kind == "run")
            typed_one.language.layout(typed_one.submission)
        webhook = spec.get("webhook")
        if webhook:
            self.policy.check_url(webhook["url"], f"{at}.webhook.url")
        return JobSpec(kind, body, webhook, spec.get("idempotencyKey"))

    async def submit(self, specs: list[JobSpec], owner: str, client: str) -> list[tuple[Job, bool]]:
        """Store new jobs (all or nothing) and queue them; a known idempotency key gives back its job.
        Returns (job, created) pairs."""
        out: list[tuple[Job, bool]] = []
        new: list[Job] = []
        for spec in specs:
            known = await self.store.by_idempotency_key(owner, spec.idempotency_key) if spec.idempotency_key else None
            if known is not None:
                out.append((known, False))
                continue
            job = spec.new_job(owner, client)
            new.append(job)
            out.append((job, True))
        queued = sum(len(q) for q in self.queues.values())
        if queued + len(new) > self.settings.max_queued_jobs:
            raise TooManyRequests(
                "jobs.queue_full",
                f"{queued} jobs are queued (at most {self.settings.max_queued_jobs}); try again later",
                headers={"Retry-After": RETRY_AFTER_S},
            )
        await self.store.insert(new)
        for job in new:
            self.enqueue(job)
            await self.log(job.id).add("status", {"status": "queued"})
        self.wake.set()
        return out

    def enqueue(self, job: Job) -> None:
        self.queues.setdefault(job.client, deque()).append(job)

    # Reading and cancelling -----------------------------------------------------------------------

    async def get(self, job_id: str, owner: str) -> Job:
        """The job, from memory while it runs; 404 for an unknown id or another owner's job."""
        if job_id in self.running and self.running[job_id][0].owner == owner:
            return self.running[job_id][0]
        job = await self.store.get(job_id) if len(job_id) == 32 else None
        if job is None or job.owner != owner:
            raise NotFound("jobs.not_found", "no such job")
        return job

    async def listing(self, owner: str, status: str | None, limit: int) -> list[Job]:
        jobs = await self.store.listing(owner, status, limit)
        return [self.running[job.id][0] if job.id in self.running else job for job in jobs]

    async def cancel(self, job_id: str, owner: str) -> Job:
        """A queued job never starts; a running one has its container removed at once."""
        job = await self.get(job_id, owner)
        if job.finished:
            return job
        if job.id in self.running:
            self.cancelling.add(job.id)
            task = self.running[job.id][1]
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
            return job
        for queue in self.queues.values():
            for queued in list(queue):
                if queued.id == job.id:
                    queue.remove(queued)
        await self.finish(job, "cancelled")
        return job

    def has_events(self, job_id: str) -> bool:
        """Whether the job's events are kept (a job that finished before this start has none)."""
        return job_id in self.logs

    def log(self, job_id: str) -> JobEvents:
        if job_id not in self.logs:
            self.logs[job_id] = JobEvents()
        return self.logs[job_id]

    # Running --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Queue again what was queued or running at the last stop, resume webhooks, start dispatching."""
        async for job in self.store.unfinished():
            job.status = "queued"
            await self.store.save(job, "status")
            self.enqueue(job)
        for job in await self.store.undelivered_webhooks():
            self.spawn(self.notify(job))
        self.executor.on_release.append(self.wake.set)
        self.wake.set()
        self.background = [asyncio.ensure_future(self.dispatch()), asyncio.ensure_future(self.expire())]

    async def close(self) -> None:
        """Stop dispatching; running jobs are stopped and stay `running` in the store, so the next
        start runs them again."""
        for task in self.background:
            task.cancel()
        for _, task in list(self.running.values()):
            task.cancel()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(
            *self.background, *self.tasks, *(t for _, t in self.running.values()), return_exceptions=True
        )

    def spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def next_client(self) -> str | None:
        """The caller to serve next: fewest running jobs, then the one served longest ago (turns)."""
        waiting = [
            (self.running_per_client.get(client, 0), self.served.get(client, 0), queue[0].created_at, client)
            for client, queue in self.queues.items()
            if queue
        ]
        return min(waiting)[3] if waiting else None

    def next_job(self) -> Job | None:
        """The oldest job of the next caller."""
        client = self.next_client()
        if client is None:
            return None
        self.turn += 1
        self.served[client] = self.turn
        job = self.queues[client].popleft()
        if not self.queues[client]:
            del self.queues[client]
        return job

    async def dispatch(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            # A dispatched job takes its slot a moment later: never more jobs running than slots.
            while (
                self.queues
                and len(self.running) < self.settings.concurrency
                and self.executor.can_start(measuring=self.peek_measuring())
            ):
                job = self.next_job()
                if job is None:
                    break
                self.running_per_client[job.client] = self.running_per_client.get(job.client, 0) + 1
                self.running[job.id] = (job, asyncio.ensure_future(self.run(job)))

    def peek_measuring(self) -> bool:
        client = self.next_client()
        return client is not None and self.queues[client][0].kind != "validate"

    async def run(self, job: Job) -> None:
        job.status, job.started_at, job.worker = "running", time.time(), self.settings.instance_name
        job.attempts += 1
        job.progress = {
            "phase": "queued",
            "runsDone": 0,
            "runsTotal": job.request.get("runs", 0) if job.kind != "validate" else 0,
        }
        events = self.log(job.id)
        try:
            await self.store.save(job, "status", "started_at", "worker", "attempts", "progress")
            await events.add("status", {"status": "running"})
            result = await self.execute(job)
        except asyncio.CancelledError:
            if job.id not in self.cancelling:
                raise  # shutdown: the job stays `running` in the store and runs again at the next start
            await self.finish(job, "cancelled")
        except TooManyRequests:
            job.status = "queued"
            with contextlib.suppress(ApiError):
                await self.store.save(job, "status")
            self.enqueue(job)
        except ApiError as error:
            await self.finish(job, "failed", error=error_body(error.code, error.message, error.details, job.id))
        except Exception:
            log.exception("job %s failed", job.id)
            await self.finish(
                job, "failed", error=error_body("internal", "internal error; quote the job id", [], job.id)
            )
        else:
            await self.finish(job, "succeeded", result=result)
        finally:
            self.running.pop(job.id, None)
            self.cancelling.discard(job.id)
            self.running_per_client[job.client] -= 1
            if not self.running_per_client[job.client] and job.client not in self.queues:
                del self.running_per_client[job.client]
                self.served.pop(job.client, None)
            self.wake.set()

    async def execute(self, job: Job) -> dict[str, Any]:
        def on_event(event: dict[str, Any]) -> None:
            self.progressed(job, event)

        if job.kind == "compare":
            return await self.executor.compare(compare_request(job.request, self.settings, self.registry), on_event)
        typed = execution_request(job.request, self.settings, self.registry, measuring=job.kind == "run")
        return await self.executor.execute(typed, on_event)

    def progressed(self, job: Job, event: dict[str, Any]) -> None:
        """A live event from the container: update the job's progress and tell its listeners."""
        progress = dict(job.progress or {})
        if event.get("event") == "phase":
            progress["phase"] = str(event.get("name"))
        elif event.get("event") == "progress":
            progress.update(phase="measure", runsDone=event.get("runsDone"), runsTotal=event.get("runsTotal"))
        else:
            return
        job.progress = progress
        self.spawn(self.log(job.id).add("progress", progress))

    async def finish(self, job: Job, status: str, result: dict | None = None, error: dict | None = None) -> None:
        job.status, job.finished_at, job.result, job.error = status, time.time(), result, error
        try:
            await self.store.save(job, "status", "finished_at", "result", "error", "progress")
        except Unavailable as exc:
            log.error("job %s: its end could not be stored: %s", job.id, exc.message)
        events = self.log(job.id)
        await events.add("status", {"status": status})
        await events.add("result", describe(job), final=True)
        if job.webhook_url:
            self.spawn(self.notify(job))
        self.forget_old_logs()

    def forget_old_logs(self) -> None:
        finished = [job_id for job_id, events in self.logs.items() if events.ended]
        for job_id in finished[: max(0, len(finished) - FINISHED_LOGS_KEPT)]:
            del self.logs[job_id]

    async def notify(self, job: Job) -> None:
        payload: dict[str, Any] = {"id": job.id, "status": job.status}
        payload.update({"error": job.error} if job.status == "failed" else {"result": job.result})

        async def record(state: dict[str, Any]) -> None:
            job.webhook_state = state
            with contextlib.suppress(Unavailable):
                await self.store.save(job, "webhook_state")

        assert job.webhook_url is not None and job.webhook_secret is not None
        await self.webhooks.deliver(job.webhook_url, job.webhook_secret, payload, record)

    async def expire(self) -> None:
        """Delete finished jobs older than `job_ttl_s`."""
        while True:
            with contextlib.suppress(Unavailable):
                removed = await self.store.delete_finished_before(time.time() - self.settings.job_ttl_s)
                if removed:
                    log.info("deleted %d finished job(s) older than job_ttl_s", removed)
            await asyncio.sleep(min(self.settings.job_ttl_s, 60.0))


def check_batch(service: JobService, body: Any) -> list[JobSpec]:
    """Every job of a batch checked first: one bad job refuses the batch (400 naming its path)."""
    service.schemas.check("job-batch", body)
    jobs = body["jobs"]
    if len(jobs) > service.settings.max_batch_jobs:
        raise BadRequest(
            "request.limit",
            f"a batch holds at most {service.settings.max_batch_jobs} jobs",
            [{"path": "$.jobs", "problem": f"more than {service.settings.max_batch_jobs} items"}],
        )
    return [service.check(spec, f"$.jobs[{index}]") for index, spec in enumerate(jobs)]
