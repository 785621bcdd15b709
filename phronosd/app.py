"""The application factory used by `phronosd serve` and by the tests."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator

from aiohttp import web

from .docker import DockerCli, DockerUnavailable
from .execution_request import default_memory_mb
from .executor import Executor, limits_for
from .health import DockerProbe
from .images import Images
from .job_store import JobStore
from .job_views import routes as job_routes
from .jobs import JobService
from .keys import DOCKER, EXECUTOR, IMAGES, JOBS, POOL, PROBE, REGISTRY, SANDBOX, SCHEMAS, SETTINGS, STARTED
from .lanes import keep_off_lanes, plan_cpus
from .languages import Language, Registry
from .metrics import setup_metrics
from .middlewares import auth_middleware, request_context, setup_cors
from .openapi import setup_openapi
from .ownership import InstanceTaken, claim_instance
from .pool import WarmPool
from .request_schemas import SchemaSet
from .sandbox import Sandbox, registered_runtimes
from .settings import Settings
from .views import health, routes
from .webhooks import WebhookPolicy, WebhookSender
from .workers_view import routes as workers_routes

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Start-up cannot go on; the message is the one line shown to the operator."""


async def execution_ctx(app: web.Application) -> AsyncIterator[None]:
    """Docker, images, sandbox and executor; orphans swept at start and leftovers at shutdown."""
    settings = app[SETTINGS]
    if shutil.which(settings.docker_binary) is None:
        raise StartupError(f"the docker CLI {settings.docker_binary!r} was not found (setting docker_binary)")
    docker = DockerCli(settings.docker_binary)
    images = Images(docker, settings.image_prefix, list(app[REGISTRY].languages.values()), settings.image_libraries)
    sandbox = Sandbox(docker, settings.instance_name)
    probe = DockerProbe(docker, images, settings.docker_probe_ttl_s, on_reachable=sandbox.retry_removals)
    try:
        cpus = plan_cpus(settings.measure_cpus, lane=settings.measure_lane)
    except ValueError as exc:
        raise StartupError(f"setting measure_cpus: {exc}") from None
    keep_off_lanes(cpus)
    await require_runtimes(docker, settings, app[REGISTRY])
    pooled = pool_languages(app[REGISTRY], settings.warm_pool_languages)
    pool = WarmPool(
        docker,
        sandbox,
        images,
        pooled,
        {
            lang.name: limits_for(
                lang, settings, cpus, settings.default_timeout_ms, default_memory_mb(lang, settings), None
            )
            for lang in pooled
        },
        settings.pool_size(),
        settings.pool_idle_s,
    )
    app[DOCKER], app[IMAGES], app[SANDBOX], app[PROBE], app[POOL] = docker, images, sandbox, probe, pool
    app[EXECUTOR] = executor = Executor(settings, images, sandbox, probe, cpus, pool)
    try:
        claim = claim_instance(settings.instance_name)
    except InstanceTaken as exc:
        raise StartupError(str(exc)) from None
    with claim:  # held until the shutdown sweep is done: no other daemon of this instance sweeps meanwhile
        await sweep(sandbox, "start-up")
        await probe.get()
        pool.start()
        yield
        executor.accepting = False
        await pool.close()
        await sandbox.drain_removals()
        await executor.drain_held()
        await sweep(sandbox, "shutdown")


async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    """The jobs API: its SQLite store, webhook sender and dispatcher (after the executor exists)."""
    settings = app[SETTINGS]
    try:
        store = await JobStore.open(settings.database_path())
    except (OSError, sqlite3.Error) as exc:
        raise StartupError(f"setting database: cannot open {settings.database_path()}: {exc}") from None
    sender = WebhookSender(
        WebhookPolicy.parse(settings.webhook_allow), settings.webhook_timeout_s, settings.webhook_retry_s
    )
    await sender.open()
    app[JOBS] = service = JobService(store, app[EXECUTOR], settings, app[REGISTRY], app[SCHEMAS], sender)
    await service.start()
    yield
    await service.close()
    await sender.close()
    await store.close()


def pool_languages(registry: Registry, names: tuple[str, ...]) -> list[Language]:
    """The languages the warm pool keeps ready: those named by warm_pool_languages (default: all)
    whose harness can start before its job (`Language.poolable`)."""
    unknown = [name for name in names if name.lower() not in registry.by_alias]
    if unknown:
        raise StartupError(f"setting warm_pool_languages: unknown language {unknown[0]!r}")
    chosen = [registry.get(name) for name in names] if names else list(registry.languages.values())
    return [lang for lang in chosen if lang.poolable]


async def require_runtimes(docker: DockerCli, settings: Settings, registry: Registry) -> None:
    """Refuse to start when a language would run under a container runtime the engine has not
    registered (every request of it would fail); an engine that does not answer is only logged."""
    unknown = [name for name in settings.runtime_languages if name.lower() not in registry.languages]
    if unknown:
        known = ", ".join(registry.languages)
        raise StartupError(f"setting runtime_languages: unknown language {unknown[0]!r} (known: {known})")
    try:
        registered = await registered_runtimes(docker)
    except DockerUnavailable as exc:
        log.warning("container runtimes not checked at start-up: %s", exc.message)
        return
    missing = sorted(settings.runtimes(list(registry.languages)) - set(registered))
    if missing:
        raise StartupError(
            f"setting runtime: the Docker engine has no runtime {missing[0]!r} "
            f"(it has {', '.join(sorted(registered))}); `phronosd check` says how to register it"
        )


async def sweep(sandbox: Sandbox, when: str) -> None:
    try:
        count = await sandbox.sweep()
    except DockerUnavailable as exc:
        log.warning("container sweep at %s skipped: %s", when, exc.message)
        sandbox.cleanup_failures += 1
        return
    if count:
        log.info("container sweep at %s removed %d container(s)", when, count)


def add_routes(app: web.Application, settings: Settings) -> None:
    """A worker serves only /health (and /metrics); a cluster's API nodes also list the workers."""
    if settings.role == "worker":
        app.router.add_get("/health", health, name="health")
        return
    app.add_routes(routes)
    app.add_routes(job_routes)
    if settings.queue_url:
        app.add_routes(workers_routes)


def create_app(settings: Settings) -> web.Application:
    """Build the application; schemas and handlers are loaded here, so a broken one stops start-up."""
    app = web.Application(middlewares=[request_context], client_max_size=settings.max_body_bytes)
    if settings.cors_origins:
        setup_cors(app, settings.cors_origins)
    tokens = settings.tokens()
    if tokens:
        app.middlewares.append(auth_middleware(tokens))
    app[SETTINGS] = settings
    app[STARTED] = time.monotonic()
    app[REGISTRY] = registry = Registry.discover()
    app[SCHEMAS] = SchemaSet.load(tuple(registry.names_and_aliases()))
    if settings.role != "api":
        app.cleanup_ctx.append(execution_ctx)
    if settings.queue_url:
        from .cluster import cluster_ctx  # loads the Redis client: only for a cluster

        app.cleanup_ctx.append(cluster_ctx)
    else:
        app.cleanup_ctx.append(jobs_ctx)
    add_routes(app, settings)
    setup_metrics(app)
    setup_openapi(app)  # last: the document covers every route added before it
    return app
