"""Command line: `phronosd [serve]`, `phronosd worker`, `phronosd images build [LANG...]|list|prune`, `phronosd check`,
`phronosd sweep`. Settings flags are accepted before and after the subcommand. The client commands
`phronosd validate|run|compare` (phronosd/cli_client.py) talk to a running daemon and take no settings."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys

from . import cli_client, logs
from . import settings as settings_module
from .app import StartupError
from .check import check_command
from .docker import DockerCli, DockerUnavailable
from .images import ImageBuilder, Images
from .languages import Registry
from .ownership import InstanceTaken, claim_instance
from .sandbox import Sandbox
from .server import serve
from .settings import Settings, SettingsError


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="phronosd", description=__doc__)
    settings_module.add_arguments(root)
    settings_flags = argparse.ArgumentParser(add_help=False)
    settings_module.add_arguments(settings_flags, default=argparse.SUPPRESS)
    commands = root.add_subparsers(dest="command")

    def command(name: str, help: str, parent: argparse._SubParsersAction = commands) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=help, parents=[settings_flags])

    command("serve", "run the daemon (the default)")
    command("worker", "run a cluster worker: jobs from queue_url, no HTTP API but /health (same as role = worker)")
    images = command("images", "runner images").add_subparsers(dest="images_command", required=True)
    build = command("build", "build the missing runner images (and the base image)", images)
    build.add_argument("languages", nargs="*", help="languages to build (default: all)")
    command("list", "show each language's image, whether it is built, and its size", images)
    command("prune", "remove the runner images of earlier handler versions (not the current ones)", images)
    command("check", "say what on this host is wrong for phronosd, and how to fix it")
    command("sweep", "remove this instance's containers, once no daemon of this instance runs (systemd's ExecStopPost)")
    cli_client.add_commands(commands)
    return root


def say(line: str) -> None:
    print(line, flush=True)


async def images_command(settings: Settings, command: str, names: list[str]) -> int:
    registry = Registry.discover()
    docker = DockerCli(settings.docker_binary)
    images = Images(docker, settings.image_prefix, list(registry.languages.values()), settings.image_libraries)
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
    results = [await builder.build(registry.languages[name]) for name in wanted]
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


async def sweep_command(settings: Settings) -> int:
    """Remove the containers labelled with this instance, refusing while a daemon of it still runs."""
    try:
        claim = claim_instance(settings.instance_name)
    except InstanceTaken as exc:
        say(f"phronosd: not sweeping: {exc}")
        return 1
    with claim:
        count = await Sandbox(DockerCli(settings.docker_binary), settings.instance_name).sweep()
    say(f"removed {count} container(s) of instance {settings.instance_name!r}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in cli_client.COMMANDS:
        return cli_client.main(argv)  # its own parser: its usage errors name the command
    root = parser()
    args = vars(root.parse_args(argv))
    command = args.pop("command") or "serve"
    if command in cli_client.COMMANDS:
        root.error(f"{command} takes no settings flags: put it first (phronosd {command} --help)")
    images_command_name = args.pop("images_command", None)
    names = args.pop("languages", [])
    try:
        settings = settings_module.load(args)
        if command == "worker":
            settings = dataclasses.replace(settings, role="worker")
        logs.configure(settings)
        if command == "check":
            return asyncio.run(check_command(settings, say))
        if command == "images":
            return asyncio.run(images_command(settings, images_command_name, names))
        if command == "sweep":
            return asyncio.run(sweep_command(settings))
        asyncio.run(serve(settings))
        return 0
    except (SettingsError, StartupError, DockerUnavailable, RuntimeError, OSError) as exc:
        print(f"phronosd: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1
