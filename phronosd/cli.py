"""Command line: `phronosd [serve]`, `phronosd images build [LANG...]|list|prune`, `phronosd check`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from . import logs, settings as settings_module
from .app import StartupError
from .check import check_command
from .docker import DockerCli, DockerUnavailable
from .images import ImageBuilder, Images
from .languages import Registry
from .server import serve
from .settings import Settings, SettingsError


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="phronosd", description=__doc__)
    settings_module.add_arguments(root)
    commands = root.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the daemon (the default)")
    images = commands.add_parser("images", help="runner images").add_subparsers(dest="images_command", required=True)
    build = images.add_parser("build", help="build the missing runner images (and the base image)")
    build.add_argument("languages", nargs="*", help="languages to build (default: all)")
    images.add_parser("list", help="show each language's image, whether it is built, and its size")
    images.add_parser("prune", help="remove the runner images of earlier handler versions (not the current ones)")
    commands.add_parser("check", help="say what on this host is wrong for phronosd, and how to fix it")
    return root


def say(line: str) -> None:
    print(line, flush=True)


async def images_command(settings: Settings, command: str, names: list[str]) -> int:
    registry = Registry.discover()
    docker = DockerCli(settings.docker_binary)
    images = Images(docker, settings.image_prefix, list(registry.languages.values()))
    await images.refresh()
    if command == "list":
        for info in images.describe():
            say(f"{info.language:<12} {info.tag:<40} {'ready' if info.ready else 'missing':<8} {info.size or '-'}")
        return 0
    if command == "prune":
        return await prune(docker, images)
    wanted = [registry.get(name).name for name in names] or list(registry.languages)
    builder = ImageBuilder(docker, images, say)
    if not all(images.ready(name) for name in wanted):
        await builder.ensure_base()
    results = [await builder.build(name) for name in wanted]
    return 0 if all(results) else 1


async def prune(docker: DockerCli, images: Images) -> int:
    """`docker rmi` each stale tag, without force: an image a container still uses stays, said so."""
    stale = images.stale()
    failed = 0
    for tag in stale:
        result = await docker.run(["rmi", tag], timeout=120)
        failed += result.exit_code != 0
        why = result.stderr.decode("utf-8", "replace").strip() or "timed out"
        say(f"{tag}: {'removed' if result.exit_code == 0 else 'kept: ' + why}")
    if not stale:
        say("no stale runner images")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = vars(parser().parse_args(argv))
    command = args.pop("command") or "serve"
    images_command_name = args.pop("images_command", None)
    names = args.pop("languages", [])
    try:
        settings = settings_module.load(args)
        logs.configure(settings)
        if command == "check":
            return asyncio.run(check_command(settings, say))
        if command == "images":
            return asyncio.run(images_command(settings, images_command_name, names))
        asyncio.run(serve(settings))
        return 0
    except (SettingsError, StartupError, DockerUnavailable, RuntimeError, OSError) as exc:
        print(f"phronosd: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1
