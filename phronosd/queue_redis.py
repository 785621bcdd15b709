"""The jobs of a cluster in Redis (setting `queue_url`): job documents, one stream per language that
workers consume in a consumer group, each job's event stream, and the workers' heartbeats.

Keys (all under `phronosd:`): `job:<id>` a hash, one JSON value per field of `Job` (plus `httpStatus`
of a failed job's error); `queue:<language>` and `queue:<language>:now` (the synchronous
endpoints' jobs, read first) streams of job ids read by the group `workers`, whose pending entries
are the leases; `events:<id>` the job's events, in order (SSE numbers are positions
in it, so they agree on every API node); `owner:<owner>` a sorted set of the owner's job ids by
creation time; `idem:<owner>:<key>` an idempotency key's job id; `worker:<name>` a heartbeat that
expires; `workers` the set of names that ever beat; `cancel` a pub/sub channel of cancelled ids.

Every write to a job after its submission goes through one Lua script, so it is atomic and
conditional: nothing changes a finished job, and only the current attempt (the `attempts` it started)
may write progress or a result. A worker that lost its lease and comes back therefore cannot
overwrite the result of the attempt that replaced it: the final result is recorded once.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from .job_store import Job

PREFIX = "phronosd:"
GROUP = "workers"
CANCEL_CHANNEL = PREFIX + "cancel"
JOB_FIELDS = tuple(f.name for f in fields(Job))
LISTED_FIELDS = [name for name in JOB_FIELDS if name not in ("request", "result")]  # "id" first
# Redis errors that a retry after a pause can cure (Redis restarting, a connection dropped).
TRANSIENT = (aioredis.ConnectionError, aioredis.TimeoutError, aioredis.BusyLoadingError)

# KEYS: job, events. ARGV: attempt ('' = any), number of fields, field/value pairs, then event
# kind/data pairs. Writes only to an unfinished job, and only for its current attempt.
GUARDED_UPDATE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
status = cjson.decode(status)
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then return 0 end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'attempts') ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
for i = 3, 2 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 3 + 2 * n, #ARGV, 2 do redis.call('XADD', KEYS[2], '*', 'kind', ARGV[i], 'data', ARGV[i + 1]) end
return 1
"""

# KEYS: job, events. ARGV: worker, started_at, progress (JSON). Starts the next attempt of an
# unfinished job and returns its number; 0 for a finished or unknown job.
START = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
status = cjson.decode(status)
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then return 0 end
local attempt = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', '"running"', 'worker', ARGV[1], 'started_at', ARGV[2], 'progress', ARGV[3])
redis.call('XADD', KEYS[2], '*', 'kind', 'status', 'data', '{"status": "running"}')
return attempt
"""


def job_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}"


def events_key(job_id: str) -> str:
    return f"{PREFIX}events:{job_id}"


def queue_key(language: str, urgent: bool = False) -> str:
    """A language's stream: `queue:<language>`, or for the jobs of the synchronous endpoints (a client
    waits on the line) `queue:<language>:now`, which workers read first."""
    return f"{PREFIX}queue:{language}{':now' if urgent else ''}"


def queue_keys(languages: list[str], urgent: bool | None = None) -> list[str]:
    """The streams of these languages, urgent ones first (`urgent`: only those, or only the others)."""
    kinds = (True, False) if urgent is None else (urgent,)
    return [queue_key(language, kind) for kind in kinds for language in languages]


def owner_key(owner: str) -> str:
    return f"{PREFIX}owner:{owner}"


def idempotency_key(owner: str, key: str) -> str:
    return f"{PREFIX}idem:{owner}:{key}"


def worker_key(name: str) -> str:
    return f"{PREFIX}worker:{name}"


def encode(values: dict[str, Any]) -> dict[str, str]:
    return {name: json.dumps(value) for name, value in values.items()}


def decode_listed(row: list[str | None]) -> Job:
    """A job read with `LISTED_FIELDS` (the first is its id)."""
    values = {name: json.loads(value) for name, value in zip(LISTED_FIELDS, row) if value is not None}
    return Job(request={}, **values)


def decode_job(raw: dict[str, str]) -> Job | None:
    if "id" not in raw:
        return None
    return Job(**{name: json.loads(raw[name]) for name in JOB_FIELDS if name in raw})


def is_nogroup(exc: ResponseError) -> bool:
    """The stream or its group is gone (Redis restarted without persistence)."""
    return str(exc).startswith("NOGROUP")


class RedisQueue:
    """The Redis side of jobs, shared by API nodes (`ClusterJobs`) and workers (`Worker`)."""

    def __init__(self, url: str, languages: list[str]):
        # Any: redis-py's annotations cover bytes and str answers alike; with decode_responses all are str.
        self.redis: Any = aioredis.from_url(url, decode_responses=True, health_check_interval=10)
        self.languages = languages
        self.guarded = self.redis.register_script(GUARDED_UPDATE)
        self.start_script = self.redis.register_script(START)

    async def close(self) -> None:
        await self.redis.aclose()

    async def ensure_groups(self) -> None:
        """Each language's streams and their consumer group (idempotent)."""
        for stream in queue_keys(self.languages):
            try:
                await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # Jobs -----------------------------------------------------------------------------------------

    async def insert(self, jobs: list[Job], streams: list[str]) -> None:
        """Store the jobs and add each to its stream, in one transaction (all or nothing)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for job, stream in zip(jobs, streams):
                pipe.hset(job_key(job.id), mapping=encode({name: getattr(job, name) for name in JOB_FIELDS}))
                pipe.zadd(owner_key(job.owner), {job.id: job.created_at})
                pipe.xadd(events_key(job.id), {"kind": "status", "data": json.dumps({"status": "queued"})})
                pipe.xadd(stream, {"id": job.id})
            await pipe.execute()

    async def claim_idempotency_key(self, owner: str, key: str, job_id: str) -> str | None:
        """Record `key` for `job_id`; the job id that already holds it, if any."""
        name = idempotency_key(owner, key)
        if await self.redis.set(name, job_id, nx=True):
            return None
        return await self.redis.get(name)

    async def release_idempotency_key(self, owner: str, key: str) -> None:
        await self.redis.delete(idempotency_key(owner, key))

    async def get(self, job_id: str) -> Job | None:
        return decode_job(await self.redis.hgetall(job_key(job_id)))

    async def http_status(self, job_id: str) -> int:
        value = await self.redis.hget(job_key(job_id), "httpStatus")
        return int(value) if value else 500

    async def listing(self, owner: str, status: str | None, limit: int) -> list[Job]:
        """The owner's newest jobs, without their requests and results (lists leave them out); ids
        whose job expired are dropped from the owner's index."""
        found: list[Job] = []
        start, page = 0, limit if status is None else 1000
        while len(found) < limit:
            ids = await self.redis.zrevrange(owner_key(owner), start, start + page - 1)
            if not ids:
                break
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hmget(job_key(job_id), LISTED_FIELDS)
                rows = await pipe.execute()
            expired = [job_id for job_id, row in zip(ids, rows) if row[0] is None]
            if expired:
                await self.redis.zrem(owner_key(owner), *expired)
            jobs = [decode_listed(row) for row in rows if row[0] is not None]
            found += [job for job in jobs if status is None or job.status == status]
            start += len(ids) - len(expired)
        return found[:limit]

    async def queued_count(self) -> int:
        """Jobs in the queues, taken or not (entries leave a queue when their job ends)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in queue_keys(self.languages):
                pipe.xlen(stream)
            return sum(await pipe.execute())

    async def update(self, job_id: str, attempt: int | None, values: dict[str, Any], *events: tuple[str, Any]) -> bool:
        """Write `values` and append `events` unless the job is finished or `attempt` is no longer its
        current one. True when written."""
        args: list[Any] = ["" if attempt is None else str(attempt), len(values)]
        for name, value in encode(values).items():
            args += [name, value]
        for kind, data in events:
            args += [kind, json.dumps(data)]
        return bool(await self.guarded(keys=[job_key(job_id), events_key(job_id)], args=args))

    async def start(self, job_id: str, worker: str, progress: dict[str, Any]) -> int:
        """Begin the next attempt of the job: its number, or 0 when the job is finished or gone."""
        keys = [job_key(job_id), events_key(job_id)]
        return int(
            await self.start_script(keys=keys, args=[json.dumps(worker), json.dumps(time.time()), json.dumps(progress)])
        )

    async def expire(self, job: Job, ttl_s: float) -> None:
        """A finished job, its events and its idempotency key are deleted after `ttl_s`."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.expire(job_key(job.id), int(ttl_s))
            pipe.expire(events_key(job.id), int(ttl_s))
            if job.idempotency_key:
                pipe.expire(idempotency_key(job.owner, job.idempotency_key), int(ttl_s))
            await pipe.execute()

    async def events(self, job_id: str, after: str, block_ms: int) -> list[tuple[str, str, Any]]:
        """The job's events after stream id `after`: (stream id, kind, data)."""
        answer = await self.redis.xread({events_key(job_id): after}, block=block_ms, count=100)
        return [
            (entry_id, entry["kind"], json.loads(entry["data"])) for _, entries in answer for entry_id, entry in entries
        ]

    async def set_webhook_state(self, job_id: str, state: dict[str, Any]) -> None:
        """Webhook deliveries happen after the job ended: written without the guard."""
        await self.redis.hset(job_key(job_id), "webhook_state", json.dumps(state))

    async def publish_cancel(self, job_id: str) -> None:
        await self.redis.publish(CANCEL_CHANNEL, job_id)

    # Leases (the consumer group's pending entries) ------------------------------------------------

    async def take(
        self, consumer: str, streams: list[str], count: int, block_ms: int | None
    ) -> list[tuple[str, str, str]]:
        """New entries for this consumer, at most `count` from each stream: (stream, entry id, job id).
        `block_ms` None: answer at once."""
        try:
            answer = await self.redis.xreadgroup(
                GROUP, consumer, {stream: ">" for stream in streams}, count=count, block=block_ms
            )
        except ResponseError as exc:
            if not is_nogroup(exc):
                raise
            await self.ensure_groups()
            return []
        return [(stream, entry_id, entry["id"]) for stream, entries in answer for entry_id, entry in entries]

    async def reclaim(self, consumer: str, stream: str, lease_s: float, count: int) -> list[tuple[str, str, str]]:
        """Entries whose lease expired (their worker stopped renewing it), now this consumer's."""
        try:
            answer = await self.redis.xautoclaim(
                stream, GROUP, consumer, int(lease_s * 1000), start_id="0-0", count=count
            )
        except ResponseError as exc:
            if not is_nogroup(exc):
                raise
            await self.ensure_groups()
            return []
        return [(stream, entry_id, entry["id"]) for entry_id, entry in answer[1] if entry]

    async def renew(self, consumer: str, stream: str, entry_ids: list[str]) -> set[str]:
        """Renew this consumer's leases; the ids it still holds (the others were reclaimed)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry_id in entry_ids:
                pipe.xpending_range(stream, GROUP, min=entry_id, max=entry_id, count=1)
            owners = await pipe.execute()
        held = [entry_id for entry_id, found in zip(entry_ids, owners) if found and found[0]["consumer"] == consumer]
        if held:
            await self.redis.xclaim(stream, GROUP, consumer, 0, held, justid=True)
        return set(held)

    async def done(self, stream: str, entry_id: str) -> None:
        """The entry leaves the queue: acknowledged and deleted."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(stream, GROUP, entry_id)
            pipe.xdel(stream, entry_id)
            await pipe.execute()

    async def hand_back(self, stream: str, entry_id: str, job_id: str) -> None:
        """Queue the job again at once (a worker shutting down): a fresh entry replaces the leased one."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, {"id": job_id})
            pipe.xack(stream, GROUP, entry_id)
            pipe.xdel(stream, entry_id)
            await pipe.execute()

    # Workers --------------------------------------------------------------------------------------

    async def beat(self, name: str, info: dict[str, Any], ttl_s: float) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(worker_key(name), json.dumps(info), px=int(ttl_s * 1000))
            pipe.sadd(PREFIX + "workers", name)
            await pipe.execute()

    async def leave(self, name: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(worker_key(name))
            pipe.srem(PREFIX + "workers", name)
            await pipe.execute()

    async def live_workers(self) -> list[dict[str, Any]]:
        """The workers whose heartbeat has not expired, by name; the others leave the set."""
        names = sorted(await self.redis.smembers(PREFIX + "workers"))
        if not names:
            return []
        beats = await self.redis.mget([worker_key(name) for name in names])
        gone = [name for name, beat in zip(names, beats) if beat is None]
        if gone:
            await self.redis.srem(PREFIX + "workers", *gone)
        return [json.loads(beat) for beat in beats if beat is not None]
