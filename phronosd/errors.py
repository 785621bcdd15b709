"""The API's error types: every 4xx/5xx leaves the daemon as one of these, in one JSON shape."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error with a stable dotted `code`, an HTTP status and a message safe to show a client."""

    status = 500

    def __init__(
        self,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}


class BadRequest(ApiError):
    """The client's request is wrong; sending it again will not help."""

    status = 400


class Unauthorized(ApiError):
    status = 401

    def __init__(self, code: str, message: str):
        super().__init__(code, message, headers={"WWW-Authenticate": 'Bearer realm="phronosd"'})


class NotFound(ApiError):
    status = 404


class RequestTimeout(ApiError):
    status = 408


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class TooManyRequests(ApiError):
    status = 429


class Unavailable(ApiError):
    """Docker or an image is missing: our side, and possibly temporary."""

    status = 503


class Internal(ApiError):
    status = 500
