"""HTTP endpoints. Each docstring states the request, the response and the status codes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web

from .execution_request import compare_request, execution_request
from .keys import EXECUTIONS, EXECUTOR, IMAGES, POOL, PROBE, REGISTRY, SCHEMAS, SETTINGS, STARTED
from .middlewares import read_json
from .workers_view import api_node_health, api_node_languages, remote_execute

routes = web.RouteTableDef()


def executed(request: web.Request, result: dict) -> web.Response:
    """The result as JSON; its executions are kept on the request for the request log line and the
    metrics."""
    request[EXECUTIONS] = result["solutions"] if "solutions" in result else [result]
    return web.json_response(result)


@routes.get("/health", name="health")
async def health(request: web.Request) -> web.Response:
    """Liveness and readiness. 200 `{"status": "ok", ...}` when Docker answers, else 503 `"unavailable"`."""
    app = request.app
    if app[SETTINGS].role == "api":
        return await api_node_health(request)
    docker = await app[PROBE].get()
    images, executor = app[IMAGES], app[EXECUTOR]
    body = {
        "status": "ok" if docker.reachable else "unavailable",
        "timestamp": datetime.now(UTC).isoformat(),
        "uptime": round(time.monotonic() - app[STARTED], 3),
        "docker": {"reachable": docker.reachable, "serverVersion": docker.server_version, "error": docker.error},
        "languages": {
            name: {"image": images.tag(name), "ready": images.ready(name)} for name in app[REGISTRY].languages
        },
        "pool": {"size": app[SETTINGS].pool_size(), "languages": app[POOL].counts()},
        "executions": {
            "running": executor.running,
            "queued": executor.queued,
            "capacity": app[SETTINGS].concurrency,
            "maxQueued": app[SETTINGS].max_queued,
            "measuring": {
                "cores": list(executor.lanes.cores),
                "busy": executor.lanes.busy,
                "waiting": executor.lanes.waiting,
            },
        },
    }
    return web.json_response(body, status=200 if docker.reachable else 503)


@routes.get("/api/languages", name="languages")
async def languages(request: web.Request) -> web.Response:
    """200 `{"languages": [{name, aliases, runtime, framework, image, ready, solutionFile, testFile, ...}]}`."""
    if request.app[SETTINGS].role == "api":
        return await api_node_languages(request)
    images = request.app[IMAGES]
    return web.json_response(
        {
            "languages": [
                {**lang.describe(images.versions(name)), "image": images.tag(name), "ready": images.ready(name)}
                for name, lang in request.app[REGISTRY].languages.items()
            ]
        }
    )


async def checked_body(request: web.Request, schema: str) -> dict:
    """The JSON body, read within the size and time limits and checked against `schemas/<schema>.json`."""
    settings = request.app[SETTINGS]
    body = await read_json(request, settings.max_body_bytes, settings.body_timeout_s)
    request.app[SCHEMAS].check(schema, body)
    return body


@routes.post("/api/execute/validate", name="validate")
async def validate(request: web.Request) -> web.Response:
    """Run the tests once. Body: schemas/validate.json. 200 with the verdict whenever the code ran;
    400 bad request, 413 too large, 415 not JSON, 429 queue full, 503 Docker or image missing."""
    body = await checked_body(request, "validate")
    if request.app[SETTINGS].role == "api":
        return executed(request, await remote_execute(request, "validate", body))
    typed = execution_request(body, request.app[SETTINGS], request.app[REGISTRY], measuring=False)
    return executed(request, await request.app[EXECUTOR].execute(typed))


@routes.post("/api/execute/compare", name="compare")
async def compare(request: web.Request) -> web.Response:
    """Validate 2 to 8 solutions of one suite; measure those that pass interleaved (one container, one
    measuring core, rounds in random order) and compare them to the first that passed. Body:
    schemas/compare.json. 200 with each solution's verdict, the comparison and the ranking; errors as
    for validate."""
    body = await checked_body(request, "compare")
    if request.app[SETTINGS].role == "api":
        return executed(request, await remote_execute(request, "compare", body))
    typed = compare_request(body, request.app[SETTINGS], request.app[REGISTRY])
    return executed(request, await request.app[EXECUTOR].compare(typed))


@routes.post("/api/execute/run", name="run")
async def run(request: web.Request) -> web.Response:
    """Validate, then time `runs` runs after `warmup` in the same container. Body: schemas/run.json.
    200 with the verdict and `measurement` (null unless every test passed); errors as for validate."""
    body = await checked_body(request, "run")
    if request.app[SETTINGS].role == "api":
        return executed(request, await remote_execute(request, "run", body))
    typed = execution_request(body, request.app[SETTINGS], request.app[REGISTRY], measuring=True)
    return executed(request, await request.app[EXECUTOR].execute(typed))
