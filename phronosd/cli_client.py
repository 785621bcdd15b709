"""`phronosd validate|run|compare`: the daemon's API from a terminal. `phronosd/client.py` talks to the
daemon, `phronosd/cli_render.py` draws (it imports rich, so only a client command loads it: the daemon
never does).

Exit status: 0 passed; 1 the code ran and did not pass (failed, compile error, timeout, ...); 2 a
usage error (a bad option, a missing file); 3 the daemon unreachable or answering an error; 130
interrupted (a running job is cancelled)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .client import DEFAULT_URL, Client, PhronosdError, RequestProblem, comparison, submission

PASSED, NOT_PASSED, USAGE, DAEMON, INTERRUPTED = 0, 1, 2, 3, 130
COMMAND_HELP = {
    "validate": (
        "run a solution's tests once: a table of the tests",
        "Run the tests once and show each test's status, time and failure message.",
    ),
    "run": (
        "validate, then time N runs: mean ± σ, range, histogram",
        "Validate, then time the tests N times in the same container (a job: a live progress bar).",
    ),
    "compare": (
        "time 2 to 8 solutions of one suite side by side and rank them",
        "Validate each solution, time those that pass in interleaved rounds, and rank them.",
    ),
}
COMMANDS = tuple(COMMAND_HELP)


def count(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected at least {minimum}, got {value}")
        return value

    return parse


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tests", required=True, type=Path, metavar="TESTS", help="the test file")
    parser.add_argument(
        "--file",
        dest="files",
        action="append",
        default=[],
        type=Path,
        metavar="EXTRA",
        help="another file the code needs, sent under its own name (repeatable)",
    )
    parser.add_argument("--language", help="the language (default: from the file extension)")
    parser.add_argument("--url", help=f"the daemon's URL (default: $PHRONOSD_URL, else {DEFAULT_URL})")
    parser.add_argument("--socket", metavar="PATH", help="the daemon's Unix socket (instead of --url)")
    parser.add_argument("--token", help="bearer token (default: $PHRONOSD_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print the API's answer unchanged (for scripts)")


def add_measuring_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=count(1), metavar="N", help="timed runs (default: the daemon's, 100)")
    parser.add_argument("--warmup", type=count(0), metavar="W", help="untimed runs first (default: the language's)")


def add_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    """The options of one client command."""
    if command == "compare":
        parser.add_argument(
            "solutions",
            nargs="+",
            type=Path,
            metavar="SOLUTION",
            help="the solution files (2 to 8), named in the output by their file names",
        )
    else:
        parser.add_argument("solution", type=Path, metavar="SOLUTION", help="the solution file")
    add_common_arguments(parser)
    if command != "validate":
        add_measuring_arguments(parser)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """List validate, run and compare in `phronosd --help` (and `phronosd <command> --help`)."""
    for command, (short, description) in COMMAND_HELP.items():
        add_arguments(command, commands.add_parser(command, help=short, description=description))


def parse(argv: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """(command, options) of `phronosd <command> ...`; a usage error exits 2 naming the command."""
    command = argv[0]
    parser = argparse.ArgumentParser(prog=f"phronosd {command}", description=COMMAND_HELP[command][1])
    add_arguments(command, parser)
    return command, vars(parser.parse_args(argv[1:]))


def request_of(command: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The API request the command sends, from its files and options."""
    if command == "compare":
        if len(args["solutions"]) < 2:
            raise RequestProblem("compare needs at least two solutions")
        body = comparison(args["solutions"], args["tests"], args["files"], args["language"])
    else:
        body = submission(args["solution"], args["tests"], args["files"], args["language"])
    if command == "validate":
        return body
    measuring = {key: args[key] for key in ("runs", "warmup") if args[key] is not None}
    samples = {"includeSamples": True} if command == "run" else {}  # they draw the histogram
    return {**body, **measuring, **samples}


def client_of(args: Mapping[str, Any], env: Mapping[str, str]) -> Client:
    """The client of the daemon the options (else the environment) name."""
    url = args["url"] or env.get("PHRONOSD_URL") or DEFAULT_URL
    return Client(url, socket=args["socket"], token=args["token"] or env.get("PHRONOSD_TOKEN") or None)


async def perform(command: str, client: Client, request: dict[str, Any], output: Any, title: str) -> int:
    """Send the request (validate: one call; run and compare: a job followed with a progress bar)
    and show the answer; the exit status."""
    async with client:
        if command == "validate":
            with output.waiting("validating"):
                result = await client.validate(request)
            output.verdict(result)
        else:
            with output.progress() as on_event:
                result = await client.execute(command, request, on_event)
            if command == "run":
                output.measurement(result, title)
            else:
                output.comparison(result)
    return PASSED if result["passed"] else NOT_PASSED


def main(argv: Sequence[str], env: Mapping[str, str] = os.environ) -> int:
    command, args = parse(argv)
    try:
        request = request_of(command, args)
    except RequestProblem as problem:
        print(f"phronosd {command}: {problem}", file=sys.stderr)
        return USAGE
    from .cli_render import Output  # rich: loaded by the client commands only

    output = Output(as_json=args["json"])
    title = args["solution"].name if "solution" in args else ""
    try:
        return asyncio.run(perform(command, client_of(args, env), request, output, title))
    except PhronosdError as error:
        output.error(error)
        return DAEMON
    except KeyboardInterrupt:
        output.interrupted()
        return INTERRUPTED
