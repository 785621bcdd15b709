"""Logging: text (key=value) or JSON lines, and the one line logged per request.

The request line carries the request id, route name, status, client, duration and, for an
execution, language, verdict and timings. It never carries a body, a query string or a header
value other than the request id, so submitted code and tokens stay out of the logs.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .keys import EXECUTIONS, SETTINGS
from .middlewares import REQUEST_ID
from .settings import Settings

REQUEST_LOGGER = "phronosd.request"


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request fields, any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)


@functools.lru_cache(maxsize=8)
def trusted_networks(
    proxies: tuple[str, ...],
) -> tuple[bool, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]]:
    """(whether Unix-socket peers are trusted, the trusted IP networks)."""
    return "unix" in proxies, tuple(ipaddress.ip_network(p, strict=False) for p in proxies if p != "unix")


def is_trusted(address: str | None, proxies: tuple[str, ...]) -> bool:
    unix, networks = trusted_networks(proxies)
    if not address:  # a Unix-socket peer has no address
        return unix
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: web.BaseRequest, proxies: tuple[str, ...]) -> str:
    """The peer, or, when the peer is a trusted proxy, the last X-Forwarded-For hop that is not one
    (the hops left of it were written by the client and prove nothing)."""
    address = request.remote or "unix"
    if not is_trusted(request.remote, proxies):
        return address
    hops = [hop.strip() for value in request.headers.getall("X-Forwarded-For", []) for hop in value.split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not is_trusted(hop, proxies):
            return hop
        address = hop
    return address


def route_name(request: web.BaseRequest) -> str:
    """The route's name (a bounded set, fit for logs and metric labels), never the raw path; a request
    that never reached routing (an HTTP parse error) has none."""
    if not isinstance(request, web.Request) or request.get(REQUEST_ID) is None:
        return "unmatched"
    return request.match_info.route.name or "unmatched"


def request_fields(request: web.BaseRequest, response: web.StreamResponse, seconds: float) -> dict[str, Any]:
    proxies = (
        request.app[SETTINGS].trusted_proxies if isinstance(request, web.Request) and request.get(REQUEST_ID) else ()
    )
    fields: dict[str, Any] = {
        "request_id": request.get(REQUEST_ID),
        "method": request.method,
        "route": route_name(request),
        "path": request.path,
        "status": response.status,
        "client": client_address(request, proxies),
        "duration_ms": round(seconds * 1000, 1),
    }
    results = request.get(EXECUTIONS) or []
    if results:
        result = results[0]
        timings = result.get("timings", {})
        fields.update(
            language=result.get("language"),
            verdict=",".join(str(r.get("status")) for r in results),
            tests_passed=result.get("testsPassed"),
            tests_total=result.get("totalTests"),
            queue_ms=timings.get("queueMs"),
            container_ms=timings.get("containerMs"),
            compile_ms=timings.get("compileMs"),
            validate_ms=timings.get("validateMs"),
            measure_ms=timings.get("measureMs"),
            total_ms=timings.get("totalMs"),
        )
    return fields


class RequestLogger(AbstractAccessLogger):
    """aiohttp's access logger, replaced by the one structured line per request."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("request", extra={"fields": request_fields(request, response, time)})
