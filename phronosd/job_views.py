"""HTTP endpoints of the jobs API. Each docstring states the request, the response and the statuses."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from .errors import BadRequest
from .job_store import FINISHED
from .jobs import JobService, check_batch, describe
from .keys import JOBS, SETTINGS
from .logs import client_address
from .middlewares import OWNER, read_json

routes = web.RouteTableDef()
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
KEEPALIVE_S = 15.0


def caller(request: web.Request) -> tuple[str, str]:
    """(owner, client): jobs belong to the bearer token; without tokens the client address is the
    fairness key."""
    owner = request.get(OWNER, "")
    return owner, owner or client_address(request, request.app[SETTINGS].trusted_proxies)


async def body_of(request: web.Request) -> Any:
    settings = request.app[SETTINGS]
    return await read_json(request, settings.max_body_bytes, settings.body_timeout_s)


@routes.post("/api/jobs", name="jobs_submit")
async def submit(request: web.Request) -> web.Response:
    """Submit one job. Body: schemas/job.json (`request` is checked against its kind's schema). 202 with
    the job and `Location`; 200 with the earlier job for a known `idempotencyKey`; 400 bad request or
    webhook host refused, 429 too many queued jobs, 503 the job database failed."""
    service = request.app[JOBS]
    spec = service.check(await body_of(request), "$")
    owner, client = caller(request)
    [(job, created)] = await service.submit([spec], owner, client)
    return web.json_response(
        describe(job, with_result=not created),
        status=202 if created else 200,
        headers={"Location": f"/api/jobs/{job.id}"},
    )


@routes.post("/api/jobs/batch", name="jobs_batch")
async def submit_batch(request: web.Request) -> web.Response:
    """Submit several jobs, all or nothing. Body: schemas/job-batch.json (at most `max_batch_jobs`).
    202 `{"ids": [...]}` in the order given; errors as for one job, naming `$.jobs[i]...`."""
    service = request.app[JOBS]
    specs = check_batch(service, await body_of(request))
    owner, client = caller(request)
    submitted = await service.submit(specs, owner, client)
    return web.json_response({"ids": [job.id for job, _ in submitted]}, status=202)


@routes.get("/api/jobs", name="jobs_list")
async def listing(request: web.Request) -> web.Response:
    """The caller's recent jobs, newest first, without results. Query: `status` (one of the job
    statuses), `limit` (1 to 1000, default 50). 200 schemas/job-list.json; 400 bad query."""
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(
            "request.query",
            f"status must be one of {', '.join(STATUSES)}",
            [{"path": "status", "problem": "not a job status"}],
        )
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise BadRequest(
            "request.query",
            "limit must be a whole number from 1 to 1000",
            [{"path": "limit", "problem": "out of range"}],
        )
    owner, _ = caller(request)
    jobs = await request.app[JOBS].listing(owner, status, limit)
    return web.json_response({"jobs": [describe(job, with_result=False) for job in jobs]})


@routes.get("/api/jobs/{id}", name="job")
async def job_status(request: web.Request) -> web.Response:
    """The job: status, progress, result (once succeeded) or error (once failed). 200
    schemas/job-status.json; 404 unknown id (or another caller's job)."""
    job = await request.app[JOBS].get(request.match_info["id"], caller(request)[0])
    return web.json_response(describe(job))


@routes.delete("/api/jobs/{id}", name="job_cancel")
async def cancel(request: web.Request) -> web.Response:
    """Cancel: a queued job never starts, a running one has its container removed at once; a finished
    job is left as it is. 200 with the job; 404 unknown id."""
    job = await request.app[JOBS].cancel(request.match_info["id"], caller(request)[0])
    return web.json_response(describe(job))


@routes.get("/api/jobs/{id}/events", name="job_events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events of one job: `status` on each change, `progress` while it runs (at least every
    10 % of the timed runs), then `result` (the job as GET /api/jobs/{id} gives it) and the stream
    ends. Reconnecting with `Last-Event-ID` resumes after that event. 404 unknown id."""
    service: JobService = request.app[JOBS]
    job = await service.get(request.match_info["id"], caller(request)[0])
    try:
        last = int(request.headers.get("Last-Event-ID", "0"))
    except ValueError:
        last = 0
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    if job.status in FINISHED and not service.has_events(job.id):
        # Finished before this daemon started: its end is all there is to tell.
        for number, (kind, data) in enumerate((("status", {"status": job.status}), ("result", describe(job))), 1):
            if number > last:
                await send(response, number, kind, data)
        return response
    log = service.log(job.id)
    while True:
        async with log.changed:  # never held while writing: a slow client must not hold up the job
            if not log.ended and not any(event[0] > last for event in log.events):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(KEEPALIVE_S):  # not wait_for: on 3.11 it can lose a cancel
                        await log.changed.wait()
            pending = [event for event in log.events if event[0] > last]
            ended = log.ended
        if not pending and ended:
            return response
        if not pending:
            await response.write(b": keep-alive\n\n")
        for number, kind, data in pending:
            await send(response, number, kind, data)
            last = number


async def send(response: web.StreamResponse, number: int, kind: str, data: Any) -> None:
    await response.write(f"id: {number}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode())
