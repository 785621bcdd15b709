"""Requests aiohttp cannot parse (e.g. both `Content-Length` and `Transfer-Encoding`, a bad method,
oversized headers) never reach the app's middlewares: aiohttp answers them itself, in plain text,
and logs a traceback. These classes answer them in the API's error shape; the access log's line is
the only one logged."""

from __future__ import annotations

import logging
import uuid

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .errors import ApiError
from .middlewares import HTTP_CODES, error_response

log = logging.getLogger(__name__)


class ApiRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("the response was partly sent; the connection is closed")
        request_id = uuid.uuid4().hex
        code = (
            "request.malformed"
            if status == 400
            else HTTP_CODES.get(status, "internal" if status >= 500 else f"http.{status}")
        )
        reason = (message or (type(exc).__name__ if exc else "") or "malformed request").strip().splitlines()[0][:200]
        log.debug("request_id=%s status=%d %s: %s", request_id, status, code, reason)
        response = error_response(ApiError(code, f"the HTTP request could not be read: {reason}"), request_id)
        response.set_status(status)
        response.headers["X-Request-ID"] = request_id
        response.force_close()
        return response


class ApiServer(web.Server):
    def __call__(self) -> RequestHandler:
        return ApiRequestHandler(self, loop=self._loop, **self._kwargs)


class ApiAppRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer unparsable requests with `ApiRequestHandler`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = ApiServer
        return server
