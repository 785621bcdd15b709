"""phronosd's benchmark: prints a markdown table and writes it to bench/RESULTS.md.

For every language with a built image and an `example/` suite: validation p50/p90 over N requests
(wall time seen by the client), and the wall time of one `/api/execute/run` with runs=100. For
Python (and C++ when present) it also measures the seed's design, a fresh container per timed run,
100 times, in the same script, and prints the ratio.

    .venv/bin/python bench/run.py [--requests 10] [--languages python,go] [--no-seed]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from phronosd.app import create_app
from phronosd.keys import EXECUTOR, IMAGES, REGISTRY, SANDBOX
from phronosd.languages import Submission
from phronosd.sandbox import Limits
from phronosd.settings import load

ROOT = Path(__file__).resolve().parent.parent
SEED_LANGUAGES = ("python", "cpp")


def example(language) -> tuple[str, str]:
    folder = ROOT / "handlers" / language.name / "example"
    return (folder / language.solution_file).read_text(), (folder / language.test_file).read_text()


async def timed_post(client: TestClient, path: str, body: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    response = await client.post(path, json=body)
    data = await response.json()
    elapsed = time.perf_counter() - started
    if response.status != 200 or data.get("status") != "passed":
        raise RuntimeError(f"{path} {body['language']}: {response.status} {json.dumps(data)[:600]}")
    return elapsed, data


async def seed_design(app, language, solution: str, tests: str, runs: int) -> float:
    """The original design: one fresh container (a whole validation) per timed run."""
    sandbox = app[SANDBOX]
    image = app[IMAGES].tag(language.name)
    layout = language.layout(Submission(solution=solution, tests=tests))
    job = {
        "files": dict(layout.files), "mode": "validate", "runs": 0, "warmup": 0, "budgetMs": 0,
        "solutionFile": layout.solution_file, "testFile": layout.test_file,
        "options": dict(layout.options), "env": dict(language.env),
    }
    limits = Limits(
        timeout_ms=60000, memory_mb=512, cpuset=app[EXECUTOR].cpus.general_cpuset, cpu_quota=1.0,
        pids=256, output_limit=1 << 20,
    )
    started = time.perf_counter()
    for _ in range(runs):
        outcome = await sandbox.run(image, language, job, limits)
        if outcome.frame is None:
            raise RuntimeError(f"seed design run failed: {outcome.docker_error[:300]}")
    return time.perf_counter() - started


async def bench(args) -> str:
    settings = load({"instance_name": f"bench-{secrets.token_hex(4)}"}, env={})
    app = create_app(settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    rows = []
    seed_rows = []
    try:
        registry, images = app[REGISTRY], app[IMAGES]
        for name, language in registry.languages.items():
            if args.languages and name not in args.languages:
                continue
            if not images.ready(name) or not (ROOT / "handlers" / name / "example").is_dir():
                print(f"{name}: skipped (image not built or no example)", file=sys.stderr)
                continue
            solution, tests = example(language)
            body = {"language": name, "solution": solution, "tests": tests}
            await timed_post(client, "/api/execute/validate", body)  # page cache warm-up, not counted
            times = [(await timed_post(client, "/api/execute/validate", body))[0] for _ in range(args.requests)]
            run_s, run_data = await timed_post(client, "/api/execute/run", {**body, "runs": 100})
            m = run_data["measurement"]
            rows.append(
                f"| {name} | {statistics.median(times):.2f} | {quantile(times, 0.9):.2f} | {run_s:.2f} "
                f"| {m['medianMs'] * 1000:.1f} | {m['robustCv'] * 100:.1f} | {', '.join(m['flags']) or '-'} |"
            )
            print(rows[-1], file=sys.stderr)
            if name in SEED_LANGUAGES and not args.no_seed:
                seed_s = await seed_design(app, language, solution, tests, 100)
                seed_rows.append(f"| {name} | {seed_s:.1f} | {run_s:.2f} | {seed_s / run_s:.0f}x |")
                print(seed_rows[-1], file=sys.stderr)
    finally:
        await client.close()
    header = (
        f"Validation: wall time per request as a client sees it, {args.requests} requests after one warm-up; "
        "run: one `/api/execute/run` with runs=100 (validation + warm-up + 100 timed runs), example suites "
        "from `handlers/<lang>/example/`.\n\n"
        "| language | validate p50 (s) | validate p90 (s) | run x100 total (s) | run median (µs) | robust CV (%) | flags |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    table = header + "\n".join(rows) + "\n"
    if seed_rows:
        table += (
            "\nThe seed's design (a fresh container per timed run, 100 runs) against one `/run` with runs=100:\n\n"
            "| language | container per run x100 (s) | in-process x100 (s) | ratio |\n|---|---|---|---|\n"
            + "\n".join(seed_rows) + "\n"
        )
    return table


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--languages", type=lambda s: s.split(","), default=None)
    parser.add_argument("--no-seed", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    table = asyncio.run(bench(args))
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    Path(args.output).write_text(f"# Benchmark results\n\nMeasured {stamp} on this project's 2-vCPU VM.\n\n{table}")
    print(table)


if __name__ == "__main__":
    main()
