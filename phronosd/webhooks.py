"""Webhooks of finished jobs: which URLs may be called (setting `webhook_allow`), signing, and
delivery with retries.

An entry of `webhook_allow` is a host name (`hooks.example.com`) or an address or network
(`203.0.113.7`, `10.1.0.0/16`). A URL is accepted when its host is a listed name, or an address
inside a listed network. At delivery every address the name resolves to is checked again: a listed
name may only lead to public addresses unless a listed network holds the address, so DNS cannot
point us at cloud metadata (169.254.169.254) or the host's private services. Redirects are never
followed. Nothing is allowed by default.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from .errors import BadRequest

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Phronosd-Signature"
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 300.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookPolicy:
    names: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, entries: tuple[str, ...]) -> WebhookPolicy:
        names, networks = set(), []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def in_networks(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def check_url(self, url: str, path: str) -> None:
        """At submission: refuse (400 `request.webhook`) a URL whose host is not allowed."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        problem = None
        if parts.scheme not in ("http", "https") or not host:
            problem = "not an http(s) URL with a host"
        else:
            try:
                literal: Address | None = ipaddress.ip_address(host)
            except ValueError:
                literal = None
            if literal is not None and not self.in_networks(literal):
                problem = "the address is not in a network allowed by the webhook_allow setting"
            elif literal is None and host not in self.names:
                problem = "the host is not allowed by the webhook_allow setting"
        if problem:
            raise BadRequest("request.webhook", f"webhook URL refused: {problem}", [{"path": path, "problem": problem}])

    def check_address(self, host: str, address: Address) -> bool:
        """At delivery: may we connect to `address`, which `host` resolved to?"""
        if self.in_networks(address):
            return True
        return host.lower().rstrip(".") in self.names and address.is_global


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver, refusing any answer the policy does not allow (no partial answers)."""

    def __init__(self, policy: WebhookPolicy):
        self.policy = policy
        self.inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self.inner.resolve(host, port, family)
        refused = [a["host"] for a in answers if not self.policy.check_address(host, ipaddress.ip_address(a["host"]))]
        if refused:
            raise OSError(f"webhook host {host} resolves to {refused[0]}, which webhook_allow does not allow")
        return answers

    async def close(self) -> None:
        await self.inner.close()


class WebhookSender:
    """POSTs signed notifications; retries with exponential backoff for `retry_for_s`, then gives up."""

    def __init__(self, policy: WebhookPolicy, timeout_s: float, retry_for_s: float):
        self.policy = policy
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retry_for_s = retry_for_s
        self.session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(resolver=CheckedResolver(self.policy), use_dns_cache=False)
        self.session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def post_once(self, url: str, secret: str, body: bytes) -> str | None:
        """One attempt; None on a 2xx answer, else why it failed."""
        assert self.session is not None
        parts = urlsplit(url)
        literal = parts.hostname or ""
        try:
            address = ipaddress.ip_address(literal)
        except ValueError:
            address = None
        if address is not None and not self.policy.check_address(literal, address):
            return "the address is no longer allowed by webhook_allow"
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, body)}
        try:
            async with self.session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"[:300]

    async def deliver(
        self, url: str, secret: str, payload: dict[str, Any], record: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> None:
        """Deliver until it succeeds or `retry_for_s` has passed; `record` keeps each attempt's state."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.retry_for_s
        wait, attempts = FIRST_RETRY_S, 0
        while True:
            attempts += 1
            error = await self.post_once(url, secret, body)
            if error is None:
                await record({"state": "delivered", "attempts": attempts, "lastError": None})
                return
            if loop.time() + wait > give_up_at:
                log.warning("webhook of job %s given up after %d attempts: %s", payload.get("id"), attempts, error)
                await record({"state": "failed", "attempts": attempts, "lastError": error})
                return
            await record({"state": "pending", "attempts": attempts, "lastError": error})
            await asyncio.sleep(wait)
            wait = min(wait * 2, MAX_RETRY_S)
