"""What the curated libraries cost (issue 20): image size and validation p50, with them and without.

    .venv/bin/python bench/libraries.py [--requests 10] [--languages python,go] [--build]

Two in-process apps per run, `image_libraries = true` and `false` (their images are different tags;
`--build` builds the missing ones first). Validations of each language's example suite alternate
between the two apps, one request at a time after an untimed warm-up on each, so a noisy machine's
drift hits both alike; the ratio is the figure. The `example/libraries/uses/` suite (a solution that
uses two or more libraries) is timed on the app with libraries. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys

from run import daemon, example, timed_post

from phronosd.docker import DockerCli
from phronosd.images import ImageBuilder, Images
from phronosd.keys import IMAGES, REGISTRY
from phronosd.languages import Language

HEADER = (
    "| language | image with (MB) | image without (MB) | validate p50 with (s) | validate p50 without (s) "
    "| ratio | using libraries p50 (s) |\n|---|---|---|---|---|---|---|"
)


async def image_mb(docker: DockerCli, tag: str) -> float:
    return int(await docker.check(["image", "inspect", "-f", "{{.Size}}", tag])) / 1e6


async def build_missing(languages: list[Language]) -> None:
    docker = DockerCli()
    for with_libraries in (True, False):
        images = Images(docker, "phronosd-", languages, with_libraries)
        await images.refresh()
        builder = ImageBuilder(docker, images, lambda line: print(line, file=sys.stderr))
        for language in languages:
            if not await builder.build(language):
                raise RuntimeError(f"{language.name}: build failed")


async def row(with_libs, without_libs, language: Language, requests: int) -> str:
    name = language.name
    solution, tests = example(language)
    body = {"language": name, "solution": solution, "tests": tests}
    times: dict[str, list[float]] = {"with": [], "without": []}
    for client in (with_libs, without_libs):
        await timed_post(client, "/api/execute/validate", body)
    for _ in range(requests):
        for key, client in (("with", with_libs), ("without", without_libs)):
            times[key].append((await timed_post(client, "/api/execute/validate", body))[0])
    uses_solution, uses_tests = example(language, "libraries/uses")
    using = {"language": name, "solution": uses_solution, "tests": uses_tests}
    uses = [(await timed_post(with_libs, "/api/execute/validate", using))[0] for _ in range(requests)]
    docker = with_libs.app[IMAGES].docker
    size_with = await image_mb(docker, with_libs.app[IMAGES].tag(name))
    size_without = await image_mb(docker, without_libs.app[IMAGES].tag(name))
    p50_with, p50_without = statistics.median(times["with"]), statistics.median(times["without"])
    return (
        f"| {name} | {size_with:.0f} | {size_without:.0f} | {p50_with:.2f} | {p50_without:.2f} "
        f"| {p50_with / p50_without:.2f} | {statistics.median(uses):.2f} |"
    )


async def bench(args) -> str:
    async with daemon(warm_pool=0) as with_libs, daemon(warm_pool=0, image_libraries=False) as without_libs:
        registry = with_libs.app[REGISTRY]
        languages = [lang for name, lang in registry.languages.items() if not args.languages or name in args.languages]
        if args.build:
            await build_missing(languages)
        for client in (with_libs, without_libs):
            await client.app[IMAGES].refresh()
        rows = []
        for language in languages:
            ready = all(client.app[IMAGES].ready(language.name) for client in (with_libs, without_libs))
            if not language.libraries or not ready:
                print(f"{language.name}: skipped (no libraries, or an image not built)", file=sys.stderr)
                continue
            rows.append(await row(with_libs, without_libs, language, args.requests))
            print(rows[-1], file=sys.stderr)
    return HEADER + "\n" + "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--languages", type=lambda s: s.split(","), default=None)
    parser.add_argument("--build", action="store_true", help="build the missing images (both kinds) first")
    print(asyncio.run(bench(parser.parse_args())))


if __name__ == "__main__":
    main()
