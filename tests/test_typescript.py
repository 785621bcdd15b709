"""TypeScript/Jest end to end: real app, real containers, Jest with Babel's TypeScript preset."""

from __future__ import annotations

import pytest
from helpers import example, run, statuses, validate
from test_javascript import CONFIG_PROBE, config_files

pytestmark = pytest.mark.each_runtime  # also under gVisor in CI (tests/runtimes.py)

FIB = "export function fib(n: number): number {\n  return n < 2 ? n : fib(n - 1) + fib(n - 2);\n}\n"

MIXED_SUITE = """
import { fib } from './solution';

interface Case { n: number; expected: number }
let before = 0;
beforeEach(() => { before += 1; });
afterEach((): void => {});
describe('fib', () => {
  describe('small', () => {
    test('zero', () => { expect(fib(0)).toBe(0); });
    test.each<[number, number]>([[1, 1], [2, 1], [3, 2]])('fib(%i) = %i', (n, e) => { expect(fib(n)).toBe(e); });
  });
  it('async', async () => { const c: Case = { n: 10, expected: 55 }; expect(await Promise.resolve(fib(c.n))).toBe(c.expected); });
  it('done callback', (done: jest.DoneCallback) => { setTimeout(() => { expect(fib(5)).toBe(5); done(); }, 1); });
  test('hooks ran', () => { expect(before).toBe(7); });
  test('wrong', () => { expect(fib(3)).toBe(3); });
  test.skip('skipped', () => {});
  test.todo('later');
});
"""


@pytest.fixture(autouse=True)
def typescript_image(require_image):
    require_image("typescript")


async def test_counts_match_jest(client):
    result = await validate(client, "typescript", FIB, MIXED_SUITE)
    assert result["status"] == "failed" and result["passed"] is False
    assert (result["testsPassed"], result["testsFailed"], result["testsSkipped"], result["totalTests"]) == (7, 1, 2, 10)
    assert statuses(result)["fib > small > fib(3) = 2"] == "passed"
    assert statuses(result)["fib > wrong"] == "failed"
    assert statuses(result)["fib > later"] == "skipped"


async def test_example_passes_with_alias(client):
    solution, tests = example("typescript")
    result = await validate(client, "ts", solution, tests)
    assert result["status"] == "passed", result
    assert result["testsPassed"] == result["totalTests"] == 7


async def test_type_error_still_runs(client):
    tests = "import { fib } from './solution';\ntest('typed wrongly', () => { const n: string = 10 as any as number; expect(fib(n as any)).toBe(55); });\n"
    solution = FIB + "export const wrong: number = 'not a number';\n"
    result = await validate(client, "typescript", solution, tests)
    assert result["status"] == "passed", result


@pytest.mark.parametrize(
    "solution, tests",
    [
        (
            "export function fib(n: number): number {\n  return n +;\n}\n",
            "import { fib } from './solution';\ntest('x', () => { expect(fib(1)).toBe(1); });\n",
        ),
        (FIB, "import { fib } from './solution';\ntest('x', () => { expect(fib(1)).toBe(1);\n"),
    ],
    ids=["syntax-error-in-solution", "syntax-error-in-tests"],
)
async def test_syntax_error_is_compile_error(client, solution, tests):
    result = await validate(client, "typescript", solution, tests)
    assert result["status"] == "compile_error", result
    assert result["totalTests"] == 0 and "SyntaxError" in result["message"]
    assert "/usr/share/nodejs" not in result["message"]


async def test_run_measures_every_body(client):
    solution, tests = example("typescript")
    result = await run(client, "typescript", solution, tests, runs=20, warmup=5, includeSamples=True)
    assert result["status"] == "passed", result
    m = result["measurement"]
    assert m["runs"] == 20 and m["warmup"] == 5 and len(m["samplesMs"]) == 20
    assert len(m["perTest"]) == 7
    assert m["medianMs"] < result["timings"]["containerMs"]


@pytest.mark.parametrize("answer, expected", [(41, "failed"), (42, "passed")], ids=["wrong", "right"])
async def test_configuration_files_have_no_effect(client, answer, expected):
    # Babel compiles every TypeScript file: babel.config.js, .babelrc, package.json `babel`, browserslist
    # and tsconfig.json must not reach it; jest.config.js and package.json `jest` must not reach Jest.
    solution = f"export const answer = (): number => {answer};\n"
    tests = (
        "import { answer } from './solution';\n"
        + CONFIG_PROBE
        + "test('answer', () => { expect(answer()).toBe(42); });\n"
    )
    result = await validate(client, "typescript", solution, tests, files=config_files("typescript"))
    assert result["status"] == expected, result
    assert statuses(result)["no configuration file was loaded"] == "passed"
