"""When the warm pool refills (on the fake engine): a taken container's replacement starts when its
job ends, so that it does not load its runtime on the cores the job runs on; a request that finds the
pool empty (more requests than the pool holds) makes it refill at once."""

import asyncio
import time

import pytest
from helpers import pool_ready

SOLUTION = "def f():\n    return 1\n"
SLOW_TESTS = "# fake-docker: sleep=2\ndef test_a():\n    pass\n"
BODY = {"language": "python", "solution": SOLUTION, "tests": SLOW_TESTS}


@pytest.fixture
def settings_overrides():
    return {"warm_pool": 1, "warm_pool_languages": "python"}


async def python_pool(client) -> dict[str, int]:
    return (await (await client.get("/health")).json())["pool"]["languages"]["python"]


async def until_jobs(fake_docker, count: int) -> None:
    """Wait until `count` jobs reached containers."""
    async with asyncio.timeout(30):
        while len(fake_docker.jobs()) < count:
            await asyncio.sleep(0.05)


async def test_the_replacement_starts_when_the_pooled_job_ends(fake_client, fake_docker):
    await pool_ready(fake_client, "python")
    request = asyncio.ensure_future(fake_client.post("/api/execute/validate", json=BODY))
    await until_jobs(fake_docker, 1)
    seen = []
    job_ends = time.monotonic() + 1.5  # the job sleeps 2 s: sample well inside it
    while time.monotonic() < job_ends:
        seen.append(await python_pool(fake_client))
        await asyncio.sleep(0.1)
    answer = await (await request).json()
    assert answer["timings"]["pooled"] is True, answer
    assert len(seen) >= 5 and all(counts == {"ready": 0, "starting": 0} for counts in seen), seen
    await pool_ready(fake_client, "python", timeout_s=30)


async def test_a_request_that_finds_the_pool_empty_refills_it_at_once(fake_client, fake_docker):
    await pool_ready(fake_client, "python")
    first = asyncio.ensure_future(fake_client.post("/api/execute/validate", json=BODY))
    await until_jobs(fake_docker, 1)
    second = asyncio.ensure_future(fake_client.post("/api/execute/validate", json=BODY))
    await pool_ready(fake_client, "python", timeout_s=30)
    assert not first.done(), "the refill came only after the pooled job ended"
    answers = [await (await request).json() for request in (first, second)]
    assert [answer["timings"]["pooled"] for answer in answers] == [True, False], answers
