"""Serving the app: sockets up first, then a clean shutdown on SIGTERM/SIGINT within the grace period."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat

from aiohttp import web

from .app import create_app
from .settings import Settings

log = logging.getLogger(__name__)


def remove_stale_socket(path: str) -> None:
    """A socket file left by a previous run would make bind fail; anything else there is an error."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"{path} exists and is not a socket")
    os.unlink(path)


async def serve(settings: Settings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        shutdown_timeout=settings.shutdown_grace_s,
        access_log_format='%a "%r" %s %b %Tfs request_id=%{X-Request-ID}o',
    )
    await runner.setup()
    if settings.unix_socket:
        remove_stale_socket(settings.unix_socket)
        site: web.BaseSite = web.UnixSite(runner, settings.unix_socket)
    else:
        site = web.TCPSite(runner, settings.host, settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await site.start()
        log.info("phronosd listening on %s", site.name)
        await stop.wait()
        log.info("shutting down: waiting up to %.0f s for running requests", settings.shutdown_grace_s)
    finally:
        await runner.cleanup()
        if settings.unix_socket:
            remove_stale_socket(settings.unix_socket)
