"""The cluster's parts of the app (setting `queue_url` names a Redis server): imported only then, so
a daemon on the embedded queue never loads the Redis client."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from .cluster_jobs import ClusterJobs
from .docker import DockerCli
from .images import Images
from .keys import EXECUTOR, IMAGES, JOBS, PROBE, REGISTRY, SCHEMAS, SETTINGS
from .queue_redis import RedisQueue
from .webhooks import WebhookPolicy, WebhookSender
from .worker import Worker


async def cluster_ctx(app: web.Application) -> AsyncIterator[None]:
    """The jobs API on Redis (unless role is worker) and a worker (unless role is api)."""
    settings, registry = app[SETTINGS], app[REGISTRY]
    queue = RedisQueue(settings.queue_url, list(registry.languages))
    policy = WebhookPolicy.parse(settings.webhook_allow)
    sender = WebhookSender(policy, settings.webhook_timeout_s, settings.webhook_retry_s)
    await sender.open()
    parts: list[ClusterJobs | Worker] = []
    if settings.role != "worker":
        if IMAGES not in app:  # an API node: image tags to show, never a docker call
            languages = list(registry.languages.values())
            app[IMAGES] = Images(
                DockerCli(settings.docker_binary), settings.image_prefix, languages, settings.image_libraries
            )
        app[JOBS] = service = ClusterJobs(queue, settings, registry, app[SCHEMAS], policy)
        parts.append(service)
    if settings.role != "api":
        parts.append(Worker(queue, app[EXECUTOR], app[IMAGES], app[PROBE], settings, registry, sender))
    for part in parts:
        await part.start()
    yield
    for part in reversed(parts):
        await part.close()
    await sender.close()
    await queue.close()
