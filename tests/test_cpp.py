"""C++/GoogleTest end to end: real app, real containers, real g++ and gtest."""

from __future__ import annotations

import pytest
from helpers import compare, example, run, statuses, validate

pytestmark = pytest.mark.each_runtime  # also under gVisor in CI (tests/runtimes.py)

FIB = "#include <cstdint>\nstd::uint64_t fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\n"

MIXED_SUITE = r"""
#include <stdexcept>

struct Fixture : testing::Test {
  int base = 0;
  void SetUp() override { base = 10; }
};

TEST_F(Fixture, UsesSetUp) { EXPECT_EQ(fib(base), 55u); }

class Table : public testing::TestWithParam<int> {};
TEST_P(Table, NonNegative) { EXPECT_GE(fib(GetParam()), 0u); }
INSTANTIATE_TEST_SUITE_P(Small, Table, testing::Values(1, 2, 3));

template <typename T> struct Typed : testing::Test {};
using Types = testing::Types<int, long>;
TYPED_TEST_SUITE(Typed, Types);
TYPED_TEST(Typed, Two) { EXPECT_EQ(fib(static_cast<TypeParam>(3)), 2u); }

TEST(Fib, Wrong) { EXPECT_EQ(fib(3), 3u); }
TEST(Fib, Throws) { throw std::runtime_error("boom"); }
TEST(Fib, DISABLED_Later) {}
"""

HEADER = "#pragma once\n#include <cstdint>\ninline std::uint64_t fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\n"


@pytest.fixture(autouse=True)
def cpp_image(require_image):
    require_image("cpp")


async def test_counts_follow_gtest(client):
    result = await validate(client, "cpp", FIB, MIXED_SUITE)
    assert result["status"] == "failed"
    assert statuses(result) == {
        "Fixture.UsesSetUp": "passed",
        "Small/Table.NonNegative/0": "passed",
        "Small/Table.NonNegative/1": "passed",
        "Small/Table.NonNegative/2": "passed",
        "Typed/0.Two": "passed",
        "Typed/1.Two": "passed",
        "Fib.Wrong": "failed",
        "Fib.Throws": "error",
        "Fib.DISABLED_Later": "skipped",
    }
    wrong = next(t for t in result["tests"] if t["name"] == "Fib.Wrong")
    assert "Which is: 2" in wrong["message"] and "solution_test.cpp:" in wrong["message"]
    throws = next(t for t in result["tests"] if t["name"] == "Fib.Throws")
    assert "boom" in throws["message"]


async def test_example_passes(client):
    solution, tests = example("cpp")
    result = await validate(client, "c++", solution, tests)
    assert result["status"] == "passed", result["output"]
    assert result["testsPassed"] == result["totalTests"] == 7


async def test_header_style_solution_and_own_main(client):
    tests = (
        '#include "fib.h"\n#include <gtest/gtest.h>\n'
        "TEST(Fib, Ten) { EXPECT_EQ(fib(10), 55u); }\n"
        "int main(int argc, char** argv) { testing::InitGoogleTest(&argc, argv); return RUN_ALL_TESTS(); }\n"
    )
    result = await validate(client, "cpp", HEADER, tests)
    assert result["status"] == "passed", result["output"]
    assert statuses(result) == {"Fib.Ten": "passed"}


async def test_extra_sources_are_linked(client):
    tests = '#include "fib.h"\n#include "twice.h"\nTEST(Fib, Twice) { EXPECT_EQ(twice(fib(10)), 110u); }\n'
    files = [
        {"name": "fib.h", "content": "#pragma once\n#include <cstdint>\nstd::uint64_t fib(int n);\n"},
        {"name": "twice.h", "content": "#pragma once\n#include <cstdint>\nstd::uint64_t twice(std::uint64_t x);\n"},
        {"name": "twice.cc", "content": '#include "twice.h"\nstd::uint64_t twice(std::uint64_t x) { return 2 * x; }\n'},
    ]
    result = await validate(client, "cpp", '#include "fib.h"\n' + FIB, tests, files=files)
    assert result["status"] == "passed", result["output"]


@pytest.mark.parametrize(
    "solution, tests, where",
    [
        ("int fib(int n) { return n }\n", "TEST(F, X) { EXPECT_EQ(fib(1), 1); }\n", "solution.cpp"),
        (FIB, "TEST(F, X) { EXPECT_EQ(fib(1), 1u) }\n", "solution_test.cpp"),
        (FIB, "TEST(F, X) { EXPECT_EQ(fibonacci(1), 1u); }\n", "solution_test.cpp"),
    ],
    ids=["syntax-error-in-solution", "syntax-error-in-tests", "undeclared-name"],
)
async def test_compile_errors(client, solution, tests, where):
    result = await validate(client, "cpp", solution, tests)
    assert result["status"] == "compile_error"
    assert where in result["message"] and "error" in result["message"]


async def test_link_error_is_compile_error(client):
    tests = '#include "fib.h"\nTEST(F, X) { EXPECT_EQ(fib(1), 1u); }\n'
    files = [{"name": "fib.h", "content": "#pragma once\n#include <cstdint>\nstd::uint64_t fib(int n);\n"}]
    result = await validate(
        client, "cpp", "int unrelated() { return 1; }\n", tests, solutionFile="other.cpp", files=files
    )
    assert result["status"] == "compile_error"
    assert "undefined symbol: fib(int)" in result["message"]  # mold's words


async def test_crash_reports_the_signal_and_what_ran(client):
    tests = (
        "TEST(A, Ok) { EXPECT_EQ(fib(2), 1u); }\n"
        "TEST(A, Crash) { volatile int* p = nullptr; *p = 1; }\n"
        "TEST(A, Never) {}\n"
    )
    result = await validate(client, "cpp", FIB, tests)
    assert result["status"] == "runtime_error"
    assert result["signal"] == "SIGSEGV"
    assert statuses(result) == {"A.Ok": "passed", "A.Crash": "error"}


async def test_abort_is_runtime_error(client):
    tests = "#include <cstdlib>\nTEST(A, Abort) { std::abort(); }\n"
    result = await validate(client, "cpp", FIB, tests)
    assert result["status"] == "runtime_error" and result["signal"] == "SIGABRT"


@pytest.mark.parametrize(
    "leave",
    ["std::exit(0);", "_exit(0);", "std::abort();", "raise(SIGKILL);", "std::quick_exit(0);"],
    ids=["exit", "_exit", "abort", "SIGKILL", "quick_exit"],
)
async def test_leaving_mid_suite_is_never_a_pass(client, leave):
    """The solution ends the process in its first call; the failing test after it never runs."""
    solution = f"#include <csignal>\n#include <cstdlib>\n#include <unistd.h>\nint answer() {{ {leave} return 0; }}\n"
    tests = 'TEST(A, Before) {}\nTEST(A, Leaves) { EXPECT_EQ(answer(), 1); }\nTEST(A, After) { FAIL() << "wrong"; }\n'
    result = await validate(client, "cpp", solution, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False, result
    assert statuses(result) == {"A.Before": "passed", "A.Leaves": "error"}


async def test_rewriting_the_old_results_file_is_not_a_pass(client):
    """The results file of earlier versions, rewritten with a passed entry and an end, then _exit(0)."""
    solution = (
        "#include <cstdio>\n#include <unistd.h>\n"
        "int answer() {\n"
        '  if (FILE* f = std::fopen("/tmp/phronosd/results.jsonl", "w")) {\n'
        '    std::fputs("{\\"name\\":\\"A.Wrong\\",\\"status\\":\\"passed\\",\\"durationMs\\":0,\\"message\\":null}\\n'
        '{\\"end\\":true}\\n", f);\n'
        "    std::fclose(f);\n"
        "  }\n"
        "  _exit(0);\n"
        "}\n"
    )
    result = await validate(client, "cpp", solution, "TEST(A, Wrong) { EXPECT_EQ(answer(), 1); }\n")
    assert result["status"] == "runtime_error" and result["passed"] is False, result


# Writes LINES, each after a newline, to every descriptor of the process (the results pipe among
# them), under a few guessed tokens and none.
FORGE = r"""
#include <string>
#include <unistd.h>
static void forge(const std::string& lines) {
  for (const std::string& prefix : {std::string(), std::string(32, '0') + " ", std::string(32, 'a') + " "}) {
    std::string text;
    for (size_t at = 0; at < lines.size();) {
      size_t end = lines.find('\n', at);
      text += "\n" + prefix + lines.substr(at, end - at) + "\n";
      at = end + 1;
    }
    for (int fd = 0; fd < 1024; ++fd) (void)!write(fd, text.data(), text.size());
  }
}
"""


async def test_forged_validation_records_are_not_a_pass(client):
    lines = (
        '{"tests":["A.Wrong"]}\n{"start":"A.Wrong"}\n'
        '{"name":"A.Wrong","status":"passed","durationMs":1,"message":null}\n{"end":true,"passed":true}\n'
    )
    solution = FORGE + f'int answer() {{ forge(R"({lines})"); _exit(0); }}\n'
    result = await validate(client, "cpp", solution, "TEST(A, Wrong) { EXPECT_EQ(answer(), 1); }\n")
    assert result["status"] == "runtime_error" and result["passed"] is False, result
    assert statuses(result) == {"A.Wrong": "error"}


async def test_forged_rows_do_not_set_the_times(client):
    """A solution that behaves while validated, then, measured, forges 1 ns rows and an end and exits
    after a few genuine runs: only the genuine rows count."""
    lines = '{"tests":["A.Fast"],"timerResolutionNs":1}\n' + '{"ns":[1]}\n' * 50 + '{"end":true,"elapsedNs":50}\n'
    solution = FORGE + (
        "#include <fstream>\n#include <iterator>\n"
        "static bool measured() {\n"
        '  std::ifstream cmdline("/proc/self/cmdline");\n'
        "  std::string text((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());\n"
        '  return text.find("--measure") != std::string::npos;\n'
        "}\n"
        "int answer() {\n"
        "  static int calls = 0;\n"
        f'  if (measured() && ++calls == 5) {{ forge(R"({lines})"); _exit(0); }}\n'
        "  return 1;\n"
        "}\n"
    )
    result = await run(
        client, "cpp", solution, "TEST(A, Fast) { EXPECT_EQ(answer(), 1); }\n", runs=50, warmup=0, includeSamples=True
    )
    assert result["status"] == "passed", result["output"]
    m = result["measurement"]
    assert m is None or (m["runs"] < 50 and min(m["samplesMs"]) > 1e-4), m
    assert m is not None or result["notes"], result


async def test_a_binary_replaced_while_validated_is_not_measured(client):
    """The tests replace the test binary with a script that takes the measuring run's token (it is
    handed to whatever program runs) and forges 1 ns rows: that program never starts."""
    forger = (
        "#!/bin/sh\n"
        'eval "read token <&$PHRONOSD_TOKEN_FD"\n'
        'eval "exec 9>&$PHRONOSD_RESULTS_FD"\n'
        'printf \'%s {"tests":["A.Fast"],"timerResolutionNs":1}\\n\' "$token" >&9\n'
        'for i in 1 2 3 4 5 6 7 8 9 10; do printf \'%s {"ns":[1]}\\n\' "$token" >&9; done\n'
        'printf \'%s {"end":true,"elapsedNs":10}\\n\' "$token" >&9\n'
    )
    solution = (
        "#include <cstdio>\n#include <sys/stat.h>\n"
        "int answer() {\n"
        '  if (FILE* f = std::fopen("/tmp/phronosd/forger", "w")) {\n'
        f'    std::fputs(R"({forger})", f);\n'
        "    std::fclose(f);\n"
        '    chmod("/tmp/phronosd/forger", 0755);\n'
        '    std::rename("/tmp/phronosd/forger", "/tmp/phronosd/tests");\n'
        "  }\n"
        "  return 1;\n"
        "}\n"
    )
    result = await run(client, "cpp", solution, "TEST(A, Fast) { EXPECT_EQ(answer(), 1); }\n", runs=10, warmup=0)
    assert result["status"] == "passed", result["output"]
    assert result["measurement"] is None, result["measurement"]
    assert any("changed after it was built" in note for note in result["notes"]), result["notes"]


async def test_a_preinit_array_entry_is_refused(client):
    solution = FIB + (
        "#include <unistd.h>\n"
        "static void first(int, char**, char**) { char token[64]; for (int fd = 3; fd < 16; ++fd) (void)!read(fd, token, 64); }\n"
        '__attribute__((section(".preinit_array"), used)) static void (*first_entry)(int, char**, char**) = &first;\n'
    )
    result = await validate(client, "cpp", solution, "TEST(Fib, Ten) { EXPECT_EQ(fib(10), 55u); }\n")
    assert result["status"] == "compile_error", result
    assert ".preinit_array" in result["message"]


# Definitions that would run before phronosd's start-up code or replace what it relies on, and the
# words of the refusal.
REFUSED = {
    "clock_gettime": (
        '#include <ctime>\nextern "C" int clock_gettime(clockid_t, timespec* ts) noexcept { *ts = {}; return 0; }\n',
        "clock_gettime (would replace the clock",
    ),
    "gettimeofday": (
        '#include <sys/time.h>\nextern "C" int gettimeofday(timeval* tv, void*) noexcept { *tv = {}; return 0; }\n',
        "gettimeofday (would replace the clock",
    ),
    "steady_clock-now": (
        (
            "#include <chrono>\nnamespace std::chrono { inline namespace _V2 {\n"
            "steady_clock::time_point steady_clock::now() noexcept { return time_point{}; }\n} }\n"
        ),
        "std::chrono::steady_clock::now() (would replace the clock",
    ),
    "syscall": (
        'extern "C" long syscall(long, ...) noexcept { return -1; }\n',
        "syscall (would replace the system call",
    ),
    "ifunc": (
        (
            'extern "C" int fast_impl() { return 1; }\n'
            'extern "C" void* fast_resolver() { return reinterpret_cast<void*>(&fast_impl); }\n'
            'extern "C" int fast() __attribute__((ifunc("fast_resolver")));\n'
        ),
        "indirect function (ifunc",
    ),
}


@pytest.mark.parametrize("definition, named", list(REFUSED.values()), ids=list(REFUSED))
async def test_replacing_what_phronosd_relies_on_is_refused(client, definition, named):
    result = await validate(client, "cpp", FIB + definition, "TEST(Fib, Ten) { EXPECT_EQ(fib(10), 55u); }\n")
    assert result["status"] == "compile_error", result
    assert named in result["message"], result["message"]


async def test_a_nested_run_that_filters_out_a_failing_test_is_not_a_pass(client):
    """A nested RUN_ALL_TESTS with another filter leaves gtest's outer run skipping the failing test
    silently: every test gtest knew must have ended."""
    tests = (
        'TEST(A, Hides) { static bool inside = false; if (!inside) { inside = true; GTEST_FLAG_SET(filter, "A.*"); '
        "(void)RUN_ALL_TESTS(); } }\n"
        'TEST(B, Fails) { FAIL() << "wrong"; }\n'
    )
    result = await validate(client, "cpp", FIB, tests)
    assert result["passed"] is False, result
    assert statuses(result).get("B.Fails") == "error", result


async def test_a_failure_outside_any_test_fails_the_run(client):
    tests = (
        'struct Suite : testing::Test { static void TearDownTestSuite() { ADD_FAILURE() << "tear-down broke"; } };\n'
        "TEST_F(Suite, Ok) {}\n"
    )
    result = await validate(client, "cpp", FIB, tests)
    assert result["status"] == "failed", result
    assert statuses(result) == {"Suite.Ok": "passed", "Suite (SetUpTestSuite/TearDownTestSuite)": "failed"}
    assert "tear-down broke" in result["tests"][1]["message"]


async def test_run_measures_in_process(client):
    solution, tests = example("cpp")
    result = await run(client, "cpp", solution, tests, runs=30, warmup=3, includeSamples=True)
    assert result["status"] == "passed", result["output"]
    m = result["measurement"]
    assert m["runs"] == 30 and m["warmup"] == 3 and len(m["samplesMs"]) == 30
    assert [t["name"] for t in m["perTest"]] == [t["name"] for t in result["tests"]]
    assert m["medianMs"] < 1.0
    assert "timing_inconsistent" not in m["flags"]
    assert "[ RUN      ]" in result["output"] and result["output"].count("Fib.Zero") == 2


@pytest.mark.parametrize(
    "skipped, name",
    [
        ("TEST(Fib, DISABLED_Later) {}\n", "Fib.DISABLED_Later"),
        ("TEST(DISABLED_Later, One) {}\n", "DISABLED_Later.One"),
        ('TEST(Fib, Skipped) { GTEST_SKIP() << "not today"; }\n', "Fib.Skipped"),
    ],
    ids=["disabled-test", "disabled-suite", "gtest-skip"],
)
async def test_suites_with_a_skipped_test_are_measured(client, skipped, name):
    """Only the tests that passed are timed."""
    tests = "TEST(Fib, Ten) { EXPECT_EQ(fib(10), 55u); }\n" + skipped + "TEST(Fib, Two) { EXPECT_EQ(fib(3), 2u); }\n"
    result = await run(client, "cpp", FIB, tests, runs=10, warmup=2)
    assert result["status"] == "passed", result["output"]
    assert statuses(result)[name] == "skipped" and result["testsSkipped"] == 1
    m = result["measurement"]
    assert m is not None, result["notes"]
    assert m["runs"] == 10 and m["warmup"] == 2
    assert [t["name"] for t in m["perTest"]] == ["Fib.Ten", "Fib.Two"]


async def test_death_tests_run_and_are_measured(client):
    """A death test forks a child that runs the statement; the child must not write to (nor hold) the
    results pipe."""
    tests = '#include <cstdlib>\nTEST(Fib, AbortDies) { EXPECT_DEATH(std::abort(), ""); }\nTEST(Fib, Ten) { EXPECT_EQ(fib(10), 55u); }\n'
    result = await run(client, "cpp", FIB, tests, runs=5, warmup=1)
    assert result["status"] == "passed", result["output"]
    assert statuses(result) == {"Fib.AbortDies": "passed", "Fib.Ten": "passed"}
    assert result["measurement"] is not None and result["measurement"]["runs"] == 5, result["notes"]


# The example's fib, which, measured in a compare job, puts /dev/zero (a step on every read) in place
# of its step pipe on its first call: were its test binary to take those steps, it would time all its
# runs back to back in its first turn instead of one per round.
ENDLESS_STEPS = (
    "#include <cstdint>\n#include <cstdlib>\n#include <fcntl.h>\n#include <unistd.h>\n"
    "std::uint64_t fib(int n) {\n"
    "  static bool replaced = false;\n"
    '  const char* step = std::getenv("PHRONOSD_STEP_FD");\n'
    '  if (step != nullptr && !replaced) replaced = dup2(open("/dev/zero", O_RDONLY), std::atoi(step)) >= 0;\n'
    "  std::uint64_t a = 0, b = 1;\n"
    "  for (int i = 0; i < n; ++i) {\n"
    "    std::uint64_t next = a + b;\n"
    "    a = b;\n"
    "    b = next;\n"
    "  }\n"
    "  return a;\n"
    "}\n"
)


async def test_a_step_pipe_replaced_by_the_tests_ends_their_measurement(client):
    """The measuring binary takes steps only from the pipe it was given: a solution that moves another
    file onto the step fd gets no timed run, the other solution all of them."""
    solution, tests = example("cpp")
    result = await compare(client, "cpp", tests, {"example": solution, "endless": ENDLESS_STEPS}, runs=20)
    by_name = result["byName"]
    assert by_name["example"]["measurement"]["runs"] == 20, by_name["example"]
    assert by_name["endless"]["status"] == "passed", by_name["endless"]
    endless = by_name["endless"]["measurement"]
    assert endless is None or endless["runs"] == 0, endless


# The example's fib, which, measured in a compare job, writes a byte into its own step pipe (opened
# again through /proc/self/fd) on every fib(50): read as steps, those bytes would start timed runs the
# driver did not ask for, and the driver's own bytes would be left over.
WRITES_STEPS = (
    "#include <cstdint>\n#include <cstdlib>\n#include <fcntl.h>\n#include <string>\n#include <unistd.h>\n"
    "std::uint64_t fib(int n) {\n"
    "  static int fd = -2;\n"
    '  const char* step = std::getenv("PHRONOSD_STEP_FD");\n'
    '  if (fd == -2) fd = step ? open(("/proc/self/fd/" + std::string(step)).c_str(), O_WRONLY) : -1;\n'
    '  if (fd >= 0 && n == 50) (void)!write(fd, "x", 1);\n'
    "  std::uint64_t a = 0, b = 1;\n"
    "  for (int i = 0; i < n; ++i) {\n"
    "    std::uint64_t next = a + b;\n"
    "    a = b;\n"
    "    b = next;\n"
    "  }\n"
    "  return a;\n"
    "}\n"
)


async def test_bytes_the_tests_write_into_the_step_pipe_are_not_steps(client):
    """The binary empties its step pipe before each record the driver answers with a byte: every timed
    run is one of the driver's steps, and none of the driver's bytes is left over (its note)."""
    solution, tests = example("cpp")
    result = await compare(client, "cpp", tests, {"example": solution, "writer": WRITES_STEPS}, runs=20)
    by_name = result["byName"]
    for name in ("example", "writer"):
        assert by_name[name]["status"] == "passed", by_name[name]
        assert by_name[name]["measurement"]["runs"] == 20, by_name[name]
        assert not [note for note in by_name[name]["notes"] if "step pipe" in note], by_name[name]["notes"]
    [writer] = result["comparison"]["results"]
    # Its write system call, once a run: the bytes were written, so its runs cannot be faster (a wide
    # interval, on a noisy machine, may put the ratio itself just under 1: 0.994 in one CI run).
    assert writer["verdict"] != "faster" and writer["ci95"][1] > 1, writer
