"""C++/GoogleTest end to end: real app, real containers, real g++ and gtest."""

from __future__ import annotations

import pytest
from helpers import example, run, statuses, validate

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
    assert "undefined reference" in result["message"]


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


async def test_exit_inside_a_test_is_not_a_pass(client):
    tests = "#include <cstdlib>\nTEST(A, Ok) {}\nTEST(A, Exit) { std::exit(0); }\nTEST(A, After) {}\n"
    result = await validate(client, "cpp", FIB, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False
    assert "exited with code 0" in result["message"]


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


async def test_infinite_loop_times_out(client):
    tests = "TEST(A, Forever) { volatile bool go = true; while (go) {} }\n"
    result = await validate(client, "cpp", FIB, tests, timeoutMs=3000)
    assert result["status"] == "timeout"


async def test_memory_growth_is_memory_limit(client):
    tests = (
        "#include <vector>\n#include <cstring>\n"
        "TEST(A, Grow) {\n"
        "  std::vector<char*> blocks;\n"
        "  for (;;) { char* b = new char[1 << 24]; std::memset(b, 1, 1 << 24); blocks.push_back(b); }\n"
        "}\n"
    )
    result = await validate(client, "cpp", FIB, tests, memoryMb=256)
    assert result["status"] == "memory_limit", result


async def test_network_is_unreachable(client):
    tests = (
        "#include <arpa/inet.h>\n#include <netinet/in.h>\n#include <sys/socket.h>\n#include <unistd.h>\n"
        "TEST(Net, ConnectFails) {\n"
        "  int s = socket(AF_INET, SOCK_STREAM, 0);\n"
        "  sockaddr_in addr{};\n"
        "  addr.sin_family = AF_INET;\n"
        "  addr.sin_port = htons(53);\n"
        '  inet_pton(AF_INET, "1.1.1.1", &addr.sin_addr);\n'
        "  EXPECT_NE(connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);\n"
        "  close(s);\n"
        "}\n"
    )
    result = await validate(client, "cpp", FIB, tests)
    assert result["status"] == "passed", result["output"]


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


async def test_run_without_passing_suite_has_no_measurement(client):
    result = await run(client, "cpp", FIB, MIXED_SUITE, runs=10)
    assert result["status"] == "failed" and result["measurement"] is None
