"""`phronosd validate|run|compare` and `phronosd.client`, against a real daemon (`phronosd serve --port`,
its own instance, no warm pool) on the real engine: exit statuses 0/1/2/3, the tables and summaries,
`--json`, file names, `--socket` and tokens, colours, Ctrl-C, and that the daemon never loads the
terminal libraries."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import INSTANCE, leftover_containers
from daemon import PHRONOSD, Daemon, free_port, wait_for_unix_socket, wait_until_healthy

from phronosd import cli
from phronosd.client import (
    Client,
    Event,
    EventDecoder,
    PhronosdError,
    SyncClient,
    Unreachable,
    solution_file_for,
    submission,
)

CLI_INSTANCE = f"{INSTANCE}-cli"
SGR_COLOUR = re.compile(r"\x1b\[[0-9;]*(?:3[0-9]|9[0-7]|38;[0-9;]+)m")
ANY_ESCAPE = re.compile(r"\x1b\[")

SOLUTION = "def total(n):\n    return sum(range(n))\n"
SLOW = "def total(n):\n    sum(range(n))\n    return sum(range(n))\n"  # the same work, twice
BROKEN = "def total(n):\n    return sum(range(n + 1))\n"
SYNTAX_ERROR = "def total(n):\n    return sum(range(n)\n"
SLEEPING = "import time\n\ndef total(n):\n    time.sleep(60)\n"
TESTS = (
    "from solution import total\n\n\n"
    "def test_small():\n    assert total(10) == 45\n\n\n"
    "def test_large():\n    assert total(100000) == 4999950000\n"
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, docker_ready):
    """One daemon for the module, started as `phronosd serve --port N` (settings flags after the
    subcommand); its URL. At the end it must stop cleanly and leave no container."""
    folder = tmp_path_factory.mktemp("cli-daemon")
    port = free_port()
    process = Daemon("serve", "--port", str(port), "--instance-name", CLI_INSTANCE, log=folder / "log")
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_until_healthy(url, process))
    except BaseException:
        process.stop()
        raise
    yield url
    assert process.stop() == 0, process.log()
    assert not leftover_containers(CLI_INSTANCE)


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A folder with the solutions and the tests above, under the names the commands are given."""
    for name, text in (
        ("solution.py", SOLUTION),
        ("slow.py", SLOW),
        ("broken.py", BROKEN),
        ("syntax.py", SYNTAX_ERROR),
        ("sleeping.py", SLEEPING),
        ("test_solution.py", TESTS),
    ):
        (tmp_path / name).write_text(text)
    return tmp_path


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without phronosd's and the colour switches, plus `extra`."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PHRONOSD_") and k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")
    }
    return {**clean, **extra}


def phronosd(
    *args: str, cwd: Path, url: str | None = None, timeout: float = 180, **env: str
) -> subprocess.CompletedProcess:
    """The `phronosd` command, its output piped (not a terminal); `url` goes in PHRONOSD_URL."""
    variables = environment(**env, **({"PHRONOSD_URL": url} if url else {}))
    return subprocess.run(
        [str(PHRONOSD), *args], check=False, cwd=cwd, env=variables, capture_output=True, text=True, timeout=timeout
    )


def phronosd_in_this_process(
    *args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, url: str
) -> tuple[int, str]:
    """`phronosd.cli.main`, which the `phronosd` command runs, called here with the environment and
    folder `phronosd()` gives the command: (exit status, stderr). For the usage errors, which need no
    daemon: the command's interpreter spends most of a second importing what they never reach (the tests
    that reach a daemon, or fail to, run the command)."""
    for name in [k for k in os.environ if k not in environment()]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PHRONOSD_URL", url)
    monkeypatch.chdir(cwd)
    try:
        status = cli.main(list(args))
    except SystemExit as exited:
        status = exited.code
    return status, capsys.readouterr().err


def on_terminal(*args: str, cwd: Path, **env: str) -> tuple[int, str]:
    """The `phronosd` command with stdout and stderr on a pseudo-terminal: (exit status, what it showed)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [str(PHRONOSD), *args],
        cwd=cwd,
        env=environment(TERM="xterm-256color", **env),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the command ended and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return process.wait(timeout=60), shown.decode("utf-8", "replace")


def test_serve_with_settings_flags_after_the_subcommand_listens_on_its_port(daemon):
    """The module's daemon was started as `phronosd ... serve --port N --instance-name ...`."""
    with SyncClient(daemon) as client:
        health = client.health()
    assert health["status"] == "ok" and health["languages"]["python"]["ready"] is True


# Exit statuses ------------------------------------------------------------------------------------


def test_validate_passing_prints_each_test_and_exits_0(daemon, suite):
    done = phronosd("validate", "solution.py", "--tests", "test_solution.py", cwd=suite, url=daemon)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines() if line.startswith("test_")}
    assert rows == {"test_small": "passed", "test_large": "passed"}, done.stdout
    assert re.search(
        r"^PASSED  2 passed, 0 failed, 0 skipped of 2 tests in [\d.]+ m?s \(python\)$", done.stdout, re.MULTILINE
    ), done.stdout
    assert not ANY_ESCAPE.search(done.stdout + done.stderr), "escape codes on a pipe"


def test_validate_failing_shows_the_failure_message_and_exits_1(daemon, suite):
    done = phronosd("validate", "broken.py", "--tests", "test_solution.py", cwd=suite, url=daemon)
    assert done.returncode == 1, done.stderr
    assert "assert 55 == 45" in done.stdout and "assert 5000050000 == 4999950000" in done.stdout, done.stdout
    assert re.search(r"^FAILED  0 passed, 2 failed, 0 skipped of 2 tests", done.stdout, re.MULTILINE), done.stdout


def test_compile_error_exits_1_with_the_compiler_message(daemon, suite):
    done = phronosd("validate", "syntax.py", "--tests", "test_solution.py", cwd=suite, url=daemon)
    assert done.returncode == 1, done.stderr
    assert "SyntaxError" in done.stdout and "COMPILE ERROR" in done.stdout, done.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["validate", "solution.py", "--tests", "test_solution.py", "--bogus"], "unrecognized arguments: --bogus"),
        (["validate", "missing.py", "--tests", "test_solution.py"], "no such file: missing.py"),
        (["validate", "solution.py", "--tests", "missing_test.py"], "no such file: missing_test.py"),
        (["validate", "solution.py", "--tests", "test_solution.py", "--file", "gone.txt"], "no such file: gone.txt"),
        (["validate", "notes.txt", "--tests", "notes.txt"], "cannot tell the language of notes.txt"),
        (["validate", "solution.py"], "the following arguments are required: --tests"),
        (["run", "solution.py", "--tests", "test_solution.py", "--runs", "0"], "--runs: expected at least 1, got 0"),
        (
            ["run", "solution.py", "--tests", "test_solution.py", "--warmup", "many"],
            "--warmup: expected a whole number",
        ),
        (["compare", "solution.py", "--tests", "test_solution.py"], "compare needs at least two solutions"),
        (["--port", "5", "validate", "solution.py", "--tests", "test_solution.py"], "validate takes no settings flags"),
    ],
)
def test_usage_errors_exit_2_naming_the_problem_before_any_request(suite, args, message, monkeypatch, capsys):
    (suite / "notes.txt").write_text("not code\n")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: 3 if it asked
    status, stderr = phronosd_in_this_process(*args, cwd=suite, monkeypatch=monkeypatch, capsys=capsys, url=url)
    assert status == 2, stderr
    assert message in stderr, stderr


def test_an_unreachable_daemon_exits_3_saying_where_and_why(suite):
    port = free_port()
    done = phronosd(
        "validate", "solution.py", "--tests", "test_solution.py", "--url", f"http://127.0.0.1:{port}", cwd=suite
    )
    assert done.returncode == 3
    assert f"cannot reach phronosd at http://127.0.0.1:{port}: Connection refused" in done.stderr, done.stderr
    socket_path = suite / "none.sock"
    done = phronosd("run", "solution.py", "--tests", "test_solution.py", "--socket", str(socket_path), cwd=suite)
    assert done.returncode == 3
    assert f"cannot reach phronosd at {socket_path}: No such file or directory" in done.stderr, done.stderr


def test_a_daemon_error_exits_3_with_its_code_and_json_gives_its_document(daemon, suite):
    done = phronosd(
        "validate", "solution.py", "--tests", "test_solution.py", "--language", "cobol", cwd=suite, url=daemon
    )
    assert done.returncode == 3
    assert "unknown language 'cobol'" in done.stderr and "request.language, HTTP 400" in done.stderr, done.stderr
    done = phronosd(
        "run", "solution.py", "--tests", "test_solution.py", "--language", "cobol", "--json", cwd=suite, url=daemon
    )
    assert done.returncode == 3
    error = json.loads(done.stdout)
    assert error["error"]["code"] == "request.language" and error["requestId"], error


# What the commands print ----------------------------------------------------------------------------


def test_json_prints_the_api_answer(daemon, suite):
    done = phronosd("validate", "broken.py", "--tests", "test_solution.py", "--json", cwd=suite, url=daemon)
    assert done.returncode == 1
    answer = json.loads(done.stdout)
    assert answer["status"] == "failed" and answer["testsFailed"] == 2 and answer["language"] == "python"
    done = phronosd("run", "solution.py", "--tests", "test_solution.py", "--runs", "7", "--json", cwd=suite, url=daemon)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["passed"] is True and answer["measurement"]["runs"] == 7
    assert len(answer["measurement"]["samplesMs"]) == 7


def test_run_prints_mean_and_sigma_median_range_and_a_histogram(daemon, suite):
    done = phronosd(
        "run", "solution.py", "--tests", "test_solution.py", "--runs", "30", "--warmup", "2", cwd=suite, url=daemon
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    unit = r"[\d.]+ (?:s|ms|µs|ns)"
    assert re.search(rf"Time \(mean ± σ\): +{unit} ± +{unit}", out), out
    assert re.search(rf"Time \(median\): +{unit}", out), out
    assert re.search(rf"Range \(min … max\): +{unit} … +{unit} +30 runs after 2 warm-up runs", out), out
    shown = re.search(r"Histogram \((\d+) runs\)", out)
    bins = re.findall(rf"^ +{unit} … {unit} ([█▉▊▋▌▍▎▏]*) (\d+)$", out, re.MULTILINE)
    assert shown and len(bins) >= 2 and any(bar for bar, _ in bins), out
    assert sum(int(count) for _, count in bins) == int(shown.group(1)) <= 30, out
    assert re.search(r"^PASSED  2 passed", out, re.MULTILINE), out


def test_run_of_a_failing_solution_shows_the_failures_not_a_measurement(daemon, suite):
    done = phronosd("run", "broken.py", "--tests", "test_solution.py", "--runs", "5", cwd=suite, url=daemon)
    assert done.returncode == 1
    assert "assert 55 == 45" in done.stdout and "not measured" in done.stdout and "Time (mean" not in done.stdout


def test_compare_ranks_the_solutions_and_names_the_slower_one(daemon, suite):
    done = phronosd(
        "compare",
        "solution.py",
        "slow.py",
        "broken.py",
        "--tests",
        "test_solution.py",
        "--runs",
        "40",
        cwd=suite,
        url=daemon,
    )
    assert done.returncode == 1, done.stderr  # broken.py did not pass
    out = done.stdout
    ranks = [line.split()[:2] for line in out.splitlines() if re.match(r"^[\d-] +\S+\.py ", line)]
    assert ranks == [["1", "solution.py"], ["2", "slow.py"], ["-", "broken.py"]], out
    assert re.search(
        r"^slow\.py is \d\.\d\d ± \d\.\d\d times slower than solution\.py \(95 % interval", out, re.MULTILINE
    ), out
    assert "broken.py: FAILED" in out and "assert 55 == 45" in out, out


def test_file_names_follow_what_the_tests_import(daemon, tmp_path, require_image):
    """The tests' own module names: `from fib import fib` gets fib.py (in a comparison every solution
    takes that name), `require('./fib')` fib.js; a Go suite needs none; `--file` adds a module."""
    require_image("javascript")
    require_image("go")
    files = {
        "fib.py": "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
        "fib_memo.py": "from functools import cache\n\n@cache\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
        "cases.py": "CASES = {15: 610}\n",
        "test_fib.py": "from cases import CASES\nfrom fib import fib\n\ndef test_fib():\n    assert fib(15) == CASES[15]\n",
        "fib.js": "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\nmodule.exports = { fib };\n",
        "fib.test.js": "const { fib } = require('./fib');\ntest('fib', () => { expect(fib(15)).toBe(610); });\n",
        "fib.go": "package fib\n\nfunc Fib(n int) int {\n\tif n < 2 {\n\t\treturn n\n\t}\n\treturn Fib(n-1) + Fib(n-2)\n}\n",
        "fib_test.go": 'package fib\n\nimport "testing"\n\nfunc TestFib(t *testing.T) {\n\tif Fib(15) != 610 {\n\t\tt.Fatal(Fib(15))\n\t}\n}\n',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    for solution, tests, extra in (
        ("fib.py", "test_fib.py", ["--file", "cases.py"]),
        ("fib.js", "fib.test.js", []),
        ("fib.go", "fib_test.go", []),
    ):
        done = phronosd("validate", solution, "--tests", tests, *extra, cwd=tmp_path, url=daemon)
        assert done.returncode == 0, (solution, done.stdout, done.stderr)
    done = phronosd(
        "compare",
        "fib.py",
        "fib_memo.py",
        "--tests",
        "test_fib.py",
        "--file",
        "cases.py",
        "--runs",
        "5",
        "--json",
        cwd=tmp_path,
        url=daemon,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert [s["status"] for s in json.loads(done.stdout)["solutions"]] == ["passed", "passed"]


def test_socket_and_token(tmp_path, suite, docker_ready):
    """`--socket` reaches a daemon on a Unix socket; its tokens come from --token or PHRONOSD_TOKEN."""
    path = tmp_path / "phronosd.sock"
    process = Daemon(
        "serve",
        "--unix-socket",
        str(path),
        "--instance-name",
        f"{CLI_INSTANCE}-socket",
        "--auth-tokens",
        "s3cret",
        log=tmp_path / "log",
    )
    try:
        wait_for_unix_socket(path, process.proc)
        args = ("validate", "solution.py", "--tests", "test_solution.py", "--socket", str(path))
        refused = phronosd(*args, cwd=suite)
        assert refused.returncode == 3 and "auth.required, HTTP 401" in refused.stderr, refused.stderr
        assert phronosd(*args, "--token", "wrong", cwd=suite).returncode == 3
        done = phronosd(*args, "--token", "s3cret", cwd=suite)
        assert done.returncode == 0 and "PASSED" in done.stdout, (done.stdout, done.stderr)
        assert phronosd(*args, cwd=suite, PHRONOSD_TOKEN="s3cret").returncode == 0
    finally:
        assert process.stop() == 0, process.log()


# Terminals ---------------------------------------------------------------------------------------


def test_colours_and_progress_only_on_a_terminal_and_never_with_no_color(daemon, suite):
    args = ("run", "solution.py", "--tests", "test_solution.py", "--runs", "5")
    status, shown = on_terminal(*args, cwd=suite, PHRONOSD_URL=daemon)
    assert status == 0, shown
    assert SGR_COLOUR.search(shown), shown
    assert "measuring" in shown and "━" in shown, "no progress bar on the terminal"
    status, shown = on_terminal(*args, cwd=suite, PHRONOSD_URL=daemon, NO_COLOR="1")
    assert status == 0, shown
    assert "Time (mean ± σ)" in shown and not SGR_COLOUR.search(shown), shown
    piped = phronosd(*args, cwd=suite, url=daemon)
    assert piped.returncode == 0 and not ANY_ESCAPE.search(piped.stdout + piped.stderr)
    assert "measuring" not in piped.stderr


def interruptible() -> None:
    """In the child before it runs the CLI: SIGINT's default action. A shell starts a background job
    with SIGINT ignored, and that survives exec: a test run started so (CI's, twice) handed it on to
    the CLI, which then never saw the interrupt and ran on to the end of its job."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_ctrl_c_stops_the_run_and_removes_its_container(daemon, suite, command):
    """validate: the request is dropped, so the daemon removes its container; run: the job is cancelled.
    The interrupt waits for this command's own container: one an earlier test left being removed does
    not count (with it, the interrupt came while the CLI was still importing)."""
    earlier = set(leftover_containers(CLI_INSTANCE))
    process = subprocess.Popen(
        [str(PHRONOSD), command, "sleeping.py", "--tests", "test_solution.py"],
        cwd=suite,
        env=environment(PHRONOSD_URL=daemon),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    deadline = time.monotonic() + 60
    while not set(leftover_containers(CLI_INSTANCE)) - earlier and time.monotonic() < deadline:
        time.sleep(0.2)
    assert set(leftover_containers(CLI_INSTANCE)) - earlier, "the container never started"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and "phronosd: interrupted" in stderr, stderr
    if command == "run":
        with SyncClient(daemon) as client:
            assert [job["kind"] for job in client.jobs("cancelled")] == ["run"]
    deadline = time.monotonic() + 30
    while leftover_containers(CLI_INSTANCE) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not leftover_containers(CLI_INSTANCE)


# The library ---------------------------------------------------------------------------------------


def test_sync_client_and_typed_errors(daemon, suite):
    body = submission(suite / "solution.py", suite / "test_solution.py")
    with SyncClient(daemon) as client:
        assert "python" in [language["name"] for language in client.languages()]
        assert client.validate(body)["passed"] is True
        with pytest.raises(PhronosdError) as raised:
            client.validate({**body, "language": "cobol"})
    assert (raised.value.code, raised.value.status) == ("request.language", 400)
    assert raised.value.request_id and "cobol" in raised.value.message
    with SyncClient(f"http://127.0.0.1:{free_port()}") as client, pytest.raises(Unreachable) as unreachable:
        client.health()
    assert unreachable.value.code == "client.unreachable" and unreachable.value.status is None


async def test_async_execute_follows_the_job_to_its_result(daemon, suite):
    events: list[Event] = []
    body = {**submission(suite / "solution.py", suite / "test_solution.py"), "runs": 5}
    async with Client(daemon) as client:
        result = await client.execute("run", body, events.append)
    assert result["passed"] is True and result["measurement"]["runs"] == 5
    kinds = [event.kind for event in events]
    assert kinds[0] == "status" and kinds[-1] == "result" and "progress" in kinds, kinds
    assert [event.id for event in events] == sorted(event.id for event in events)


@pytest.mark.parametrize(
    "tests, solution, name",
    [
        ("from fib import fib\n", "fib.py", "fib.py"),
        ("import os, fib\n", "fib.py", "fib.py"),
        ("from solution import total\n", "slow.py", None),
        ("a.sort()\nsorted(a)\n", "sort.py", None),
        ("from fibonacci import fib\n", "fib.py", None),
        ("const { fib } = require('./fib');\n", "fib.js", "fib.js"),
        ('import { fib } from "./fib.ts";\n', "fib.ts", "fib.ts"),
        ("import { fib } from './fib2';\n", "fib.ts", None),
        ("package fib\n", "fib.go", None),
    ],
)
def test_the_solution_keeps_its_name_only_when_the_tests_import_it(tests, solution, name):
    assert solution_file_for(tests, [Path(solution)]) == name


def test_event_decoder_takes_any_chunking_and_long_lines():
    stream = (
        b': keep-alive\n\nid: 1\nevent: status\ndata: {"status": "running"}\n\n'
        b"id: 2\r\nevent: result\r\ndata: " + json.dumps({"x": "y" * 300_000}).encode() + b"\r\n\r\n"
    )
    for size in (1, 7, 4096, len(stream)):
        decoder = EventDecoder()
        events = [
            event for start in range(0, len(stream), size) for event in decoder.feed(stream[start : start + size])
        ]
        assert [(e.id, e.kind) for e in events] == [(1, "status"), (2, "result")]
        assert events[1].data["x"] == "y" * 300_000


def test_the_daemon_never_imports_the_terminal_libraries():
    """`phronosd serve` (the app, the CLI module and its parser) loads neither rich nor plotext."""
    probe = (
        "import sys, contextlib, io\n"
        "import phronosd.app, phronosd.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    phronosd.cli.main(['serve', '--help'])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'plotext'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=60, env=environment()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
