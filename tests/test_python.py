"""Python/pytest end to end: real app, real containers, real pytest."""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import replace

import pytest
from conftest import leftover_containers
from helpers import compare, example, pool_ready, post, run, statuses, validate

from phronosd.languages import Registry

pytestmark = pytest.mark.each_runtime  # also under gVisor in CI (tests/runtimes.py)

FIB = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"

MIXED_SUITE = """
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
"""


@pytest.fixture(autouse=True)
def python_image(require_image):
    require_image("python")


MIXED_STATUSES = {
    "test_with_fixture": "passed",
    "test_table[0-0]": "passed",
    "test_table[1-1]": "passed",
    "test_table[7-13]": "passed",
    "test_wrong": "failed",
    "test_skipped": "skipped",
    "TestGroup::test_in_class": "passed",
}


def counts(result):
    return result["testsPassed"], result["testsFailed"], result["testsSkipped"], result["totalTests"]


async def test_counts_match_pytest(client):
    result = await validate(client, "python", FIB, MIXED_SUITE)
    assert result["status"] == "failed"
    assert result["passed"] is False
    assert counts(result) == (5, 1, 1, 7)
    assert statuses(result) == MIXED_STATUSES
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


async def test_solution_file_and_extra_files(client):
    tests = "from fibmod import fib\nfrom helpers_lib import expected\n\ndef test_x(answer):\n    assert fib(10) == expected() == answer\n"
    files = [
        {"name": "helpers_lib.py", "content": "def expected():\n    return 55\n"},
        {"name": "conftest.py", "content": "import pytest\n\n@pytest.fixture\ndef answer():\n    return 55\n"},
    ]
    result = await validate(client, "python", FIB, tests, solutionFile="fibmod.py", testFile="test_fib.py", files=files)
    assert result["status"] == "passed", result["output"]
    assert statuses(result) == {"test_x": "passed"}
    assert [note for note in result["notes"] if "conftest.py" in note] == [
        (
            "pytest loaded conftest.py from the request's files as a plugin (conftest.py or pytest_plugins): "
            "its fixtures and hooks took part in the run"
        )
    ]


async def test_flood_of_output_is_output_limit(client):
    tests = "import sys\n\ndef test_flood():\n    line = 'x' * 1023 + '\\n'\n    for _ in range(50 * 1024):\n        sys.stdout.write(line)\n"
    rss_before = own_rss_kb()
    result = await validate(client, "python", FIB, tests + "\n", timeoutMs=20000)
    assert result["status"] == "output_limit" and result["outputTruncated"] is True
    assert len(result["output"].encode()) <= 2 * 1024 * 1024
    assert own_rss_kb() - rss_before < 100 * 1024


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


async def test_every_compared_run_gets_a_fresh_heap_layout(client):
    """In a compare job the objects a run allocates land somewhere new in every run (phronosd_layout).
    Each process calls the test 14 times (validation, 10 warm-ups, 3 timed runs) and records the
    address of a fresh 32-byte int: with a fresh layout per run 9 to 13 of them differed (runc; 4 of
    the first 8 under gVisor at worst), without it 2, and this suite fails while measured."""
    tests = (
        "seen = []\n\n"
        "def test_fresh_addresses():\n"
        "    seen.append(id((1 << 40) + len(seen)))\n"
        "    assert len(seen) < 14 or len(set(seen)) >= 4, seen\n"
    )
    solutions = [{"name": name, "solution": FIB} for name in ("a", "b")]
    body = {"language": "python", "tests": tests, "solutions": solutions, "runs": 24, "warmup": 10}
    result = await post(client, "/api/execute/compare", body)
    for entry in result["solutions"]:
        assert entry["measurement"]["runs"] == 24, entry["measurement"]["notes"]  # 8 processes of 3 runs
        assert entry["measurement"]["notes"] == []


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


BUSY_SOLUTION = """
import time

_clock = time.perf_counter_ns


def busy(ms):
    end = _clock() + ms * 1_000_000
    while _clock() < end:
        pass
    return ms
"""

FAKE_CLOCKS = """
_ticks = iter(range(1, 10**15))
for _name in ("perf_counter_ns", "monotonic_ns", "time_ns", "process_time_ns", "thread_time_ns"):
    setattr(time, _name, lambda: next(_ticks))
for _name in ("perf_counter", "monotonic", "time", "process_time", "thread_time"):
    setattr(time, _name, lambda: next(_ticks) / 1e9)
"""

BUSY_TESTS = "from solution import busy\n\ndef test_busy():\n    assert busy(5) == 5\n"


async def test_a_solution_replacing_the_time_functions_does_not_change_the_run_time(client):
    """The harness bound its clock before the solution was imported: a 5 ms busy loop measures 5 ms
    (faked, 0.000001 ms). The loop ends by the real clock, so no run is shorter than 5 ms; a loaded
    host can make some longer, hence the fastest run is the one held to ±30 %."""
    result = await run(client, "python", BUSY_SOLUTION + FAKE_CLOCKS, BUSY_TESTS, runs=20, warmup=2)
    assert result["status"] == "passed", result
    measurement = result["measurement"]
    assert 3.5 <= measurement["minMs"] <= 6.5, measurement
    assert "timing_inconsistent" not in measurement["flags"], measurement["notes"]


async def test_a_solution_replacing_the_harness_clock_is_flagged(client):
    """Patching the harness itself (in-process, so possible) makes its clock disagree with the
    supervisor's: the run times are flagged, not reported as a measurement of the solution."""
    patch = "\nimport sys\nsys.modules['phronosd_pytest'].perf_counter_ns = iter(range(1, 10**15)).__next__\n"
    result = await run(client, "python", BUSY_SOLUTION + patch, BUSY_TESTS, runs=60, warmup=0)
    measurement = result["measurement"]
    assert measurement["medianMs"] < 0.001
    assert "timing_inconsistent" in measurement["flags"], measurement


INI_SETTINGS = "addopts = -p no:unittest -k 'not wrong'\npython_functions = check_*\n"
TOML_SETTINGS = 'addopts = "-p no:unittest -k \'not wrong\'"\npython_functions = "check_*"\n'
CONFIG_FILES = {
    "pytest.ini": "[pytest]\n" + INI_SETTINGS,
    "tox.ini": "[pytest]\n" + INI_SETTINGS,
    "setup.cfg": "[tool:pytest]\n" + INI_SETTINGS,
    "pyproject.toml": "[tool.pytest.ini_options]\n" + TOML_SETTINGS,
}
CONFIG_SUITE = (
    "import unittest\nfrom solution import fib\n\n"
    "def test_wrong():\n    assert fib(3) == 3\n\n"
    "class TestFib(unittest.TestCase):\n"
    "    def test_unittest_style(self):\n        self.assertEqual(fib(4), 4)\n\n"
    "def check_ok():\n    pass\n"
)


@pytest.mark.parametrize("config_file", list(CONFIG_FILES))
async def test_framework_config_files_in_the_work_dir_are_not_read(client, config_file):
    """Read, each of these would pass a failing suite: `-p no:unittest` drops the TestCase, `-k`
    deselects test_wrong, python_functions collects only check_ok."""
    files = [{"name": config_file, "content": CONFIG_FILES[config_file]}]
    result = await validate(client, "python", FIB, CONFIG_SUITE, files=files)
    assert result["status"] == "failed", result
    assert statuses(result) == {"test_wrong": "failed", "TestFib::test_unittest_style": "failed"}


async def test_a_solution_named_like_framework_config_is_refused(client):
    result = await validate(client, "python", FIB, "def test_x():\n    pass\n", expect=400, solutionFile="conftest.py")
    assert result["error"]["code"] == "request.file_name"


async def test_tests_may_still_skip_themselves(client):
    tests = (
        "import unittest\nimport pytest\nfrom solution import fib\n\n"
        "def test_runs():\n    assert fib(2) == 1\n\n"
        "def test_skips_itself():\n    pytest.skip('not on this platform')\n\n"
        "def test_xfails_itself():\n    pytest.xfail('known bug')\n\n"
        "class TestLater(unittest.TestCase):\n"
        "    def test_skips_itself(self):\n        self.skipTest('later')\n"
    )
    result = await validate(client, "python", FIB, tests)
    assert result["status"] == "passed", result
    assert statuses(result) == {
        "test_runs": "passed",
        "test_skips_itself": "skipped",
        "test_xfails_itself": "skipped",
        "TestLater::test_skips_itself": "skipped",
    }


class TestEnvironment:
    """The harness takes no options from the environment: a handler's `env` (the only way anything
    reaches it; requests cannot) carrying PYTEST_ADDOPTS changes nothing."""

    @pytest.fixture
    def settings_overrides(self, monkeypatch):
        discover = Registry.discover.__func__

        def with_pytest_options(cls):
            registry = discover(cls)
            python = registry.languages["python"]
            env = {"PYTEST_ADDOPTS": "--deselect test_solution.py::test_wrong"}
            return cls(
                [*(lang for lang in registry.languages.values() if lang is not python), replace(python, env=env)]
            )

        monkeypatch.setattr(Registry, "discover", classmethod(with_pytest_options))
        return {}

    async def test_pytest_options_from_the_environment_are_ignored(self, client):
        tests = "from solution import fib\n\ndef test_ok():\n    assert fib(2) == 1\n\ndef test_wrong():\n    assert fib(3) == 3\n"
        result = await validate(client, "python", FIB, tests)
        assert result["status"] == "failed", result
        assert statuses(result) == {"test_ok": "passed", "test_wrong": "failed"}


async def test_the_tests_see_no_job_or_pytest_variables(client):
    tests = (
        "import os\n\n"
        "def test_environment_is_clean():\n"
        "    assert [k for k in os.environ if k.startswith(('PHRONOSD_', 'PYTEST_ADDOPTS', 'PYTEST_PLUGINS'))] == []\n"
    )
    result = await validate(client, "python", FIB, tests)
    assert result["status"] == "passed", result["output"]


async def test_exiting_while_measured_leaves_no_measurement(client):
    """A solution that passes validation, then exits in the measure phase, gets no run times."""
    solution = "import os\n\ncalls = 0\n\ndef fib(n):\n    global calls\n    calls += 1\n    if calls == 3:\n        os._exit(0)\n    return 1\n"
    tests = "from solution import fib\n\ndef test_one():\n    assert fib(1) == 1\n"
    result = await run(client, "python", solution, tests, runs=10, warmup=0)
    assert result["measurement"] is None and result["meanExecutionTime"] is None, result
    assert any(note.startswith("not measured") for note in result["notes"]), result["notes"]


async def test_a_conftest_that_does_not_import_is_compile_error(client):
    files = [{"name": "conftest.py", "content": "import pytest\n\nraise RuntimeError('broken conftest')\n"}]
    result = await validate(client, "python", FIB, "def test_x():\n    pass\n", files=files)
    assert result["status"] == "compile_error", result
    assert "conftest" in result["message"] and "broken conftest" in result["message"]


class TestWarmPool:
    """Pooled containers, what is special to pytest (the rest: `test_across_languages.py`): the
    harness runs a warm-up suite before its job, and pytest's own outcomes come back as cold."""

    @pytest.fixture
    def settings_overrides(self):
        return {"warm_pool": 1, "warm_pool_languages": "python"}

    async def test_a_suite_with_skipped_and_failing_tests_gets_the_cold_verdict(self, client, cold_client):
        await pool_ready(client, "python")
        pooled = await validate(client, "python", FIB, MIXED_SUITE)
        cold = await validate(cold_client, "python", FIB, MIXED_SUITE)
        assert pooled["timings"]["pooled"] is True and cold["timings"]["pooled"] is False
        assert pooled["status"] == cold["status"] == "failed"
        assert counts(pooled) == counts(cold) == (5, 1, 1, 7)
        assert statuses(pooled) == statuses(cold) == MIXED_STATUSES
        assert [(t["name"], t["message"]) for t in pooled["tests"]] == [
            (t["name"], t["message"]) for t in cold["tests"]
        ]

    async def test_the_warm_up_leaves_nothing_for_the_job(self, client):
        """The warm-up suite ran in this process before the job: its module, folder and sys.path
        entry are gone, and the job's own test module is the one collected."""
        await pool_ready(client, "python")
        tests = (
            "import os, sys, tempfile\n\n"
            "def test_no_warm_up_traces():\n"
            "    assert 'test_phronosd_warm_up' not in sys.modules\n"
            "    assert os.listdir(tempfile.gettempdir()) == [], os.listdir(tempfile.gettempdir())\n"
            "    assert [p for p in sys.path if p.startswith(tempfile.gettempdir())] == []\n"
        )
        result = await validate(client, "python", FIB, tests)
        assert result["timings"]["pooled"] is True
        assert result["status"] == "passed", result["tests"]


SABOTEUR = '''
import os, time

def _saboteur(harness):
    """Spin while our own harness is stopped (another solution is being timed), rest while it runs."""
    while True:
        try:
            state = open(f"/proc/{harness}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            os._exit(0)
        if state == "T":
            end = time.perf_counter() + 0.002
            while time.perf_counter() < end:
                pass
        else:
            time.sleep(0.0005)

if os.fork() == 0:
    os.setsid()
    _saboteur(os.getppid())

'''
REWRITER = """
import glob, os, time

if os.fork() == 0:
    os.setsid()
    for _ in range(2000):
        for path in glob.glob("/work/*/solution.py"):
            if os.path.dirname(path) != os.getcwd():
                try:
                    with open(path, "w") as handle:
                        handle.write("def fib(n):\\n    return -1\\n")
                except OSError:
                    pass
        time.sleep(0.005)
    os._exit(0)

"""


@pytest.mark.parametrize("attack", ["saboteur", "rewriter"])
async def test_a_compared_solution_cannot_slow_down_or_break_another(client, attack):
    """A solution's process that escapes its harness's process group (`setsid`) is killed before every
    step and before the next solution starts: it can neither load the core while another solution is
    timed nor rewrite another solution's files."""
    solution, tests = example("python")
    evil = (SABOTEUR if attack == "saboteur" else REWRITER) + solution
    result = await compare(client, "python", tests, {"evil": evil, "honest": solution}, runs=40)
    honest = result["byName"]["honest"]
    assert honest["status"] == "passed" and honest["measurement"] is not None, honest["message"]
    assert result["comparison"]["results"][0]["verdict"] != "slower", "the honest solution was made to look slower"
