"""JavaScript/Jest end to end: real app, real containers, real Jest."""

from __future__ import annotations

import pytest
from helpers import example, job_events, pool_ready, post, run, statuses, validate
from runtimes import tier_ms

pytestmark = pytest.mark.each_runtime  # also under gVisor in CI (tests/runtimes.py)

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
        (
            FIB_ESM,
            "import fib2, { fib } from './solution';\ntest('esm', () => { expect(fib(10) + fib2(1)).toBe(56); });\n",
        ),
        (
            FIB_ESM,
            "const { fib } = require('./solution');\ntest('require esm', () => { expect(fib(10)).toBe(55); });\n",
        ),
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
        (
            "function fib(n) { return n + ; }\nmodule.exports = { fib };\n",
            "const { fib } = require('./solution');\ntest('x', () => { expect(fib(1)).toBe(1); });\n",
            "SyntaxError",
        ),
        (FIB_CJS, "const { fib } = require('./solution');\ntest('x', () => { expect(fib(1)).toBe(1);\n", "SyntaxError"),
        (
            "export function fib(n) { return n + ; }\n",
            "import { fib } from './solution';\ntest('x', () => { expect(fib(1)).toBe(1); });\n",
            "SyntaxError",
        ),
        (
            FIB_CJS,
            "const { fib } = require('./nowhere');\ntest('x', () => { expect(fib(1)).toBe(1); });\n",
            "Cannot find module './nowhere'",
        ),
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


ANSWER_SUITE = "const { answer } = require('./solution');\ntest('answer', () => { expect(answer()).toBe(42); });\n"

EARLY_EXITS = {
    "exit": "process.exit(0)",
    "reallyExit": "process.reallyExit(0)",
    "sigkill": "process.kill(process.pid, 'SIGKILL')",
    "abort": "process.abort()",
}


def exiting_solution(call: str) -> str:
    """A wrong solution that ends the process instead of answering."""
    return f"module.exports = {{ answer: () => {{ {call}; return 41; }} }};\n"


@pytest.mark.parametrize("call", list(EARLY_EXITS.values()), ids=list(EARLY_EXITS))
async def test_early_exit_is_never_a_pass(client, call):
    result = await validate(client, "javascript", exiting_solution(call), ANSWER_SUITE)
    assert result["status"] == "runtime_error" and result["passed"] is False, result
    assert result["totalTests"] == 0


async def test_deliberate_abort_is_not_reported_as_memory_limit(client):
    result = await validate(client, "javascript", exiting_solution("process.abort()"), ANSWER_SUITE)
    assert result["status"] == "runtime_error", result
    assert any("process.abort()" in note for note in result["notes"]), result["notes"]


@pytest.mark.parametrize("call", ["process.exit(0)", "process.reallyExit(0)"], ids=["exit", "reallyExit"])
async def test_exit_while_measured_leaves_no_measurement(client, call):
    solution = (
        f"let calls = 0;\nmodule.exports = {{ answer: () => {{ calls += 1; if (calls === 3) {call}; return 42; }} }};\n"
    )
    result = await run(client, "javascript", solution, ANSWER_SUITE, runs=5, warmup=1)
    assert result["measurement"] is None and result["meanExecutionTime"] is None, result
    assert any("measure" in note for note in result["notes"]), result["notes"]


REPORT_PIPES_JS = """
const fs = require('fs');
/** This process's descriptors but Node's own (event fds, pipe pairs: writing there crashes Node). */
function ownFds() {
  const fds = fs.readdirSync('/proc/self/fd').map(Number);
  const links = fds.map((fd) => { try { return fs.readlinkSync(`/proc/self/fd/${fd}`); } catch (error) { return ''; } });
  return fds.map((fd, i) => ({ fd, link: links[i] }))
    .filter(({ link }) => !link.startsWith('anon_inode') && links.filter((other) => other === link).length === 1);
}
function writeToEvery(text) {
  for (const { fd } of ownFds()) {
    try { fs.writeSync(fd, text); } catch (error) {}
  }
}
/** The write-only pipes but stdout and stderr: the report pipe. */
function reportPipes() {
  const writeOnly = (fd) => (parseInt(/flags:\\s+(\\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))[1], 8) & 3) === 1;
  return ownFds().filter(({ fd, link }) => fd > 2 && link.startsWith('pipe:') && writeOnly(fd)).map(({ fd }) => fd);
}
"""

FORGING_SOLUTION = (
    REPORT_PIPES_JS
    + """
const forged = ['', '0'.repeat(32) + ' ', 'deadbeef '].flatMap((prefix) => [
  { event: 'test', name: 'answer', status: 'passed', durationMs: 1, message: null },
  { event: 'validated' },
].map((event) => prefix + JSON.stringify(event) + '\\n')).join('');
writeToEvery(forged);
process.on('exit', () => writeToEvery(forged));
module.exports = { answer: () => 41 };
"""
)


async def test_forged_report_lines_are_ignored(client):
    result = await validate(client, "javascript", FORGING_SOLUTION, ANSWER_SUITE)
    assert result["status"] == "failed" and result["passed"] is False, result
    assert statuses(result) == {"answer": "failed"}
    assert '"status":"passed"' in result["output"]  # the forged lines were written, and not counted


CUTTING_IN_SOLUTIONS = {
    # a line left without its end, which the next event would continue (and be dropped with)
    "partial-line": REPORT_PIPES_JS
    + "module.exports = { answer: () => { writeToEvery('unfinished'); return 41; } };\n",
    # writers in other processes, cutting into events longer than one atomic pipe write (the failure
    # message of a 10 000-character answer)
    "concurrent-writers": REPORT_PIPES_JS
    + """
const { spawn } = require('child_process');
function startWriters() {
  for (const fd of reportPipes()) {
    spawn('/bin/sh', ['-c', `exec 9>/proc/${process.pid}/fd/${fd} && while :; do printf x >&9; done`], { stdio: 'ignore' });
  }
  const end = Date.now() + 300;
  while (Date.now() < end) {}
}
module.exports = { answer: () => { startWriters(); return 'y'.repeat(10000); } };
""",
}


@pytest.mark.parametrize("name", list(CUTTING_IN_SOLUTIONS))
async def test_writes_cutting_into_the_report_do_not_drop_a_failure(client, name):
    tests = ANSWER_SUITE + "test('sanity', () => { expect(1).toBe(1); });\n"
    result = await validate(client, "javascript", CUTTING_IN_SOLUTIONS[name], tests)
    assert result["status"] == "failed" and result["passed"] is False, result
    assert statuses(result) == {"answer": "failed", "sanity": "passed"}


async def test_closed_stdout_and_stderr_do_not_hide_a_failure(client):
    solution = "const fs = require('fs');\nfs.closeSync(1);\nfs.closeSync(2);\nmodule.exports = { answer: () => 41 };\n"
    result = await validate(client, "javascript", solution, ANSWER_SUITE)
    assert result["status"] == "failed", result
    closed = await validate(client, "javascript", solution.replace("41", "42"), ANSWER_SUITE)
    assert closed["status"] == "passed", closed


MEMORY_PROBE_JS = """
const fs = require('fs');
/** Opens another process's memory for writing and zeroes its writable mappings (it crashes): the
 *  error code when the kernel refuses. */
function overwriteMemory(pid) {
  let fd;
  try {
    fd = fs.openSync(`/proc/${pid}/mem`, 'r+');
  } catch (error) {
    return error.code;
  }
  for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'latin1').split('\\n')) {
    const [range, perms] = line.split(' ');
    if (!perms || !perms.startsWith('rw')) continue;
    const [start, end] = range.split('-').map((hex) => parseInt(hex, 16));
    try { fs.writeSync(fd, Buffer.alloc(Math.min(end - start, 1 << 20)), 0, Math.min(end - start, 1 << 20), start); } catch (error) {}
  }
  return 'overwritten';
}
"""

LAUNCHER_READING_SOLUTION = (
    MEMORY_PROBE_JS
    + "process.stdout.write(`launcher memory: ${overwriteMemory(process.ppid)}\\n`);\n"
    + "module.exports = { answer: () => 42 };\n"
)


async def test_the_launcher_holding_the_token_is_not_readable(client):
    """`launch` (bash) outlives Node's start holding the report token: the tests' code cannot open its
    memory (it would find the token there, or crash it and lose the run's memory_limit line)."""
    result = await validate(client, "javascript", LAUNCHER_READING_SOLUTION, ANSWER_SUITE)
    assert "launcher memory: EACCES" in result["output"], result["output"][-2000:]
    assert result["status"] == "passed", result


RIVAL_BREAKING_SOLUTION = (
    MEMORY_PROBE_JS
    + """
/** The other solutions' harness processes (launcher and Node) in this container. */
function rivals() {
  return fs.readdirSync('/proc').filter((entry) => /^\\d+$/.test(entry)).map(Number)
    .filter((pid) => pid !== process.pid && pid !== process.ppid)
    .filter((pid) => {
      try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('entry.js'); } catch (error) { return false; }
    });
}
let probed = false;
/** Tries each rival process once its block's rival is there: at this solution's validation, or at its
 *  first timed run (the block's processes start in a random order). Written to fd 1 itself: the
 *  harness silences stdout while measuring. */
function probeRivals() {
  const found = probed ? [] : rivals();
  if (found.length > 0) probed = true;
  for (const pid of found) fs.writeSync(1, `rival ${pid}: ${overwriteMemory(pid)}\\n`);
}
probeRivals();
"""
)
# Every call of the example's `fib` probes first (after it, so that it wraps the solution's export).
PROBING_EXPORT = (
    "const unprobed = module.exports.fib;\nmodule.exports = { fib: (n) => { probeRivals(); return unprobed(n); } };\n"
)


async def test_a_compared_solution_cannot_reach_into_its_rival(client):
    """In a compare job every solution runs under one user: a rival's Node and launcher are not
    dumpable, so the code under test can neither read their memory (the token, the step pipe) nor
    write into it (crash the rival, or make it slower)."""
    solution, tests = example("javascript")
    body = {
        "language": "javascript",
        "tests": tests,
        "runs": 10,
        "solutions": [
            {"name": "honest", "solution": solution},
            {"name": "evil", "solution": RIVAL_BREAKING_SOLUTION + solution + PROBING_EXPORT},
        ],
    }
    result = await post(client, "/api/execute/compare", body)
    honest, evil = result["solutions"]
    attempts = {line for line in evil["output"].splitlines() if line.startswith("rival ")}
    assert len(attempts) == 2 and all(line.endswith(": EACCES") for line in attempts), evil["output"][-2000:]
    assert honest["status"] == "passed" and honest["measurement"]["runs"] == 10, honest


GLOBALS_SPEED_SUITE = """
function spin(n) { let x = 0; for (let i = 0; i < n; i += 1) x = (Math.imul(x, 1103515245) + i) | 0; return x; }
const imul = Math.imul;
function spinLocal(n) { let x = 0; for (let i = 0; i < n; i += 1) x = (imul(x, 1103515245) + i) | 0; return x; }
function fastest(f) {
  let best = Number.MAX_SAFE_INTEGER;
  for (let k = 0; k < 30; k += 1) {
    const start = process.hrtime.bigint();
    f(100000);
    best = Math.min(best, Number(process.hrtime.bigint() - start));
  }
  return best;
}
test('a global read in a loop is as fast as a local one', () => {
  expect(fastest(spin) / fastest(spinLocal)).toBeLessThan(5);
});
"""


async def test_globals_are_read_at_full_speed(client):
    """Reading `Math` in Jest's vm context went through Node's interceptors (about 1000 times slower than
    a local variable on Node 20); the harness injects the builtins as module parameters."""
    result = await validate(client, "javascript", FIB_CJS, GLOBALS_SPEED_SUITE)
    assert result["status"] == "passed", result["tests"]


SHADOWING_SOLUTION = """
class Map { constructor() { this.size = -1; } }
const Math = { imul: (a, b) => a * b + 1 };
let JSON = 'mine';
module.exports = { Map, Math, JSON };
"""


async def test_a_module_may_declare_its_own_builtin_names(client):
    """A builtin a module declares itself (top-level class, const, let) is not injected: a parameter
    of the same name would make the module a SyntaxError."""
    tests = (
        "const own = require('./solution');\n"
        "test('its own', () => { expect([new own.Map().size, own.Math.imul(2, 3), own.JSON]).toEqual([-1, 7, 'mine']); });\n"
        "test('the builtins', () => { expect([new Map().size, Math.imul(2, 3)]).toEqual([0, 6]); });\n"
    )
    result = await validate(client, "javascript", SHADOWING_SOLUTION, tests)
    assert result["status"] == "passed", result


async def test_fake_timers_reach_the_solutions_date(client):
    """`Date` is not injected: Jest's fake timers replace the global `Date` while the tests run, and a
    module that had been given the real one at load would not see `setSystemTime`."""
    solution = "function year() { return new Date().getFullYear(); }\nmodule.exports = { year };\n"
    tests = (
        "const { year } = require('./solution');\n"
        "test('fake time', () => {\n"
        "  jest.useFakeTimers();\n"
        "  jest.setSystemTime(new Date('2001-06-01T00:00:00Z'));\n"
        "  expect(year()).toBe(2001);\n"
        "  jest.useRealTimers();\n"
        "});\n"
    )
    result = await validate(client, "javascript", solution, tests)
    assert result["status"] == "passed", result["tests"]


CLOCK_PATCHING_SOLUTION = """
const { performance } = require('perf_hooks');
process.hrtime.bigint = () => 1000n;
process.hrtime = Object.assign(() => [0, 1000], { bigint: () => 1000n });
performance.now = () => 1;
globalThis.performance.now = () => 1;
Date.now = () => 1;
const cell = new Int32Array(new SharedArrayBuffer(4));
module.exports = { answer: () => { Atomics.wait(cell, 0, 0, 2); return 42; } };
"""


async def test_clocks_patched_at_import_do_not_change_the_run_times(client):
    result = await run(client, "javascript", CLOCK_PATCHING_SOLUTION, ANSWER_SUITE, runs=5, warmup=1)
    m = result["measurement"]
    assert result["status"] == "passed" and m["runs"] == 5, result
    assert m["minMs"] >= 2.0, m  # every body sleeps 2 ms: the harness's clock is the real one
    assert "timing_inconsistent" not in m["flags"], m["notes"]


CONFIG_FILES = {
    "jest.config.js": (
        "require('fs').writeFileSync('/tmp/loaded-jest.config.js', '');\n"
        "module.exports = { setupFilesAfterEnv: ['<rootDir>/setup.js'], testRegex: 'other\\\\.test\\\\.[jt]s$' };\n"
    ),
    "package.json": (
        '{"type": "module", "jest": {"setupFilesAfterEnv": ["<rootDir>/setup.js"], "testRegex": "other"},'
        ' "babel": {"plugins": ["./plugin.js"]}, "browserslist": ["no such browser 99"]}\n'
    ),
    "setup.js": (
        "require('fs').writeFileSync('/tmp/loaded-setup.js', '');\n"
        "globalThis.expect = () => new Proxy({}, { get: () => () => {} });\n"
    ),
    "babel.config.js": (
        "require('fs').writeFileSync('/tmp/loaded-babel.config.js', '');\nmodule.exports = { plugins: ['./plugin.js'] };\n"
    ),
    ".babelrc": '{"plugins": ["./plugin.js"]}\n',
    "plugin.js": "module.exports = () => { require('fs').writeFileSync('/tmp/loaded-plugin.js', ''); return { visitor: {} }; };\n",
    ".browserslistrc": "no such browser 99\n",
    "tsconfig.json": '{"compilerOptions": {"strict": true}} and not JSON\n',
}

CONFIG_PROBE = """
const fs = require('fs');
test('no configuration file was loaded', () => {
  expect(fs.readdirSync('/tmp').filter((name) => name.startsWith('loaded-'))).toEqual([]);
});
"""


def config_files(language: str) -> list[dict[str, str]]:
    """Framework configuration files that would, if honoured, run code, add a no-op `expect` and pick
    another test file (other.test.<ext>, which passes), as `files` of a request."""
    other = "other.test.ts" if language == "typescript" else "other.test.js"
    files = {**CONFIG_FILES, other: "test('other', () => {});\n"}
    return [{"name": name, "content": content} for name, content in files.items()]


@pytest.mark.parametrize(
    "solution, imports, expected",
    [
        ("export const answer = () => 41;\n", "import { answer } from './solution';\n", "failed"),
        ("export const answer = () => 42;\n", "import { answer } from './solution';\n", "passed"),
        ("module.exports = { answer: () => 41 };\n", "const { answer } = require('./solution');\n", "failed"),
    ],
    ids=["wrong-es-modules", "right-es-modules", "wrong-commonjs"],
)
async def test_configuration_files_have_no_effect(client, solution, imports, expected):
    tests = imports + CONFIG_PROBE + "test('answer', () => { expect(answer()).toBe(42); });\n"
    result = await validate(client, "javascript", solution, tests, files=config_files("javascript"))
    assert result["status"] == expected, result
    assert statuses(result)["no configuration file was loaded"] == "passed"
    assert statuses(result)["answer"] == expected


async def test_growth_past_v8s_heap_limit_is_memory_limit(client):
    """With 512 MB, V8's own heap limit is reached before the container's and V8 aborts (with 256 MB the
    kernel's OOM killer stops it first: test_across_languages.py)."""
    tests = "test('grow', () => { const a = []; for (;;) a.push(new Array(1e6).fill(1)); });\n"
    result = await validate(client, "javascript", FIB_CJS, tests, memoryMb=512, timeoutMs=60000)
    assert result["status"] == "memory_limit", result
    assert "JavaScript heap out of memory" in result["message"]


async def test_run_measures_every_body(client):
    result = await run(client, "javascript", FIB_CJS, PASSING_SUITE, runs=15, warmup=3, includeSamples=True)
    assert result["status"] == "passed", result
    m = result["measurement"]
    assert m["runs"] == 15 and m["warmup"] == 3 and m["notes"] == []
    assert len(m["samplesMs"]) == 15
    assert [t["name"] for t in m["perTest"]] == [t["name"] for t in result["tests"]]
    assert len(m["perTest"]) == 6
    assert "quiet" not in result["output"].replace("console.log\n    quiet", "", 1)


async def test_measure_phase_reports_progress_every_tenth_of_the_runs(client):
    request = {"language": "javascript", "solution": FIB_CJS, "tests": PASSING_SUITE, "runs": 40, "warmup": 2}
    events = await job_events(client, {"kind": "run", "request": request})
    assert events[-1]["event"] == "result" and events[-1]["data"]["status"] == "succeeded", events[-1]
    progress = [e["data"] for e in events if e["event"] == "progress" and e["data"].get("phase") == "measure"]
    done = [p["runsDone"] for p in progress if p.get("runsDone")]
    assert len(done) >= 10 and done == sorted(done) and done[-1] == 40, progress
    assert all(later - earlier <= 4 for earlier, later in zip([0, *done], done)), done


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


async def test_adaptive_warmup_waits_for_the_faster_tier_it_has_seen(client, container_runtime):
    # Steady at 300 µs from the 5th call to the 34th, 100 µs before and after: the shape of a JIT that
    # dropped its optimised code and compiles it again. The steady 300 µs window is not the end. (Three
    # fast warm-up calls, not one: a first re-run can itself be slow, and then nothing faster was seen.)
    result = await run(client, "javascript", FIB_CJS, busy_suite("n <= 4 || n > 34 ? 100 : 300"), runs=10)
    m = result["measurement"]
    assert 30 <= m["warmup"] < 200, m
    assert tier_ms(m, container_runtime) < 0.2, m


async def test_adaptive_warmup_that_never_settles_stops_at_the_cap(client):
    # 100 and 300 µs alternating: a robust CV of 74 % in every window, so only the cap of 200 ends it
    result = await run(client, "javascript", FIB_CJS, busy_suite("n % 2 ? 100 : 300"), runs=5)
    assert result["measurement"]["warmup"] == 200
    explicit = await run(client, "javascript", FIB_CJS, busy_suite("n % 2 ? 100 : 300"), runs=5, warmup=7)
    assert explicit["measurement"]["warmup"] == 7  # a client's warm-up stays fixed


class TestWarmPool:
    """Pooled containers, what is special to JavaScript (the rest: `test_across_languages.py`): Node
    loads Jest, its environment and Babel before the job arrives, and an ES module suite runs as cold."""

    @pytest.fixture
    def settings_overrides(self):
        return {"warm_pool": 1, "warm_pool_languages": "javascript"}

    async def test_a_failing_suite_fails_in_a_pooled_container(self, client):
        await pool_ready(client, "javascript")
        result = await validate(
            client,
            "javascript",
            FIB_ESM,
            MIXED_SUITE.replace("const { fib } = require('./solution');", "import { fib } from './solution';"),
        )
        assert result["timings"]["pooled"] is True, result["timings"]
        assert result["status"] == "failed" and statuses(result)["fib > wrong"] == "failed", result
