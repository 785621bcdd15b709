"""The OpenAPI 3.1 document, built from the router and the `schemas/` files the validators use.

Each schema file becomes `components/schemas/<file stem>` and each of its `$defs` becomes
`<file stem>.<name>`; references between files are rewritten to point there. A route without an
entry in OPERATIONS stops start-up, so the document cannot silently miss an endpoint.
"""

from __future__ import annotations

import copy
import inspect
import re
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from aiohttp import web

from .keys import SCHEMAS
from .request_schemas import SchemaSet

REF_PREFIX = "#/components/schemas/"
ERROR_STATUSES = {
    "400": "Bad request: schema, JSON, text, limit, language or file-name problem",
    "401": "A bearer token is required and was missing or not accepted (when tokens are configured)",
    "408": "The body did not arrive within body_timeout_s",
    "413": "The body is larger than max_body_bytes",
    "415": "The body is not application/json",
    "429": "The queue is full; see Retry-After",
    "500": "Internal error; quote the request id",
    "503": "Docker unreachable, image missing, or shutting down",
}


@dataclass(frozen=True)
class Operation:
    summary: str
    responses: dict[str, tuple[str, str | None]]  # status -> (description, schema name or None)
    request: str | None = None
    media_type: str = "application/json"
    tags: tuple[str, ...] = field(default=("service",))


OPERATIONS = {
    "health": Operation(
        "Liveness and readiness",
        {"200": ("Docker answers", "health"), "503": ("Docker is unreachable", "health")},
    ),
    "languages": Operation(
        "Languages, their conventions and images", {"200": ("The languages", "languages")}, tags=("execute",)
    ),
    "validate": Operation(
        "Run a suite once",
        {"200": ("The code ran; see status", "validate-result")},
        request="validate",
        tags=("execute",),
    ),
    "run": Operation(
        "Validate, then time the suite",
        {"200": ("The code ran; see status and measurement", "run-result")},
        request="run",
        tags=("execute",),
    ),
    "compare": Operation(
        "Which solution is faster: validate each, measure those that pass interleaved, compare them",
        {"200": ("The solutions ran; see each one's status and the comparison", "compare-result")},
        request="compare",
        tags=("execute",),
    ),
    "jobs_submit": Operation(
        "Submit a job (asynchronous validate, run or compare)",
        {
            "202": ("Queued; Location names the job", "job-status"),
            "200": ("A known idempotencyKey: the earlier job", "job-status"),
        },
        request="job",
        tags=("jobs",),
    ),
    "jobs_batch": Operation(
        "Submit several jobs, all or nothing",
        {"202": ("Queued, ids in the order given", "job-batch-result")},
        request="job-batch",
        tags=("jobs",),
    ),
    "jobs_list": Operation(
        "The caller's recent jobs (query: status, limit)", {"200": ("Newest first", "job-list")}, tags=("jobs",)
    ),
    "job": Operation(
        "A job: status, progress, result or error",
        {"200": ("The job", "job-status"), "404": ("Unknown id", "error")},
        tags=("jobs",),
    ),
    "job_cancel": Operation(
        "Cancel a job", {"200": ("The job", "job-status"), "404": ("Unknown id", "error")}, tags=("jobs",)
    ),
    "job_events": Operation(
        "Server-sent events of a job: status, progress, result (Last-Event-ID resumes)",
        {"200": ("text/event-stream", None), "404": ("Unknown id", "error")},
        media_type="text/event-stream",
        tags=("jobs",),
    ),
    "workers": Operation(
        "The cluster's live workers (an API node with queue_url): name, languages, capacity, running",
        {"200": ("The workers", None), "503": ("Redis is unreachable", "error")},
        tags=("jobs",),
    ),
    "metrics": Operation("Prometheus metrics", {"200": ("Text exposition format", None)}, media_type="text/plain"),
    "openapi": Operation("This document", {"200": ("OpenAPI 3.1", None)}),
}


def rewrite_refs(node: Any, stem: str) -> Any:
    """Point `other.json#/$defs/x`, `#/$defs/x` and `other.json` at the components."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                target, _, pointer = value.partition("#")
                owner = target.removesuffix(".json") if target else stem
                name = owner + "." + pointer.removeprefix("/$defs/") if pointer else owner
                out[key] = REF_PREFIX + name
            else:
                out[key] = rewrite_refs(value, stem)
        return out
    if isinstance(node, list):
        return [rewrite_refs(item, stem) for item in node]
    return node


def components(schemas: SchemaSet) -> dict[str, Any]:
    result = {}
    for stem, document in sorted(schemas.documents.items()):
        body = {k: v for k, v in copy.deepcopy(document).items() if k not in ("$schema", "$id", "$defs")}
        for name, definition in document.get("$defs", {}).items():
            result[f"{stem}.{name}"] = rewrite_refs(definition, stem)
        result[stem] = rewrite_refs(body, stem)
    return result


def content(media_type: str, schema: str | None, schemas: SchemaSet) -> dict[str, Any]:
    entry: dict[str, Any] = {"schema": {"$ref": REF_PREFIX + schema}} if schema else {}
    examples = schemas.documents[schema].get("examples", []) if schema else []
    if examples:
        entry["example"] = examples[0]
    return {media_type: entry}


def operation(route: web.AbstractRoute, spec: Operation, schemas: SchemaSet) -> dict[str, Any]:
    request_id = {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}}
    responses = {
        status: {
            "description": text,
            "headers": request_id,
            "content": content("application/json" if schema == "error" else spec.media_type, schema, schemas),
        }
        for status, (text, schema) in spec.responses.items()
    }
    if spec.request:
        responses.update(
            {
                status: {
                    "description": text,
                    "headers": request_id,
                    "content": content("application/json", "error", schemas),
                }
                for status, text in ERROR_STATUSES.items()
            }
        )
    result: dict[str, Any] = {
        "operationId": route.name,
        "summary": spec.summary,
        "description": inspect.getdoc(route.handler) or spec.summary,
        "tags": list(spec.tags),
        "parameters": [
            {"$ref": "#/components/parameters/RequestId"},
            *(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", route.resource.canonical if route.resource else "")
            ),
        ],
        "responses": responses,
    }
    if spec.request:
        result["requestBody"] = {"required": True, "content": content("application/json", spec.request, schemas)}
    return result


def build_document(app: web.Application) -> dict[str, Any]:
    schemas = app[SCHEMAS]
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        if route.method == "HEAD" or route.name is None:
            continue
        if route.name not in OPERATIONS:
            raise RuntimeError(f"route {route.name!r} has no entry in phronosd/openapi.py OPERATIONS")
        if route.resource is None:
            continue
        path = route.resource.canonical
        paths.setdefault(path, {})[route.method.lower()] = operation(route, OPERATIONS[route.name], schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "phronosd",
            "version": version("phronosd"),
            "description": "Runs solutions against their test suites in hardened containers and measures them.",
        },
        "paths": paths,
        "components": {
            "schemas": components(schemas),
            "headers": {
                "RequestId": {
                    "description": "The request's id (echoed when valid, else generated)",
                    "schema": {"type": "string"},
                },
            },
            "parameters": {
                "RequestId": {
                    "name": "X-Request-ID",
                    "in": "header",
                    "required": False,
                    "description": "Your id for this request: 1-64 of A-Z a-z 0-9 . _ -",
                    "schema": {"type": "string"},
                },
            },
        },
    }


OPENAPI = web.AppKey("openapi", dict)


async def openapi_view(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API."""
    return web.json_response(request.app[OPENAPI])


def setup_openapi(app: web.Application) -> None:
    """Register `GET /openapi.json` and build the document: call it after every other route is added."""
    app.router.add_get("/openapi.json", openapi_view, name="openapi")
    app[OPENAPI] = build_document(app)
