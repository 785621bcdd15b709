"""runc beside gVisor's runsc (issue 21): validation, the warm pool and the ~2 ms loop's noise.

    .venv/bin/python bench/runtimes.py [--requests 10] [--languages python,go] [--runtime runsc]

Three in-process apps: `runtime = runc` and `runtime = <runtime>` without a pool, and one under
`<runtime>` with `warm_pool = 1`. Per language, validations of the example suite alternate between the
two cold apps, one request at a time after an untimed warm-up on each, so drift hits both alike;
then the pooled app's validations (a ready container before each). The loop (`example/bench/loop/`)
is calibrated to about 2 ms under runc, then 100 runs of the same step count under each runtime on
the measuring lane. The runtime must be registered with the engine (`install.sh --with-runsc`).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys

from run import RUNS, bench_files, calibrate_loop, daemon, example, measure, pct, validation_times

from phronosd.keys import IMAGES, REGISTRY
from phronosd.languages import Language

HEADER = (
    "| language | validate p50 runc (s) | validate p50 {rt} (s) | ratio | pooled p50 {rt} (s) "
    "| loop median runc / {rt} (ms) | robust CV runc / {rt} (%) |\n|---|---|---|---|---|---|---|"
)


async def row(runc, other, pooled, language: Language, requests: int) -> str:
    name = language.name
    solution, tests = example(language)
    body = {"language": name, "solution": solution, "tests": tests}
    on_runc, on_other = await validation_times([(runc, False), (other, False)], body, requests)
    pooled_p50 = "-"
    if language.poolable:
        pooled_p50 = f"{statistics.median((await validation_times([(pooled, True)], body, requests))[0]):.3f}"
    files = bench_files(language)
    iterations = await calibrate_loop(runc, name, files)
    loops = [
        await measure(client, name, files.solution, files.loop_tests(iterations), RUNS) for client in (runc, other)
    ]
    p50_runc, p50_other = statistics.median(on_runc), statistics.median(on_other)
    return (
        f"| {name} | {p50_runc:.3f} | {p50_other:.3f} | {p50_other / p50_runc:.2f} | {pooled_p50} "
        f"| {loops[0]['medianMs']:.3f} / {loops[1]['medianMs']:.3f} "
        f"| {pct(loops[0]['robustCv'])} / {pct(loops[1]['robustCv'])} |"
    )


async def bench(args) -> str:
    async with (
        daemon(warm_pool=0) as runc,
        daemon(warm_pool=0, runtime=args.runtime) as other,
        daemon(warm_pool=1, runtime=args.runtime) as pooled,
    ):
        registry = runc.app[REGISTRY]
        rows = [HEADER.format(rt=args.runtime)]
        for name, language in registry.languages.items():
            if args.languages and name not in args.languages:
                continue
            if not runc.app[IMAGES].ready(name):
                print(f"{name}: skipped (image not built)", file=sys.stderr)
                continue
            rows.append(await row(runc, other, pooled, language, args.requests))
            print(rows[-1], file=sys.stderr)
        return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--languages", type=lambda s: s.split(","), default=None)
    parser.add_argument("--runtime", default="runsc")
    args = parser.parse_args()
    load = os.getloadavg()
    table = asyncio.run(bench(args))
    print(f"load average before: {' / '.join(f'{x:.2f}' for x in load)}\n\n{table}")


if __name__ == "__main__":
    main()
