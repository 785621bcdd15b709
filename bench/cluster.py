"""Cluster bench: a batch of short Python jobs on 1 API node + 2 workers sharing a Redis queue, against
one `role = all` daemon (embedded SQLite queue) with the same total concurrency, on this machine.
Prints per setup: jobs/s for the batch, lost jobs (not `succeeded`), duplicated results (more than
one `result` event in a job's stream, cluster only) and the queue's overhead per job, submit -> start
(p50/p95), measured on jobs submitted one at a time to an idle setup (so no job waits for a slot).

    .venv/bin/python bench/cluster.py [--jobs 200] [--concurrency 2] [--overhead-jobs 30]

Needs redis-server (Debian's) and the Python runner image (`phronosd images build python`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import redis

ROOT = Path(__file__).resolve().parent.parent
PHRONOSD = Path(sys.executable).parent / "phronosd"
JOB = {
    "kind": "validate",
    "request": {
        "language": "python",
        "solution": "def add(a, b):\n    return a + b\n",
        "tests": "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    },
}
FINISHED = ("succeeded", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """The processes of one setup, stopped (SIGTERM, then waited for) at the end."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, command: list[str]) -> None:
        log = open(self.folder / f"{name}.log", "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHRONOSD_")}
        self.procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd="/"))

    def daemon(self, name: str, port: int, *args: str) -> None:
        common = ["--port", str(port), "--instance-name", f"bench-cluster-{name}", "--warm-pool", "0"]
        self.start(name, [str(PHRONOSD), *args, *common])

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            proc.wait(120)


async def wait_ready(session: aiohttp.ClientSession, url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with session.get(url + "/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not become healthy")


def timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def batch(session: aiohttp.ClientSession, url: str, count: int) -> tuple[float, list[dict]]:
    """Submit `count` jobs in one batch; the seconds from the first submission to the last end (from
    the jobs' own timestamps, so the polling interval does not count), and the jobs."""
    async with session.post(url + "/api/jobs/batch", json={"jobs": [JOB] * count}) as response:
        assert response.status == 202, await response.text()
        ids = set((await response.json())["ids"])
    while True:
        await asyncio.sleep(1)
        async with session.get(url + "/api/jobs", params={"limit": "1000"}) as response:
            jobs = [job for job in (await response.json())["jobs"] if job["id"] in ids]
        if len(jobs) == count and all(job["status"] in FINISHED for job in jobs):
            first = min(timestamp(job["createdAt"]) for job in jobs)
            return max(timestamp(job["finishedAt"]) for job in jobs) - first, jobs


async def overhead(session: aiohttp.ClientSession, url: str, count: int) -> list[float]:
    """Submit -> start (ms) of jobs submitted one at a time, each after the previous one ended."""
    delays = []
    for _ in range(count):
        async with session.post(url + "/api/jobs", json=JOB) as response:
            assert response.status == 202, await response.text()
            job_id = (await response.json())["id"]
        while True:
            async with session.get(f"{url}/api/jobs/{job_id}") as response:
                job = await response.json()
            if job["status"] in FINISHED:
                break
            await asyncio.sleep(0.2)
        delays.append((timestamp(job["startedAt"]) - timestamp(job["createdAt"])) * 1000)
    return delays


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, seconds: float, jobs: list[dict], delays: list[float], duplicated: int | None) -> None:
    lost = sum(job["status"] != "succeeded" for job in jobs)
    workers = sorted({job["worker"] for job in jobs})
    print(
        f"{name:<28} {len(jobs)} jobs in {seconds:6.1f} s = {len(jobs) / seconds:5.2f} jobs/s; lost {lost}; "
        f"duplicated {'-' if duplicated is None else duplicated}; submit->start p50 "
        f"{statistics.median(delays):6.1f} ms p95 {percentile(delays, 0.95):6.1f} ms; workers {workers}",
        flush=True,
    )


def duplicated_results(port: int, jobs: list[dict]) -> int:
    client = redis.Redis(port=port, decode_responses=True)
    counts = [
        sum(entry["kind"] == "result" for _, entry in client.xrange(f"phronosd:events:{job['id']}")) for job in jobs
    ]
    return sum(count > 1 for count in counts)


async def cluster(folder: Path, args: argparse.Namespace) -> None:
    redis_port, api_port = free_port(), free_port()
    procs = Processes(folder)
    server = [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(redis_port)]
    procs.start("redis", [*server, "--save", "", "--appendonly", "yes", "--dir", str(folder)])
    queue = ["--queue-url", f"redis://127.0.0.1:{redis_port}/0"]
    try:
        async with aiohttp.ClientSession() as session:
            for number in (1, 2):
                port = free_port()
                procs.daemon(f"w{number}", port, "worker", *queue, "--concurrency", str(args.concurrency))
                await wait_ready(session, f"http://127.0.0.1:{port}")
            url = f"http://127.0.0.1:{api_port}"
            procs.daemon("api", api_port, "--role", "api", *queue)
            await wait_ready(session, url)
            delays = await overhead(session, url, args.overhead_jobs)
            seconds, jobs = await batch(session, url, args.jobs)
            report("cluster (1 API + 2 workers)", seconds, jobs, delays, duplicated_results(redis_port, jobs))
    finally:
        procs.stop()


async def single(folder: Path, args: argparse.Namespace) -> None:
    port = free_port()
    procs = Processes(folder)
    total = str(2 * args.concurrency)
    procs.daemon("all", port, "--concurrency", total, "--database", str(folder / "jobs.sqlite3"))
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}"
            await wait_ready(session, url)
            delays = await overhead(session, url, args.overhead_jobs)
            seconds, jobs = await batch(session, url, args.jobs)
            report(f"one daemon (role all, c={total})", seconds, jobs, delays, None)
    finally:
        procs.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2, help="per worker; the single daemon gets twice it")
    parser.add_argument("--overhead-jobs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="phronosd-bench-cluster-") as folder:
        asyncio.run(run_both(Path(folder), args))


async def run_both(folder: Path, args: argparse.Namespace) -> None:
    for name, setup in (("single", single), ("cluster", cluster)):
        (folder / name).mkdir()
        await setup(folder / name, args)


if __name__ == "__main__":
    main()
