"""C++/GoogleTest end to end: real app, real containers, real g++ and gtest."""

from __future__ import annotations

import pytest

from helpers import example, run, statuses, validate

FIB = (
    "#include <cstdint>\n"
    "std::uint64_t fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\n"
)

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
    result = await validate(client, "cpp", "int unrelated() { return 1; }\n", tests, solutionFile="other.cpp", files=files)
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
    assert "[ RUN      ]" in result["output"] and result["output"].count("Fib.Zero") == 2


async def test_run_without_passing_suite_has_no_measurement(client):
    result = await run(client, "cpp", FIB, MIXED_SUITE, runs=10)
    assert result["status"] == "failed" and result["measurement"] is None
