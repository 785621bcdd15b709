"""What an API node of a cluster serves beyond the jobs API: `GET /api/workers`, its `/health` and
`/api/languages` (from the workers' heartbeats: it has no Docker engine of its own), and the
synchronous endpoints run as jobs. Nothing here imports the Redis client."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from .errors import Unavailable
from .job_views import caller
from .keys import IMAGES, JOBS, REGISTRY, STARTED

if TYPE_CHECKING:
    from .cluster_jobs import ClusterJobs

routes = web.RouteTableDef()


def cluster(request: web.Request) -> ClusterJobs:
    return cast("ClusterJobs", request.app[JOBS])


@routes.get("/api/workers", name="workers")
async def workers(request: web.Request) -> web.Response:
    """The live workers (heartbeat within 3 × `heartbeat_s`): `{"workers": [{name, languages,
    versions, capacity, running, measuring, startedAt, beatAt}]}`; 503 `jobs.storage` without Redis."""
    return web.json_response({"workers": await cluster(request).workers()})


async def live_workers(request: web.Request) -> tuple[list[dict[str, Any]], str | None]:
    """The live workers, or none and why (Redis unreachable)."""
    try:
        return await cluster(request).workers(), None
    except Unavailable as exc:
        return [], exc.message


def ready_languages(workers: list[dict[str, Any]]) -> set[str]:
    return {name for worker in workers for name in worker["languages"]}


async def api_node_health(request: web.Request) -> web.Response:
    """An API node's health: `ok` (200) only while Redis answers and a live worker has a ready image."""
    found, error = await live_workers(request)
    ready = ready_languages(found)
    ok = error is None and bool(ready)
    images = request.app[IMAGES]
    body = {
        "status": "ok" if ok else "unavailable",
        "role": "api",
        "timestamp": datetime.now(UTC).isoformat(),
        "uptime": round(time.monotonic() - request.app[STARTED], 3),
        "queue": {"reachable": error is None, "error": error},
        "workers": {
            "alive": len(found),
            "capacity": sum(worker["capacity"] for worker in found),
            "running": sum(worker["running"] for worker in found),
        },
        "languages": {
            name: {"image": images.tag(name), "ready": name in ready} for name in request.app[REGISTRY].languages
        },
    }
    return web.json_response(body, status=200 if ok else 503)


async def api_node_languages(request: web.Request) -> web.Response:
    """`GET /api/languages` of an API node: ready and versions as the live workers report them."""
    found, _ = await live_workers(request)
    versions: dict[str, dict[str, str]] = {}
    for worker in found:
        for name, known in worker.get("versions", {}).items():
            versions.setdefault(name, known)
    images = request.app[IMAGES]
    return web.json_response(
        {
            "languages": [
                {**lang.describe(versions.get(name, {})), "image": images.tag(name), "ready": name in versions}
                for name, lang in request.app[REGISTRY].languages.items()
            ]
        }
    )


async def remote_execute(request: web.Request, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """A synchronous endpoint on an API node: the request runs as a job on a worker, waited for."""
    owner, client = caller(request)
    return await cluster(request).execute_sync(kind, body, owner, client)
