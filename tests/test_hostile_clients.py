"""Hostile clients: slow bodies, bursts. Every request is answered; none holds a slot it does not use.
Slow bodies and headers never reach an engine (the fake docker CLI stands in); the burst runs real
containers."""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import pytest
from conftest import containers_left

GOOD = {
    "language": "python",
    "solution": "def add(a, b):\n    return a + b\n",
    "tests": "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


def rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.parametrize("settings_overrides", [{"body_timeout_s": 1}])
async def test_trickled_body_times_out_without_a_slot(fake_client):
    reader, writer = await asyncio.open_connection(fake_client.host, fake_client.port)
    writer.write(
        b"POST /api/execute/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"language": '
    )
    await writer.drain()
    health = await (await fake_client.get("/health")).json()
    assert health["executions"]["running"] == 0 and health["executions"]["queued"] == 0
    answer = await asyncio.wait_for(reader.read(65536), timeout=10)
    assert b" 408 " in answer.split(b"\r\n", 1)[0] and b"request.timeout" in answer
    writer.close()


@pytest.mark.parametrize("settings_overrides", [{"idle_timeout_s": 1}])
async def test_trickled_headers_are_cut_off_without_a_slot(fake_client):
    reader, writer = await asyncio.open_connection(fake_client.host, fake_client.port)
    for part in (b"POST /api/execute/validate HTTP/1.1\r\n", b"Host: x\r\n", b"Content-Type: app"):
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(0.3)
    health = await (await fake_client.get("/health")).json()
    assert health["executions"]["running"] == 0 and health["executions"]["queued"] == 0
    assert await asyncio.wait_for(reader.read(), timeout=10) == b"", "the server should close the connection"
    writer.close()


async def test_burst_of_1000_requests_is_answered(client, require_image):
    require_image("python")
    before = rss_kb()

    async def one():
        response = await client.post("/api/execute/validate", json=GOOD)
        await response.read()
        return response.status, response.headers.get("Retry-After")

    answers = await asyncio.gather(*(one() for _ in range(1000)))
    statuses = Counter(status for status, _ in answers)
    assert sum(statuses.values()) == 1000
    assert set(statuses) <= {200, 429}, statuses
    assert statuses[200] >= 5
    assert all(retry for status, retry in answers if status == 429)
    assert rss_kb() - before < 150 * 1024
    assert await containers_left(client) == []
