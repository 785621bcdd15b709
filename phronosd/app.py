"""The application factory used by `phronosd serve` and by the tests."""

from __future__ import annotations

import logging
import shutil
import time
from typing import AsyncIterator

from aiohttp import web

from .docker import DockerCli, DockerUnavailable
from .executor import Executor
from .health import DockerProbe
from .images import Images
from .keys import DOCKER, EXECUTOR, IMAGES, PROBE, REGISTRY, SANDBOX, SCHEMAS, SETTINGS, STARTED
from .languages import Registry
from .lanes import keep_off_lanes, plan_cpus
from .middlewares import auth_middleware, cors_middleware, request_context
from .metrics import setup_metrics
from .openapi import setup_openapi
from .sandbox import Sandbox
from .request_schemas import SchemaSet
from .settings import Settings
from .views import routes

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Start-up cannot go on; the message is the one line shown to the operator."""


async def execution_ctx(app: web.Application) -> AsyncIterator[None]:
    """Docker, images, sandbox and executor; orphans swept at start and leftovers at shutdown."""
    settings = app[SETTINGS]
    if shutil.which(settings.docker_binary) is None:
        raise StartupError(f"the docker CLI {settings.docker_binary!r} was not found (setting docker_binary)")
    docker = DockerCli(settings.docker_binary)
    images = Images(docker, settings.image_prefix, list(app[REGISTRY].languages.values()))
    sandbox = Sandbox(docker, settings.instance_name)
    probe = DockerProbe(docker, images, settings.docker_probe_ttl_s, on_reachable=sandbox.retry_removals)
    try:
        cpus = plan_cpus(settings.measure_cpus, lane=settings.measure_lane)
    except ValueError as exc:
        raise StartupError(f"setting measure_cpus: {exc}") from None
    keep_off_lanes(cpus)
    app[DOCKER], app[IMAGES], app[SANDBOX], app[PROBE] = docker, images, sandbox, probe
    app[EXECUTOR] = executor = Executor(settings, app[REGISTRY], images, sandbox, probe, cpus)
    await sweep(sandbox, "start-up")
    await probe.get()
    yield
    executor.accepting = False
    await sandbox.drain_removals()
    await sweep(sandbox, "shutdown")


async def sweep(sandbox: Sandbox, when: str) -> None:
    try:
        count = await sandbox.sweep()
    except DockerUnavailable as exc:
        log.warning("container sweep at %s skipped: %s", when, exc.message)
        sandbox.cleanup_failures += 1
        return
    if count:
        log.info("container sweep at %s removed %d container(s)", when, count)


def create_app(settings: Settings) -> web.Application:
    """Build the application; schemas and handlers are loaded here, so a broken one stops start-up."""
    middlewares = [request_context]
    if settings.cors_origins:
        middlewares.append(cors_middleware(settings.cors_origins))
    tokens = settings.tokens()
    if tokens:
        middlewares.append(auth_middleware(tokens))
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[STARTED] = time.monotonic()
    app[SCHEMAS] = SchemaSet.load()
    app[REGISTRY] = Registry.discover()
    app.cleanup_ctx.append(execution_ctx)
    app.add_routes(routes)
    setup_metrics(app)
    setup_openapi(app)  # last: the document covers every route added before it
    return app
