"""Load test: N mixed requests (languages; passing, failing, timing out) at concurrency C against one
real daemon on loopback. Prints throughput, latency p50/p95, answers by status, leftover containers
and the daemon's peak RSS (sampled every 100 ms from /proc).

    .venv/bin/python bench/load.py [--requests 500] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PY_OK = (
    "def add(a, b):\n    return a + b\n",
    "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
)
PY_FAIL = (PY_OK[0], PY_OK[1].replace("== 3", "== 4"))
PY_TIMEOUT = (PY_OK[0], "def test_loop():\n    while True:\n        pass\n")
JS_OK = (
    "function add(a, b) { return a + b; }\nmodule.exports = { add };\n",
    "const { add } = require('./solution');\ntest('adds', () => { expect(add(1, 2)).toBe(3); });\n",
)
MIX = [
    ("python", PY_OK, {}),
    ("python", PY_FAIL, {}),
    ("python", PY_TIMEOUT, {"timeoutMs": 1500}),
    ("javascript", JS_OK, {}),
    ("python", PY_OK, {"runs": 20}),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


async def sample_rss(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_kb(pid))
        await asyncio.sleep(0.1)


async def one(session: aiohttp.ClientSession, url: str, rng: random.Random) -> tuple[int, float, str]:
    language, (solution, tests), extra = rng.choice(MIX)
    path = "/api/execute/run" if "runs" in extra else "/api/execute/validate"
    body = {"language": language, "solution": solution, "tests": tests, **extra}
    started = time.perf_counter()
    async with session.post(url + path, json=body) as response:
        data = await response.json()
    verdict = data.get("status") if response.status == 200 else data.get("error", {}).get("code")
    return response.status, time.perf_counter() - started, str(verdict)


async def load(args, url: str, pid: int) -> None:
    rng = random.Random(7)
    peak, stop = [0], asyncio.Event()
    sampler = asyncio.ensure_future(sample_rss(pid, peak, stop))
    gate = asyncio.Semaphore(args.concurrency)
    timeout = aiohttp.ClientTimeout(total=600)

    async def gated(session):
        async with gate:
            return await one(session, url, rng)

    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=timeout) as session:
        results = await asyncio.gather(*(gated(session) for _ in range(args.requests)), return_exceptions=True)
    elapsed = time.perf_counter() - started
    stop.set()
    await sampler
    answered = [r for r in results if not isinstance(r, BaseException)]
    latencies = sorted(r[1] for r in answered)
    by_status = Counter(r[0] for r in answered)
    by_verdict = Counter(r[2] for r in answered)
    print("| metric | value |\n|---|---|")
    print(f"| requests / concurrency | {args.requests} / {args.concurrency} |")
    print(f"| lost (client errors) | {len(results) - len(answered)} |")
    print(f"| throughput | {len(answered) / elapsed:.1f} req/s over {elapsed:.1f} s |")
    print(
        f"| latency p50 / p95 | {statistics.median(latencies):.2f} s / {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s |"
    )
    print(f"| answers by HTTP status | {dict(sorted(by_status.items()))} |")
    print(f"| verdicts | {dict(sorted(by_verdict.items()))} |")
    print(f"| daemon peak RSS | {peak[0] / 1024:.1f} MB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    port, instance = free_port(), f"load-{uuid.uuid4().hex[:8]}"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "phronosd", "--port", str(port), "--instance-name", instance, "--log-level", "warning"],
        cwd=ROOT / "bench",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        asyncio.run(load(args, url, daemon.pid))
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=phronosd.instance={instance}"], capture_output=True, text=True
    ).stdout.split()
    print(f"| leftover containers | {len(left)} |")


if __name__ == "__main__":
    main()
