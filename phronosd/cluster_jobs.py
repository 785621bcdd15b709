"""The jobs API of a cluster node (setting `queue_url`): the same endpoints as the embedded queue,
with jobs, events and leases in Redis (phronosd/queue_redis.py) and run by workers
(phronosd/worker.py). Submissions are checked exactly as on one machine (`JobService.check`), and
refused at once when no live worker has a ready image for the job's language.

Differences from the embedded queue: workers take jobs first in, first out per language (no turns
between callers); a job whose worker dies runs again once its lease expires (`lease_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from .errors import ApiError, Internal, NotFound, TooManyRequests, Unavailable
from .job_store import Job
from .jobs import RETRY_AFTER_S, JobEvents, JobService, JobSpec, describe, iso
from .languages import Registry
from .queue_redis import TRANSIENT, RedisQueue, queue_key
from .request_schemas import SchemaSet
from .settings import Settings
from .webhooks import WebhookPolicy

log = logging.getLogger(__name__)

FOLLOW_BLOCK_MS = 5000
T = TypeVar("T")
P = ParamSpec("P")


def queue_unavailable(exc: Exception) -> Unavailable:
    return Unavailable(
        "jobs.storage", f"the job queue (Redis) is unreachable: {exc}", headers={"Retry-After": RETRY_AFTER_S}
    )


def redis_guarded(method: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """A Redis that cannot be reached is answered 503 `jobs.storage`, like a failing job database."""

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except TRANSIENT as exc:
            raise queue_unavailable(exc) from None

    return guarded


class ClusterJobs(JobService):
    """`JobService`'s endpoints on Redis. It inherits only the checks of submissions; everything that
    stores, runs or follows a job is its own."""

    def __init__(
        self, queue: RedisQueue, settings: Settings, registry: Registry, schemas: SchemaSet, policy: WebhookPolicy
    ):
        self.queue = queue
        self.settings = settings
        self.registry = registry
        self.schemas = schemas
        self.policy = policy
        self.logs: dict[str, JobEvents] = {}
        self.tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        with contextlib.suppress(*TRANSIENT):
            await self.queue.ensure_groups()

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # Submission ---------------------------------------------------------------------------------

    @redis_guarded
    async def submit(
        self, specs: list[JobSpec], owner: str, client: str, urgent: bool = False
    ) -> list[tuple[Job, bool]]:
        """Store and queue new jobs (all or nothing); a known idempotency key gives back its job.
        `urgent`: a synchronous endpoint's job, which workers take before the others."""
        languages = [self.language_of(spec) for spec in specs]
        await self.require_workers(set(languages))
        queued = await self.queue.queued_count()
        if queued + len(specs) > self.settings.max_queued_jobs:
            raise TooManyRequests(
                "jobs.queue_full",
                f"{queued} jobs are queued (at most {self.settings.max_queued_jobs}); try again later",
                headers={"Retry-After": RETRY_AFTER_S},
            )
        out: list[tuple[Job, bool]] = []
        new: list[tuple[Job, str]] = []
        claimed: list[str] = []
        try:
            for spec, language in zip(specs, languages):
                job = spec.new_job(owner, client)
                known = await self.known_job(owner, spec.idempotency_key, job.id)
                if known is not None:
                    out.append((known, False))
                    continue
                if spec.idempotency_key:
                    claimed.append(spec.idempotency_key)
                new.append((job, language))
                out.append((job, True))
            await self.queue.insert([job for job, _ in new], [queue_key(language, urgent) for _, language in new])
        except BaseException:
            for key in claimed:
                with contextlib.suppress(*TRANSIENT):
                    await self.queue.release_idempotency_key(owner, key)
            raise
        return out

    def language_of(self, spec: JobSpec) -> str:
        return self.registry.get(spec.request["language"]).name

    async def known_job(self, owner: str, key: str | None, job_id: str) -> Job | None:
        """The job that already holds this idempotency key (None: the key is now `job_id`'s)."""
        if not key:
            return None
        holder = await self.queue.claim_idempotency_key(owner, key, job_id)
        return None if holder is None else await self.queue.get(holder)

    async def require_workers(self, languages: set[str]) -> None:
        """Fail fast: a job no live worker can run would wait forever."""
        ready = {name for worker in await self.queue.live_workers() for name in worker["languages"]}
        missing = sorted(languages - ready)
        if missing:
            raise Unavailable(
                "cluster.no_worker",
                f"no live worker has a ready {missing[0]} runner image; start a worker with it "
                f"(`phronosd images build {missing[0]}` on its host)",
                headers={"Retry-After": RETRY_AFTER_S},
            )

    # Reading and cancelling -----------------------------------------------------------------------

    @redis_guarded
    async def get(self, job_id: str, owner: str) -> Job:
        job = await self.queue.get(job_id) if len(job_id) == 32 else None
        if job is None or job.owner != owner:
            raise NotFound("jobs.not_found", "no such job")
        return job

    @redis_guarded
    async def listing(self, owner: str, status: str | None, limit: int) -> list[Job]:
        return await self.queue.listing(owner, status, limit)

    @redis_guarded
    async def cancel(self, job_id: str, owner: str) -> Job:
        """A queued job never starts; a running one's worker is told to remove its container."""
        job = await self.get(job_id, owner)
        if job.finished:
            return job
        job.status, job.finished_at = "cancelled", time.time()
        values = {"status": job.status, "finished_at": job.finished_at}
        if await self.queue.update(job.id, None, values, ("status", {"status": job.status}), ("result", describe(job))):
            await self.queue.publish_cancel(job.id)
            await self.queue.expire(job, self.settings.job_ttl_s)
        return await self.get(job_id, owner)

    def has_events(self, job_id: str) -> bool:
        """A job's event stream lives as long as the job: every API node replays it, numbered alike."""
        return True

    def log(self, job_id: str) -> JobEvents:
        """The job's events as this node sees them, followed from Redis from the first one."""
        if job_id not in self.logs:
            self.logs[job_id] = events = JobEvents()
            self.spawn(self.follow(job_id, events))
        return self.logs[job_id]

    async def follow(self, job_id: str, events: JobEvents) -> None:
        after = "0-0"
        while not events.ended:
            try:
                entries = await self.queue.events(job_id, after, FOLLOW_BLOCK_MS)
                if not entries and await self.queue.get(job_id) is None:
                    await self.end(events)  # expired (or never existed): nothing more will come
            except TRANSIENT as exc:
                log.warning("following job %s: Redis unreachable (%s); retrying", job_id, exc)
                await asyncio.sleep(1)
                continue
            for entry_id, kind, data in entries:
                await events.add(kind, data, final=kind == "result")
                after = entry_id
        self.forget_old_logs()

    @staticmethod
    async def end(events: JobEvents) -> None:
        async with events.changed:
            events.ended = True
            events.changed.notify_all()

    # Synchronous endpoints on an API node ----------------------------------------------------------

    async def execute_sync(self, kind: str, body: dict[str, Any], owner: str, client: str) -> dict[str, Any]:
        """Run one request as a job and wait for its result; the caller leaving cancels the job."""
        [(job, _)] = await self.submit([JobSpec(kind, body, None, None)], owner, client, urgent=True)
        events = self.log(job.id)
        try:
            async with events.changed:
                await events.changed.wait_for(lambda: events.ended)
        except asyncio.CancelledError:
            with contextlib.suppress(ApiError):
                await asyncio.shield(self.cancel(job.id, owner))
            raise
        return await self.result_of(job.id, owner)

    @redis_guarded
    async def result_of(self, job_id: str, owner: str) -> dict[str, Any]:
        """A finished job's result, or its error raised with the status it would have had."""
        job = await self.get(job_id, owner)
        if job.status == "succeeded" and job.result is not None:
            return job.result
        if job.status == "failed" and job.error:
            error = ApiError(job.error["error"]["code"], job.error["error"]["message"], job.error["error"]["details"])
            error.status = await self.queue.http_status(job_id)
            raise error
        raise Internal("internal", f"job {job_id} ended {job.status} at {iso(job.finished_at)}")

    # Workers ----------------------------------------------------------------------------------------

    @redis_guarded
    async def workers(self) -> list[dict[str, Any]]:
        return await self.queue.live_workers()
