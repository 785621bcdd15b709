"""Typed keys of the application's state."""

from __future__ import annotations

from aiohttp import web

from .docker import DockerCli
from .executor import Executor
from .health import DockerProbe
from .images import Images
from .languages import Registry
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
STARTED = web.AppKey("started", float)
EXECUTION_RESULT = web.RequestKey("execution_result", dict)
