"""JavaScript/Jest end to end: real app, real containers, real Jest."""

from __future__ import annotations

import pytest

from helpers import example, run, statuses, validate

FIB_CJS = "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\nmodule.exports = { fib };\n"
FIB_ESM = "export function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\nexport default fib;\n"

MIXED_SUITE = """
const { fib } = require('./solution');
let before = 0;
beforeEach(() => { before += 1; });
afterEach(() => {});
describe('fib', () => {
  describe('small', () => {
    test('zero', () => { expect(fib(0)).toBe(0); });
    test.each([[1, 1], [2, 1], [3, 2]])('fib(%i) = %i', (n, e) => { expect(fib(n)).toBe(e); });
  });
  it('async', async () => { expect(await Promise.resolve(fib(10))).toBe(55); });
  it('done callback', (done) => { setTimeout(() => { expect(fib(5)).toBe(5); done(); }, 1); });
  test('hooks ran', () => { expect(before).toBe(7); });
  test('wrong', () => { expect(fib(3)).toBe(3); });
  test.skip('skipped', () => {});
  xtest('x skipped', () => {});
  test.todo('later');
});
"""

PASSING_SUITE = """
const { fib } = require('./solution');
let fresh;
beforeEach(() => { fresh = []; });
describe('fib', () => {
  test.each([[1, 1], [2, 1], [10, 55]])('fib(%i) = %i', (n, e) => { expect(fib(n)).toBe(e); });
  it('async', async () => { expect(await Promise.resolve(fib(12))).toBe(144); });
  it('done callback', (done) => { setImmediate(() => { expect(fib(5)).toBe(5); done(); }); });
  test('fresh state every run', () => { expect(fresh).toEqual([]); fresh.push(1); console.log('quiet'); });
});
"""


@pytest.fixture(autouse=True)
def javascript_image(require_image):
    require_image("javascript")


async def test_counts_match_jest(client):
    result = await validate(client, "javascript", FIB_CJS, MIXED_SUITE)
    assert result["status"] == "failed" and result["passed"] is False
    assert (result["testsPassed"], result["testsFailed"], result["testsSkipped"], result["totalTests"]) == (7, 1, 3, 11)
    assert statuses(result) == {
        "fib > small > zero": "passed",
        "fib > small > fib(1) = 1": "passed",
        "fib > small > fib(2) = 1": "passed",
        "fib > small > fib(3) = 2": "passed",
        "fib > async": "passed",
        "fib > done callback": "passed",
        "fib > hooks ran": "passed",
        "fib > wrong": "failed",
        "fib > skipped": "skipped",
        "fib > x skipped": "skipped",
        "fib > later": "skipped",
    }
    wrong = next(t for t in result["tests"] if t["name"] == "fib > wrong")
    assert "Expected: 3" in wrong["message"] and "Received: 2" in wrong["message"]
    assert "/usr/share/nodejs" not in wrong["message"]


async def test_example_passes_with_alias(client):
    solution, tests = example("javascript")
    result = await validate(client, "js", solution, tests)
    assert result["status"] == "passed", result
    assert result["testsPassed"] == result["totalTests"] == 7


@pytest.mark.parametrize(
    "solution, tests",
    [
        (FIB_ESM, "import fib2, { fib } from './solution';\ntest('esm', () => { expect(fib(10) + fib2(1)).toBe(56); });\n"),
        (FIB_ESM, "const { fib } = require('./solution');\ntest('require esm', () => { expect(fib(10)).toBe(55); });\n"),
        (FIB_CJS, "import { fib } from './solution';\ntest('import cjs', () => { expect(fib(10)).toBe(55); });\n"),
        (FIB_CJS, "const { fib } = require('./solution');\ntest('cjs', () => { expect(fib(10)).toBe(55); });\n"),
    ],
    ids=["esm-both", "esm-solution", "esm-tests", "commonjs"],
)
async def test_module_systems(client, solution, tests):
    result = await validate(client, "javascript", solution, tests)
    assert result["status"] == "passed", result
    assert result["totalTests"] == 1


@pytest.mark.parametrize(
    "solution, tests, expected",
    [
        ("function fib(n) { return n + ; }\nmodule.exports = { fib };\n",
         "const { fib } = require('./solution');\ntest('x', () => { expect(fib(1)).toBe(1); });\n", "SyntaxError"),
        (FIB_CJS, "const { fib } = require('./solution');\ntest('x', () => { expect(fib(1)).toBe(1);\n", "SyntaxError"),
        ("export function fib(n) { return n + ; }\n",
         "import { fib } from './solution';\ntest('x', () => { expect(fib(1)).toBe(1); });\n", "SyntaxError"),
        (FIB_CJS, "const { fib } = require('./nowhere');\ntest('x', () => { expect(fib(1)).toBe(1); });\n",
         "Cannot find module './nowhere'"),
    ],
    ids=["syntax-error-in-solution", "syntax-error-in-tests", "syntax-error-esm", "missing-module"],
)
async def test_suite_that_does_not_run_is_compile_error(client, solution, tests, expected):
    result = await validate(client, "javascript", solution, tests)
    assert result["status"] == "compile_error", result
    assert result["totalTests"] == 0 and "0 of 0" not in (result["message"] or "")
    assert expected in result["message"]
    assert "/usr/share/nodejs" not in result["message"]


async def test_file_without_tests_is_no_tests(client):
    result = await validate(client, "javascript", FIB_CJS, "const { fib } = require('./solution');\n")
    assert result["status"] == "no_tests"


async def test_exit_inside_a_test_is_not_a_pass(client):
    tests = "test('a', () => { process.exit(0); });\ntest('b', () => { expect(1).toBe(1); });\n"
    result = await validate(client, "javascript", FIB_CJS, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False


async def test_infinite_loop_times_out(client):
    result = await validate(client, "javascript", FIB_CJS, "test('forever', () => { for (;;) {} });\n", timeoutMs=3000)
    assert result["status"] == "timeout" and result["passed"] is False


async def test_unbounded_growth_is_memory_limit(client):
    tests = "test('grow', () => { const a = []; for (;;) a.push(new Array(1000).fill(1)); });\n"
    result = await validate(client, "javascript", FIB_CJS, tests, memoryMb=256, timeoutMs=20000)
    assert result["status"] == "memory_limit", result


async def test_network_connection_fails(client):
    tests = """
const net = require('net');
test('connect', async () => {
  await expect(new Promise((resolve, reject) => {
    net.connect({ host: '1.1.1.1', port: 53 }, () => resolve('connected')).on('error', reject);
  })).rejects.toThrow();
});
"""
    result = await validate(client, "javascript", FIB_CJS, tests)
    assert result["status"] == "passed", result


async def test_run_measures_every_body(client):
    result = await run(client, "javascript", FIB_CJS, PASSING_SUITE, runs=15, warmup=3, includeSamples=True)
    assert result["status"] == "passed", result
    m = result["measurement"]
    assert m["runs"] == 15 and m["warmup"] == 3 and m["notes"] == []
    assert len(m["samplesMs"]) == 15
    assert [t["name"] for t in m["perTest"]] == [t["name"] for t in result["tests"]]
    assert len(m["perTest"]) == 6
    assert "quiet" not in result["output"].replace("console.log\n    quiet", "", 1)


def busy_suite(body_us: str) -> str:
    """A test whose body spins for `body_us` microseconds (a JS expression of the run number n)."""
    return (
        "let n = 0;\n"
        "test('spin', () => {\n  n += 1;\n"
        f"  const end = process.hrtime.bigint() + BigInt(Math.round({body_us})) * 1000n;\n"
        "  while (process.hrtime.bigint() < end) {}\n});\n"
    )


async def test_adaptive_warmup_stops_when_times_settle(client):
    result = await run(client, "javascript", FIB_CJS, busy_suite("300"), runs=5)
    m = result["measurement"]
    assert 10 <= m["warmup"] < 200, m  # the default is adaptive: at least one window of 10, under the cap


async def test_adaptive_warmup_waits_for_the_faster_tier_it_has_seen(client):
    # Steady at 300 µs from the 5th call to the 34th, 100 µs before and after: the shape of a JIT that
    # dropped its optimised code and compiles it again. The steady 300 µs window is not the end. (Three
    # fast warm-up calls, not one: a first re-run can itself be slow, and then nothing faster was seen.)
    result = await run(client, "javascript", FIB_CJS, busy_suite("n <= 4 || n > 34 ? 100 : 300"), runs=10)
    m = result["measurement"]
    assert 30 <= m["warmup"] < 200, m
    assert m["medianMs"] < 0.2, m


async def test_adaptive_warmup_that_never_settles_stops_at_the_cap(client):
    # 100 and 300 µs alternating: a robust CV of 74 % in every window, so only the cap of 200 ends it
    result = await run(client, "javascript", FIB_CJS, busy_suite("n % 2 ? 100 : 300"), runs=5)
    assert result["measurement"]["warmup"] == 200
    explicit = await run(client, "javascript", FIB_CJS, busy_suite("n % 2 ? 100 : 300"), runs=5, warmup=7)
    assert explicit["measurement"]["warmup"] == 7  # a client's warm-up stays fixed


async def test_run_without_passing_suite_has_no_measurement(client):
    result = await run(client, "javascript", FIB_CJS, MIXED_SUITE, runs=5)
    assert result["status"] == "failed" and result["measurement"] is None
