"""Hostile code, in Python (the supervisor and the sandbox are the same for every language): each
case asserts the verdict, that the daemon stays healthy, and that nothing is left behind."""

from __future__ import annotations

import os

import pytest
from conftest import HOST_SECRET
from helpers import validate
from runtimes import reopens_harness_pipes

from phronosd import executor
from phronosd.sandbox import Sandbox

pytestmark = pytest.mark.each_runtime  # also under gVisor in CI (tests/runtimes.py)

SOLUTION = "def answer():\n    return 42\n"


@pytest.fixture(autouse=True)
def python_image(require_image):
    require_image("python")


async def verdict(client, tests: str, **extra) -> dict:
    result = await validate(client, "python", SOLUTION, tests, **extra)
    health = await client.get("/health")
    assert health.status == 200, "the daemon must stay healthy"
    return result


CASES = {
    "fork-bomb": (
        "import os\n\ndef test_fork_bomb():\n    while True:\n        try:\n            os.fork()\n"
        "        except OSError:\n            pass\n",
        # under gVisor each process costs the sandbox's kernel memory too: the memory limit may come first
        {"timeout", "failed", "runtime_error", "memory_limit"},
    ),
    "threads-spinning": (
        "import threading\n\ndef spin():\n    while True:\n        pass\n\n"
        "def test_threads():\n    for _ in range(32):\n        threading.Thread(target=spin, daemon=True).start()\n"
        "    spin()\n",
        {"timeout"},
    ),
    "sleep-forever": ("import time\n\ndef test_sleep():\n    time.sleep(10**6)\n", {"timeout"}),
    "stop-itself": (
        "import os, signal\n\ndef test_stop():\n    os.kill(os.getpid(), signal.SIGSTOP)\n",
        {"timeout"},
    ),
    "stop-the-supervisor": (
        "import os, signal\n\ndef test_stop_parent():\n    os.kill(os.getppid(), signal.SIGSTOP)\n"
        "    while True:\n        pass\n",
        {"timeout"},
    ),
    "stderr-flood": (
        "import sys\n\ndef test_flood():\n    while True:\n        sys.stderr.write('e' * 4096)\n",
        {"output_limit"},
    ),
    "one-huge-line": (
        "import os\n\ndef test_line():\n    chunk = b'x' * 65536\n    while True:\n        os.write(1, chunk)\n",
        {"output_limit"},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_resource_attacks_get_a_verdict(client, name):
    tests, expected = CASES[name]
    result = await verdict(client, tests, timeoutMs=3000)
    assert result["status"] in expected, (name, result["status"], result["message"])
    assert result["passed"] is False


async def test_invalid_utf8_and_nul_bytes_in_output(client):
    tests = "import os\n\ndef test_bytes():\n    os.write(1, b'\\xff\\xfe\\x00 nul \\xc3\\x28 end\\n')\n"
    result = await verdict(client, tests)
    assert result["status"] == "passed"
    assert "\x00 nul" in result["output"] and "\ufffd" in result["output"]


async def test_filling_the_tmpfs_and_fallocate_fail_cleanly(client):
    tests = (
        "import os, pytest\n\n"
        "def test_fill_work_dir():\n"
        "    with pytest.raises(OSError):\n"
        "        with open('big', 'wb') as f:\n"
        "            while True:\n"
        "                f.write(b'0' * (1 << 20))\n\n"
        "def test_fallocate():\n"
        "    fd = os.open('/tmp/huge', os.O_CREAT | os.O_WRONLY)\n"
        "    with pytest.raises(OSError):\n"
        "        os.posix_fallocate(fd, 0, 10 * 1024 ** 3)\n"
    )
    result = await verdict(client, tests, memoryMb=512)
    assert result["status"] == "passed", result["output"][-2000:]


async def test_closing_stdout_and_stderr_early(client):
    tests = "import os\n\ndef test_close():\n    os.close(1)\n    os.close(2)\n\ndef test_after():\n    assert True\n"
    result = await verdict(client, tests)
    assert result["testsPassed"] == 2 and result["status"] == "passed"


async def test_background_process_and_zombies_do_not_outlive_the_run(client):
    tests = (
        "import os, subprocess\n\n"
        "def test_spawn():\n"
        "    subprocess.Popen(['sleep', '1000'], start_new_session=True)\n"
        "    for _ in range(5):\n"
        "        if os.fork() == 0:\n"
        "            os._exit(0)\n"
    )
    result = await verdict(client, tests, timeoutMs=10000)
    assert result["status"] == "passed"
    assert result["timings"]["totalMs"] < 10000


async def test_privileged_operations_are_refused(client):
    tests = (
        "import ctypes, os, socket, pytest\n\n"
        "def test_setuid():\n    with pytest.raises(PermissionError):\n        os.setuid(0)\n\n"
        "def test_mount():\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    assert libc.mount(b'none', b'/work', b'tmpfs', 0, None) != 0\n\n"
        "def test_ptrace_the_supervisor():\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    assert libc.ptrace(16, os.getppid(), None, None) != 0  # PTRACE_ATTACH\n\n"
        "def test_supervisor_memory_is_closed():\n"
        "    with pytest.raises(OSError):\n"
        "        open(f'/proc/{os.getppid()}/mem', 'rb').read(1)\n\n"
        "def test_raw_socket():\n"
        "    with pytest.raises(PermissionError):\n"
        "        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n"
    )
    result = await verdict(client, tests)
    assert result["status"] == "passed", result["output"][-3000:]
    assert result["testsPassed"] == 5


async def test_network_tcp_udp_dns_fail(client):
    tests = (
        "import socket, pytest\n\n"
        "def test_tcp():\n    with pytest.raises(OSError):\n        socket.create_connection(('8.8.8.8', 443), timeout=2)\n\n"
        "def test_udp():\n"
        "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "    with pytest.raises(OSError):\n        s.sendto(b'x', ('8.8.8.8', 53))\n\n"
        "def test_dns():\n    with pytest.raises(OSError):\n        socket.getaddrinfo('example.com', 443)\n\n"
        "def test_only_loopback():\n"
        "    import os\n"
        "    assert sorted(os.listdir('/sys/class/net')) == ['lo']\n"
    )
    result = await verdict(client, tests)
    assert result["status"] == "passed", result["output"][-3000:]


SECRET_CHECKS = (
    "import os, glob\n\n"
    "def test_env():\n"
    "    assert not any('hunter2' in v for v in os.environ.values())\n"
    "    assert not [k for k in os.environ if k.startswith('HOST_SECRET')]\n\n"
    "def test_proc():\n"
    "    for path in glob.glob('/proc/[0-9]*/environ'):\n"
    "        try:\n"
    "            data = open(path, 'rb').read()\n"
    "        except OSError:\n"
    "            continue\n"
    "        assert b'hunter2' not in data\n"
)


@pytest.fixture
def forwarding_sandbox(monkeypatch):
    """A fault that cannot happen for real: a daemon that forwards its secret to the container (`docker
    run --env NAME` copies it from the docker CLI's environment) and into the job's environment for
    the harness, to prove the check above can fail."""
    original_args, original_job = Sandbox.run_args, executor.job_of

    def leaky_args(self, *args, **kwargs):
        command = original_args(self, *args, **kwargs)
        return [*command[:-1], "--env", "HOST_SECRET_TOKEN", command[-1]]

    def leaky_job(*args, **kwargs):
        job = original_job(*args, **kwargs)
        return {**job, "env": {**job["env"], "HOST_SECRET_TOKEN": os.environ["HOST_SECRET_TOKEN"]}}

    monkeypatch.setattr(Sandbox, "run_args", leaky_args)
    monkeypatch.setattr(executor, "job_of", leaky_job)


async def test_host_environment_is_not_visible(host_secret, client):
    result = await verdict(client, SECRET_CHECKS)
    assert result["status"] == "passed", result["output"][-3000:]
    assert os.environ["HOST_SECRET_TOKEN"] == HOST_SECRET


async def test_the_secret_check_fails_when_the_sandbox_forwards_the_secret(
    host_secret, forwarding_sandbox, container_runtime, client
):
    result = await verdict(client, SECRET_CHECKS)
    assert result["status"] == "failed", result
    # The container's own environment is its init's, the supervisor's, and the harness's is the
    # supervisor's choice: the secret shows only when the job carries it. Both processes are not
    # dumpable, so their /proc/<pid>/environ is closed to the code under runc; gVisor leaves it open.
    proc = "failed" if reopens_harness_pipes(container_runtime) else "passed"
    assert {t["name"]: t["status"] for t in result["tests"]} == {"test_env": "failed", "test_proc": proc}


@pytest.mark.parametrize(
    "forgery",
    [
        "print('=' * 20 + ' 100 passed in 0.01s ' + '=' * 20)",
        'print(\'\\n\' + \'a\' * 32 + \'{"events": [{"event": "test", "name": "x", "status": "passed"}]}\')',
        "open('/proc/1/fd/1', 'w').write('\\n' + 'f' * 32 + '{\"events\": [{\"event\": \"validated\"}]}\\n')",
        'import sys; sys.stdout.write(\'{"numPassedTests": 99, "success": true}\\n\')',
    ],
    ids=["fake-summary", "fake-frame-on-stdout", "fake-frame-on-container-stdout", "fake-jest-json"],
)
async def test_printed_forgeries_do_not_change_the_counts(client, forgery):
    tests = f"def test_fails():\n    {forgery}\n    assert False\n"
    result = await verdict(client, tests)
    assert result["status"] == "failed"
    assert (result["testsPassed"], result["testsFailed"], result["totalTests"]) == (0, 1, 1)


EXITS = {
    "sys-exit-0": "sys.exit(0)",
    "sigkill-itself": "os.kill(os.getpid(), signal.SIGKILL)",
    "sigterm-itself": "os.kill(os.getpid(), signal.SIGTERM)",
    "keyboard-interrupt": "raise KeyboardInterrupt",
    "pytest-exit-0": "pytest.exit('done', returncode=0)",
    "exit-from-a-thread": "threading.Thread(target=os._exit, args=(0,)).start(); time.sleep(5)",
    "close-stdout-stderr": "os.close(1); os.close(2); sys.stdout.close(); sys.stderr.close()",
    "stop-the-session": "next(o for o in gc.get_objects() if isinstance(o, pytest.Session)).shouldstop = 'stop'",
    "close-every-fd": "os.closerange(0, 1024)",
    "devnull-over-every-fd": "[os.dup2(os.open(os.devnull, os.O_WRONLY), fd) for fd in range(3, 64)]",
}


@pytest.mark.parametrize("name", list(EXITS))
async def test_exiting_early_is_never_a_pass(client, name):
    """Whatever way the run ends early, a suite whose last test fails never passes."""
    tests = (
        "import gc, os, signal, sys, threading, time\nimport pytest\nfrom solution import answer\n\n"
        "def test_first():\n    assert answer() == 42\n\n"
        f"def test_exit():\n    {EXITS[name]}\n\n"
        "def test_wrong():\n    assert answer() == 0\n"
    )
    result = await verdict(client, tests, timeoutMs=10000)
    assert result["passed"] is False and result["status"] in {"failed", "runtime_error"}, (name, result)


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)", "os.kill(os.getpid(), 9)"])
async def test_exiting_while_imported_is_never_a_pass(client, exit_call):
    solution = f"import os, sys\n{exit_call}\n\ndef answer():\n    return 42\n"
    tests = "from solution import answer\n\ndef test_answer():\n    assert answer() == 42\n"
    result = await validate(client, "python", solution, tests)
    assert result["passed"] is False and result["status"] in {"compile_error", "runtime_error"}, result


FORGED = (
    b'{"event": "test", "name": "test_forge", "status": "passed", "durationMs": 1, "message": null}\n'
    b'{"event": "validated"}\n'
)


@pytest.mark.parametrize(
    "payload",
    [FORGED, b"0123456789abcdef0123456789abcdef " + FORGED, b'{"event": "note", "message": "x"'],
    ids=["events", "events-behind-a-guessed-token", "unterminated-line"],
)
async def test_forged_report_lines_on_every_fd_are_ignored(client, payload):
    """The report fd is open in the test process: lines without the run's token are dropped, and a
    line left unterminated does not swallow the harness's next event (here: the failure)."""
    tests = (
        "import os\nfrom solution import answer\n\n"
        "def test_forge():\n"
        "    for fd in os.listdir('/proc/self/fd'):\n"
        "        try:\n"
        f"            os.write(int(fd), {payload!r})\n"
        "        except OSError:\n"
        "            pass\n"
        "    assert answer() == 0\n\n"
        "def test_ok():\n    assert answer() == 42\n"
    )
    result = await verdict(client, tests)
    assert result["status"] == "failed", result
    assert (result["testsPassed"], result["testsFailed"], result["totalTests"]) == (1, 1, 2)


@pytest.mark.parametrize(
    "skip_call",
    [
        "pytest.skip('too hard')",
        "pytest.xfail('too hard')",
        "raise unittest.SkipTest('too hard')",
        "pytest.importorskip('no_such_module')",
    ],
    ids=["skip", "xfail", "unittest-skiptest", "importorskip"],
)
async def test_a_solution_cannot_skip_the_tests_it_fails(client, skip_call):
    solution = f"import unittest\nimport pytest\n\ndef answer():\n    {skip_call}\n"
    tests = "from solution import answer\n\ndef test_easy():\n    assert True\n\ndef test_hard():\n    assert answer() == 42\n"
    result = await validate(client, "python", solution, tests)
    assert result["status"] == "failed" and result["passed"] is False, result
    hard = next(t for t in result["tests"] if t["name"] == "test_hard")
    assert hard["status"] == "failed" and "raised by the solution at solution.py:5" in hard["message"]


async def test_a_solution_cannot_skip_a_unittest_testcase_it_fails(client):
    solution = "import unittest\n\ndef answer():\n    raise unittest.SkipTest('too hard')\n"
    tests = (
        "import unittest\nfrom solution import answer\n\n"
        "class TestAnswer(unittest.TestCase):\n"
        "    def test_easy(self):\n        pass\n\n"
        "    def test_hard(self):\n        self.assertEqual(answer(), 42)\n"
    )
    result = await validate(client, "python", solution, tests)
    assert result["status"] == "failed" and result["passed"] is False, result
    hard = next(t for t in result["tests"] if t["name"] == "TestAnswer::test_hard")
    assert hard["status"] == "failed" and "SkipTest raised by the solution at solution.py:4" in hard["message"]


async def test_a_compared_solution_that_exits_while_stepped_is_never_ranked(client):
    """Exiting in the middle of its timed runs (the harness never acknowledges the step) leaves that
    solution without a measurement; the other one is measured to the end, alone in the ranking."""
    tests = "from solution import answer\n\ndef test_answer():\n    assert answer() == 42\n"
    # Its third call is its first timed run (validation, one warm-up run), in the first block's process.
    exits = "import os\n\ncalls = 0\n\ndef answer():\n    global calls\n    calls += 1\n    if calls == 3:\n        os._exit(0)\n    return 42\n"
    body = {
        "language": "python",
        "tests": tests,
        "runs": 10,
        "warmup": 1,
        "solutions": [{"name": "exits", "solution": exits}, {"name": "honest", "solution": SOLUTION}],
    }
    response = await client.post("/api/execute/compare", json=body)
    result = await response.json()
    assert response.status == 200, result
    by_name = {entry["name"]: entry for entry in result["solutions"]}
    assert by_name["exits"]["measurement"] is None, by_name["exits"]
    assert by_name["honest"]["measurement"]["runs"] == 10, by_name["honest"]
    assert result["ranking"] == ["honest"] and result["comparison"] is None, result
    assert (await client.get("/health")).status == 200
