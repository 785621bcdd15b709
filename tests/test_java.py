"""Java/JUnit end to end: real app, real containers, javac and the JUnit Platform in one JVM."""

from __future__ import annotations

import pytest

from helpers import example, run, statuses, validate

FIB = "public class Fib {\n    public static long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\n}\n"

MIXED_SUITE = """
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.*;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

public class FibTest {
    private List<Long> seen;

    @BeforeEach
    void fresh() { seen = new ArrayList<>(); }

    @Test
    void usesFixture() { seen.add(Fib.fib(10)); assertEquals(List.of(55L), seen); }

    @ParameterizedTest
    @CsvSource({"0, 0", "1, 1", "7, 13"})
    void table(int n, long expected) { assertThat(Fib.fib(n)).isEqualTo(expected); }

    @RepeatedTest(2)
    void repeated() { org.hamcrest.MatcherAssert.assertThat(Fib.fib(2), org.hamcrest.Matchers.is(1L)); }

    @Test
    void wrong() { assertEquals(3, Fib.fib(3)); }

    @Test
    void throwsNpe() { Object nothing = null; nothing.toString(); }

    @Disabled("not today")
    @Test
    void skipped() {}

    @Nested
    class Inner {
        @Test
        void nested() { assertEquals(1, Fib.fib(1)); }
    }
}
"""


@pytest.fixture(autouse=True)
def java_image(require_image):
    require_image("java")


async def test_counts_follow_the_junit_platform(client):
    result = await validate(client, "java", FIB, MIXED_SUITE)
    assert result["status"] == "failed"
    assert statuses(result) == {
        "FibTest.usesFixture": "passed",
        "FibTest.table[1] 0, 0": "passed",
        "FibTest.table[2] 1, 1": "passed",
        "FibTest.table[3] 7, 13": "passed",
        "FibTest.repeated[repetition 1 of 2]": "passed",
        "FibTest.repeated[repetition 2 of 2]": "passed",
        "FibTest.wrong": "failed",
        "FibTest.throwsNpe": "error",
        "FibTest.skipped": "skipped",
        "FibTest.Inner.nested": "passed",
    }
    wrong = next(t for t in result["tests"] if t["name"] == "FibTest.wrong")
    assert "expected: <3> but was: <2>" in wrong["message"] and "FibTest.java:" in wrong["message"]


async def test_example_passes(client):
    solution, tests = example("java")
    result = await validate(client, "java", solution, tests)
    assert result["status"] == "passed", result["output"]
    assert result["testsPassed"] == result["totalTests"] == 7


async def test_junit4_and_packages(client):
    solution = "package com.example.fib;\n\n" + FIB
    tests = (
        "package com.example.fib;\n\nimport org.junit.Test;\nimport static org.junit.Assert.assertEquals;\n\n"
        "public class LegacyTest {\n    @Test\n    public void ten() { assertEquals(55, Fib.fib(10)); }\n}\n"
    )
    result = await validate(client, "java", solution, tests)
    assert result["status"] == "passed", result["output"]
    assert statuses(result) == {"LegacyTest.ten": "passed"}


async def test_before_all_failure_fails_the_tests_it_covers(client):
    tests = (
        "import org.junit.jupiter.api.*;\nimport org.junit.jupiter.params.ParameterizedTest;\n"
        "import org.junit.jupiter.params.provider.ValueSource;\n\n"
        "class FibTest {\n"
        '    @BeforeAll static void boom() { throw new IllegalStateException("no database"); }\n'
        "    @Test void a() {}\n"
        "    @ParameterizedTest @ValueSource(ints = {1, 2}) void p(int n) {}\n"
        "}\n"
    )
    result = await validate(client, "java", FIB, tests)
    assert result["status"] == "failed"
    assert statuses(result) == {"FibTest.a": "error", "FibTest.p": "error"}
    assert all("no database" in t["message"] for t in result["tests"])


@pytest.mark.parametrize(
    "solution, tests, where",
    [
        ("public class Fib { static long fib(int n) { return n } }\n",
         "class FibTest { @org.junit.jupiter.api.Test void x() {} }\n", "Fib.java"),
        (FIB, "class FibTest { @org.junit.jupiter.api.Test void x() { Fib.fibonacci(1); } }\n", "SolutionTest.java"),
    ],
    ids=["syntax-error-in-solution", "missing-method-in-tests"],
)
async def test_compile_errors(client, solution, tests, where):
    result = await validate(client, "java", solution, tests)
    assert result["status"] == "compile_error"
    assert where in result["message"] and "error:" in result["message"]


async def test_system_exit_inside_a_test_is_not_a_pass(client):
    tests = "class FibTest {\n    @org.junit.jupiter.api.Test void quits() { System.exit(0); }\n}\n"
    result = await validate(client, "java", FIB, tests)
    assert result["status"] == "runtime_error" and result["passed"] is False
    assert "System.exit" in result["output"]


async def test_infinite_loop_times_out(client):
    tests = "class FibTest {\n    @org.junit.jupiter.api.Test void forever() { while (true) { Thread.onSpinWait(); } }\n}\n"
    result = await validate(client, "java", FIB, tests, timeoutMs=4000)
    assert result["status"] == "timeout"


async def test_out_of_memory_is_memory_limit(client):
    tests = (
        "import java.util.ArrayList;\nimport java.util.List;\n\n"
        "class FibTest {\n"
        "    @org.junit.jupiter.api.Test void grows() {\n"
        "        List<long[]> blocks = new ArrayList<>();\n"
        "        while (true) { blocks.add(new long[1 << 20]); }\n"
        "    }\n"
        "}\n"
    )
    result = await validate(client, "java", FIB, tests)
    assert result["status"] == "memory_limit", result
    assert "OutOfMemoryError" in result["message"]


async def test_network_is_unreachable(client):
    tests = (
        "import static org.junit.jupiter.api.Assertions.assertThrows;\n\n"
        "import java.io.IOException;\nimport java.net.InetSocketAddress;\nimport java.net.Socket;\n\n"
        "class FibTest {\n"
        "    @org.junit.jupiter.api.Test void connectFails() {\n"
        '        assertThrows(IOException.class, () -> new Socket().connect(new InetSocketAddress("1.1.1.1", 53), 2000));\n'
        "    }\n"
        "}\n"
    )
    result = await validate(client, "java", FIB, tests)
    assert result["status"] == "passed", result["output"]


async def test_run_measures_in_process(client):
    solution, tests = example("java")
    result = await run(client, "java", solution, tests, runs=30, warmup=5, includeSamples=True)
    assert result["status"] == "passed", result["output"]
    m = result["measurement"]
    assert m["runs"] == 30 and m["warmup"] == 5 and len(m["samplesMs"]) == 30
    assert [t["name"] for t in m["perTest"]] == [t["name"] for t in result["tests"]]
    assert m["medianMs"] < 5.0


def spin_suite(body_ns: str) -> str:
    """A test that spins for `body_ns` nanoseconds (a Java expression of its call count n)."""
    return (
        "import org.junit.jupiter.api.Test;\n\n"
        "public class SpinTest {\n    static int n;\n"
        f"    @Test void spin() {{\n        n++;\n        long end = System.nanoTime() + ({body_ns});\n"
        "        while (System.nanoTime() < end) { }\n    }\n}\n"
    )


async def test_adaptive_warmup_waits_for_the_faster_tier_it_has_seen(client):
    # Steady at 300 µs from the 5th call to the 34th, 100 µs before and after: what HotSpot does when
    # it drops a C2 loop and runs C1 code until it compiles it again. The steady window is not the end.
    # (Three fast warm-up calls, not one: a first re-run can itself be slow.)
    result = await run(client, "java", FIB, spin_suite("n <= 4 || n > 34 ? 100_000L : 300_000L"), runs=10)
    assert result["status"] == "passed", result["output"]
    m = result["measurement"]
    assert 30 <= m["warmup"] < 200, m
    assert m["medianMs"] < 0.2, m


async def test_adaptive_warmup_that_never_settles_stops_at_the_cap(client):
    # 100 and 300 µs alternating: a robust CV of 74 % in every window, so only the cap of 200 ends it
    result = await run(client, "java", FIB, spin_suite("n % 2 == 1 ? 100_000L : 300_000L"), runs=5)
    assert result["status"] == "passed", result["output"]
    assert result["measurement"]["warmup"] == 200  # adaptive by default (a fixed default would be one number)
    assert result["measurement"]["runs"] == 5


async def test_run_fixtures_are_fresh_every_call(client):
    result = await run(client, "java", FIB, MIXED_SUITE.replace("wrong() { assertEquals(3,", "wrong() { assertEquals(2,")
                       .replace("throwsNpe() { Object nothing = null; nothing.toString(); }", "throwsNpe() {}")
                       .replace('@Disabled("not today")\n    ', ""), runs=10, warmup=2)
    assert result["status"] == "passed", result["output"]
    assert result["measurement"]["runs"] == 10 and result["measurement"]["notes"] == []


async def test_run_measures_junit4_tests(client):
    tests = (
        "import org.junit.Before;\nimport org.junit.Test;\nimport static org.junit.Assert.assertEquals;\n\n"
        "public class LegacyTest {\n    private int n;\n    @Before public void setUp() { n = 10; }\n"
        "    @Test public void ten() { assertEquals(55, Fib.fib(n)); }\n}\n"
    )
    result = await run(client, "java", FIB, tests, runs=10, warmup=2)
    assert result["status"] == "passed", result["output"]
    assert result["measurement"]["runs"] == 10
