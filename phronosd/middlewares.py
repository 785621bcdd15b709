"""Request ids, the one JSON error shape, CORS, bearer tokens, and reading a JSON body safely."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .errors import ApiError, BadRequest, PayloadTooLarge, RequestTimeout, Unauthorized, UnsupportedMediaType

log = logging.getLogger(__name__)

REQUEST_ID = web.RequestKey("request_id", str)
# Who owns the jobs a request creates: a hash of its bearer token ("" when no tokens are configured).
OWNER = web.RequestKey("owner", str)
REQUEST_ID_HEADER = "X-Request-ID"
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
HTTP_CODES = {
    400: "request.invalid",
    404: "route.not_found",
    405: "route.method_not_allowed",
    413: "request.too_large",
    415: "request.content_type",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_body(code: str, message: str, details: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}, "requestId": request_id}


def error_response(error: ApiError, request_id: str) -> web.Response:
    response = web.json_response(error_body(error.code, error.message, error.details, request_id), status=error.status)
    response.headers.update(error.headers)
    return response


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id and turn every failure into the JSON error shape (no stack traces)."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except ApiError as error:
        if error.status >= 500:
            log.error("request_id=%s %s %s: %s", request_id, error.status, error.code, error.message)
        response = error_response(error, request_id)
    except web.HTTPException as exc:
        code = HTTP_CODES.get(exc.status, f"http.{exc.status}")
        response = error_response(ApiError(code, exc.reason), request_id)
        response.set_status(exc.status)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("request_id=%s internal error", request_id)
        response = error_response(ApiError("internal", "internal error; quote the request id"), request_id)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def setup_cors(app: web.Application, origins: tuple[str, ...]) -> None:
    """Allow the configured origins (never `*` unless configured so). Preflights are answered by a
    middleware; the headers are added to every response as it is prepared, so error responses (made
    by `request_context` from a raised error) carry them too and a browser can read their body."""
    allowed = set(origins)

    def permitted(request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        return origin if origin is not None and (origin in allowed or "*" in allowed) else None

    @web.middleware
    async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS" and permitted(request) and "Access-Control-Request-Method" in request.headers:
            response = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = (
                "Content-Type, Authorization, X-Request-ID, Last-Event-ID"
            )
            response.headers["Access-Control-Max-Age"] = "600"
            return response
        return await handler(request)

    async def decorate(request: web.Request, response: web.StreamResponse) -> None:
        origin = permitted(request)
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "X-Request-ID, Retry-After, Location"
            response.headers["Vary"] = "Origin"

    app.middlewares.append(preflight)
    app.on_response_prepare.append(decorate)


def auth_middleware(tokens: tuple[str, ...], open_paths: frozenset[str] = frozenset({"/health"})):
    """Require `Authorization: Bearer <token>`; every configured token is compared in constant time."""
    accepted = [token.encode() for token in tokens]

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths or request.method == "OPTIONS":
            return await handler(request)
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not offered:
            raise Unauthorized("auth.required", "send Authorization: Bearer <token>")
        matches = [hmac.compare_digest(offered.strip().encode(), token) for token in accepted]
        if not any(matches):
            raise Unauthorized("auth.invalid", "the bearer token is not accepted")
        request[OWNER] = hashlib.sha256(offered.strip().encode()).hexdigest()[:32]
        return await handler(request)

    return auth


def check_text(value: Any) -> None:
    """Reject strings that cannot be written as UTF-8 (lone surrogates from `\\ud800` escapes).
    Iterative: a body nested thousands deep must not exhaust the interpreter's stack."""
    pending: list[tuple[Any, str]] = [(value, "$")]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest(
                    "request.invalid_text",
                    f"{path[:200]}: not valid Unicode text",
                    [{"path": path[:200], "problem": "contains an unpaired surrogate"}],
                ) from None
        elif isinstance(item, dict):
            pending.extend((child, f"{path}.{key}") for key, child in item.items())
        elif isinstance(item, list):
            pending.extend((child, f"{path}[{index}]") for index, child in enumerate(item))


async def read_json(request: web.Request, max_bytes: int, timeout_s: float) -> Any:
    """The request's JSON body: 415 if not JSON, 413 if too large (before reading it), 408 if it
    trickles in slower than `timeout_s`, 400 if malformed. No execution slot is held meanwhile."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("request.content_type", "send the body as application/json")
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge("request.too_large", f"the body is larger than {max_bytes} bytes")
    try:
        async with asyncio.timeout(timeout_s):
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge("request.too_large", f"the body is larger than {max_bytes} bytes") from None
    except TimeoutError:
        raise RequestTimeout("request.timeout", f"the body did not arrive within {timeout_s:g} s") from None
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("request.invalid_json", "the body is not UTF-8") from None
    except RecursionError:
        raise BadRequest("request.invalid_json", "the body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            "request.invalid_json", f"the body is not valid JSON: {exc.msg} at position {exc.pos}"
        ) from None
    except ValueError as exc:  # e.g. an integer literal longer than Python's digit limit
        raise BadRequest(
            "request.invalid_json", f"the body is not valid JSON: {str(exc).split(';')[0][:200]}"
        ) from None
    check_text(body)
    return body
