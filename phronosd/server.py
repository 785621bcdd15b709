"""Serving the app: the listening sockets (inherited from systemd, or our own TCP or Unix socket)
are up before READY=1 is sent; SIGTERM/SIGINT send STOPPING=1 and shut down within the grace period."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import signal
import socket
import stat

from aiohttp import web

from .app import create_app
from .logs import REQUEST_LOGGER, RequestLogger
from .malformed import ApiAppRunner
from .settings import Settings
from .systemd import Notifier, forget_activation_environment, inherited_sockets

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


def bound_unix_socket(path: str, mode: int, group: str | None) -> socket.socket:
    """Bind the socket and set its mode and group before it listens, so no client ever sees it with
    looser permissions."""
    remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if group is not None:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                raise OSError(f"setting unix_socket_group: no group named {group!r}") from None
            os.chown(path, -1, gid)
        os.chmod(path, mode)
    except BaseException:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return sock


def sites_for(runner: web.AppRunner, settings: Settings) -> tuple[list[web.BaseSite], str | None]:
    """The sites to start and the Unix socket path this process owns (to remove at exit).
    Sockets passed by systemd win over the host/port/unix_socket settings."""
    inherited = inherited_sockets()
    if inherited:
        forget_activation_environment()
        for passed in inherited:
            log.info("serving socket fd %d (%s) passed by systemd", passed.fd, passed.name)
        return [web.SockSite(runner, socket.socket(fileno=passed.fd)) for passed in inherited], None
    if settings.unix_socket:
        sock = bound_unix_socket(settings.unix_socket, settings.unix_socket_mode, settings.unix_socket_group)
        return [web.SockSite(runner, sock)], settings.unix_socket
    return [web.TCPSite(runner, settings.host, settings.port)], None


def runner_options(settings: Settings) -> dict:
    """How connections are served; the tests' server uses the same options."""
    return {
        "shutdown_timeout": settings.shutdown_grace_s,
        # aiohttp closes a connection that has not completed a request this long after it opened
        # (or after its last response): trickled headers cannot hold a connection open.
        "keepalive_timeout": settings.idle_timeout_s,
        "access_log_class": RequestLogger,
        "access_log": logging.getLogger(REQUEST_LOGGER),
    }


async def ping_watchdog(notifier: Notifier, interval: float) -> None:
    """Runs on the event loop, so a loop that stops turning stops the pings and systemd restarts us."""
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)


async def serve(settings: Settings) -> None:
    notifier = Notifier()
    app = create_app(settings)
    # A client that disconnects cancels its handler, which removes its container at once.
    runner = ApiAppRunner(app, handler_cancellation=True, **runner_options(settings))
    await runner.setup()
    owned_socket = None
    watchdog = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        sites, owned_socket = sites_for(runner, settings)
        for site in sites:
            await site.start()
        where = ", ".join(site.name for site in sites)
        log.info("phronosd listening on %s", where)
        notifier.ready(f"listening on {where}")
        if notifier.watchdog_s:
            watchdog = asyncio.create_task(ping_watchdog(notifier, notifier.watchdog_s))
        await stop.wait()
        log.info("shutting down: waiting up to %.0f s for running requests", settings.shutdown_grace_s)
        notifier.stopping("shutting down")
    finally:
        await runner.cleanup()
        if watchdog is not None:
            watchdog.cancel()
        if owned_socket:
            remove_stale_socket(owned_socket)
