"""Python/pytest end to end: real app, real containers, real pytest."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

import pytest

from conftest import leftover_containers
from helpers import example, run, statuses, validate

FIB = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"

MIXED_SUITE = '''
import pytest
from solution import fib

@pytest.fixture
def ten():
    return 10

def test_with_fixture(ten):
    assert fib(ten) == 55

@pytest.mark.parametrize("n, expected", [(0, 0), (1, 1), (7, 13)])
def test_table(n, expected):
    assert fib(n) == expected

def test_wrong():
    assert fib(3) == 3

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

class TestGroup:
    def test_in_class(self):
        assert fib(2) == 1
'''


@pytest.fixture(autouse=True)
def python_image(require_image):
    require_image("python")


async def test_counts_match_pytest(client):
    result = await validate(client, "python", FIB, MIXED_SUITE)
    assert result["status"] == "failed"
    assert result["passed"] is False
    assert (result["testsPassed"], result["testsFailed"], result["testsSkipped"], result["totalTests"]) == (5, 1, 1, 7)
    assert statuses(result) == {
        "test_with_fixture": "passed",
        "test_table[0-0]": "passed",
        "test_table[1-1]": "passed",
        "test_table[7-13]": "passed",
        "test_wrong": "failed",
        "test_skipped": "skipped",
        "TestGroup::test_in_class": "passed",
    }
    wrong = next(t for t in result["tests"] if t["name"] == "test_wrong")
    assert "assert 2 == 3" in wrong["message"]
    assert "1 failed, 5 passed, 1 skipped" in result["output"]
    assert result["language"] == "python" and result["image"].startswith("phronosd-python:")


async def test_example_passes_with_alias(client):
    solution, tests = example("python")
    result = await validate(client, "py", solution, tests)
    assert result["status"] == "passed" and result["passed"] is True
    assert result["testsPassed"] == result["totalTests"] == 7
    timings = result["timings"]
    assert timings["containerMs"] > 0 and timings["compileMs"] >= 0 and timings["validateMs"] >= 0
    assert timings["measureMs"] is None


@pytest.mark.parametrize(
    "solution, tests",
    [
        ("def fib(n:\n    return n\n", "from solution import fib\n\ndef test_x():\n    assert fib(1) == 1\n"),
        (FIB, "from solution import fib\n\ndef test_x(:\n    assert True\n"),
        (FIB, "from solution import fibonacci\n\ndef test_x():\n    assert fibonacci(1) == 1\n"),
    ],
    ids=["syntax-error-in-solution", "syntax-error-in-tests", "missing-name"],
)
async def test_code_that_does_not_collect_is_compile_error(client, solution, tests):
    result = await validate(client, "python", solution, tests)
    assert result["status"] == "compile_error"
    assert result["passed"] is False and result["totalTests"] == 0
    assert "Error" in result["message"]


async def test_zero_tests(client):
    result = await validate(client, "python", FIB, "from solution import fib\n\ndef helper():\n    return 1\n")
    assert result["status"] == "no_tests" and result["passed"] is False and result["totalTests"] == 0


async def test_exit_inside_a_test_is_not_a_pass(client):
    tests = "import os\nfrom solution import fib\n\ndef test_a():\n    os._exit(0)\n\ndef test_b():\n    assert fib(1) == 1\n"
    result = await validate(client, "python", FIB, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False
    assert "exited with code 0" in result["message"]


async def test_solution_file_and_extra_files(client):
    tests = "from fibmod import fib\nfrom helpers_lib import expected\n\ndef test_x(answer):\n    assert fib(10) == expected() == answer\n"
    files = [
        {"name": "helpers_lib.py", "content": "def expected():\n    return 55\n"},
        {"name": "conftest.py", "content": "import pytest\n\n@pytest.fixture\ndef answer():\n    return 55\n"},
    ]
    result = await validate(client, "python", FIB, tests, solutionFile="fibmod.py", testFile="test_fib.py", files=files)
    assert result["status"] == "passed", result["output"]
    assert statuses(result) == {"test_x": "passed"}


async def test_infinite_loop_times_out_and_container_goes(client):
    tests = "def test_forever():\n    while True:\n        pass\n"
    started = time.monotonic()
    result = await validate(client, "python", FIB, tests, timeoutMs=2000)
    elapsed = time.monotonic() - started
    assert result["status"] == "timeout" and result["passed"] is False
    assert elapsed < 2.0 + 2.0, elapsed
    assert leftover_containers() == []


async def test_memory_bomb_is_memory_limit(client):
    tests = "def test_alloc():\n    blob = bytearray(2 * 1024 ** 3)\n    assert blob\n"
    result = await validate(client, "python", FIB, tests, memoryMb=256)
    assert result["status"] == "memory_limit", result
    assert result["passed"] is False


async def test_flood_of_output_is_output_limit(client):
    tests = "import sys\n\ndef test_flood():\n    line = 'x' * 1023 + '\\n'\n    for _ in range(50 * 1024):\n        sys.stdout.write(line)\n"
    rss_before = own_rss_kb()
    result = await validate(client, "python", FIB, tests + "\n", timeoutMs=20000)
    assert result["status"] == "output_limit" and result["outputTruncated"] is True
    assert len(result["output"].encode()) <= 2 * 1024 * 1024
    assert own_rss_kb() - rss_before < 100 * 1024


async def test_network_is_unreachable(client):
    tests = (
        "import socket\nimport pytest\n\n"
        "def test_connect():\n"
        "    with pytest.raises(OSError):\n"
        "        socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
        "    with pytest.raises(OSError):\n"
        "        socket.getaddrinfo('deb.debian.org', 80)\n"
    )
    result = await validate(client, "python", FIB, tests)
    assert result["status"] == "passed", result["output"]


async def test_writes_outside_the_work_dir_fail(client):
    tests = (
        "import pytest\n\n"
        "@pytest.mark.parametrize('path', ['/etc/x', '/usr/x', '/opt/phronosd/harness/x', '/x'])\n"
        "def test_write(path):\n"
        "    with pytest.raises(OSError):\n"
        "        open(path, 'w')\n\n"
        "def test_work_dir_is_writable():\n"
        "    open('scratch.txt', 'w').write('ok')\n"
    )
    result = await validate(client, "python", FIB, tests)
    assert result["status"] == "passed", result["output"]
    assert result["testsPassed"] == 5


async def test_run_measures_in_process(client):
    solution, tests = example("python")
    result = await run(client, "python", solution, tests, runs=30, warmup=3, includeSamples=True)
    assert result["status"] == "passed"
    m = result["measurement"]
    assert m["runs"] == 30 and m["warmup"] == 3
    assert len(m["samplesMs"]) == 30
    assert m["minMs"] <= m["medianMs"] <= m["maxMs"]
    assert m["ci95Ms"][0] <= m["meanMs"] <= m["ci95Ms"][1]
    assert result["meanExecutionTime"] == m["meanMs"] and result["standardDeviation"] == m["stddevMs"]
    assert [t["name"] for t in m["perTest"]] == [t["name"] for t in result["tests"]]
    per_test_sum = sum(t["meanMs"] for t in m["perTest"])
    assert abs(per_test_sum - m["meanMs"]) < 1e-6
    assert result["timings"]["measureMs"] > 0
    # Start-up is not in the run time: one run of 7 trivial tests is far below container start.
    assert m["medianMs"] < result["timings"]["containerMs"]


async def test_run_fixtures_are_fresh_every_run(client):
    tests = (
        "import pytest\n\n"
        "@pytest.fixture\n"
        "def bucket():\n"
        "    return []\n\n"
        "def test_bucket_starts_empty(bucket):\n"
        "    assert bucket == []\n"
        "    bucket.append(1)\n"
    )
    result = await run(client, "python", FIB, tests, runs=20, warmup=2)
    assert result["measurement"]["runs"] == 20
    assert result["measurement"]["notes"] == []


async def test_run_without_passing_suite_has_no_measurement(client):
    result = await run(client, "python", FIB, MIXED_SUITE, runs=10)
    assert result["status"] == "failed"
    assert result["measurement"] is None and result["meanExecutionTime"] is None


@pytest.mark.parametrize("settings_overrides", [{"measure_budget_ms": 400}])
async def test_run_stops_at_the_budget_and_says_so(client):
    tests = "import time\n\ndef test_slow():\n    time.sleep(0.05)\n"
    result = await run(client, "python", FIB, tests, runs=100, warmup=0)
    measurement = result["measurement"]
    assert 1 <= measurement["runs"] < 100
    assert "time_budget_exhausted" in measurement["flags"]
    assert measurement["medianMs"] >= 50


async def test_client_disconnect_removes_the_container(client):
    tests = "import time\n\ndef test_sleep():\n    time.sleep(60)\n"
    task = asyncio.ensure_future(
        client.post("/api/execute/validate", json={"language": "python", "solution": FIB, "tests": tests})
    )
    for _ in range(100):
        await asyncio.sleep(0.1)
        if leftover_containers():
            break
    assert leftover_containers(), "the container never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(50):
        if not leftover_containers():
            break
        await asyncio.sleep(0.1)
    assert leftover_containers() == []


async def test_no_temp_files_on_the_host(client):
    """Files travel over stdin: a request creates nothing in the host's temp dir."""
    before = set(os.listdir(tempfile.gettempdir()))
    solution, tests = example("python")
    await run(client, "python", solution, tests, runs=5)
    await validate(client, "python", "syntax error(", tests)
    assert set(os.listdir(tempfile.gettempdir())) - before == set()


def own_rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def test_skipped_tests_do_not_block_measurement(client):
    tests = "import pytest\n\ndef test_a():\n    assert True\n\n@pytest.mark.skip(reason='later')\ndef test_b():\n    pass\n"
    result = await run(client, "python", FIB, tests, runs=5, warmup=0)
    assert result["status"] == "passed" and result["testsSkipped"] == 1
    assert [t["name"] for t in result["measurement"]["perTest"]] == ["test_a"]
