"""Typed keys of the application's state."""

from __future__ import annotations

from aiohttp import web

from .docker import DockerCli
from .executor import Executor
from .health import DockerProbe
from .images import Images
from .jobs import JobService
from .languages import Registry
from .pool import WarmPool
from .request_schemas import SchemaSet
from .sandbox import Sandbox
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DOCKER = web.AppKey("docker", DockerCli)
REGISTRY = web.AppKey("registry", Registry)
SCHEMAS = web.AppKey("schemas", SchemaSet)
IMAGES = web.AppKey("images", Images)
SANDBOX = web.AppKey("sandbox", Sandbox)
EXECUTOR = web.AppKey("executor", Executor)
PROBE = web.AppKey("probe", DockerProbe)
POOL = web.AppKey("pool", WarmPool)
JOBS = web.AppKey("jobs", JobService)
STARTED = web.AppKey("started", float)
# The executions a request ran (one, or each solution of a compare), for the request log and metrics.
EXECUTIONS = web.RequestKey("executions", list)
