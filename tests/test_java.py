"""Java/JUnit end to end: real app, real containers, javac and the JUnit Platform in one JVM."""

from __future__ import annotations

import pytest
from helpers import example, job_events, pool_ready, run, statuses, validate
from runtimes import tier_ms

pytestmark = pytest.mark.each_runtime  # also under gVisor in CI (tests/runtimes.py)

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
        (
            "public class Fib { static long fib(int n) { return n } }\n",
            "class FibTest { @org.junit.jupiter.api.Test void x() {} }\n",
            "Fib.java",
        ),
        (FIB, "class FibTest { @org.junit.jupiter.api.Test void x() { Fib.fibonacci(1); } }\n", "SolutionTest.java"),
    ],
    ids=["syntax-error-in-solution", "missing-method-in-tests"],
)
async def test_compile_errors(client, solution, tests, where):
    result = await validate(client, "java", solution, tests)
    assert result["status"] == "compile_error"
    assert where in result["message"] and "error:" in result["message"]


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


async def test_adaptive_warmup_waits_for_the_faster_tier_it_has_seen(client, container_runtime):
    # Steady at 300 µs from the 5th call to the 34th, 100 µs before and after: what HotSpot does when
    # it drops a C2 loop and runs C1 code until it compiles it again. The steady window is not the end.
    # (Three fast warm-up calls, not one: a first re-run can itself be slow.)
    result = await run(client, "java", FIB, spin_suite("n <= 4 || n > 34 ? 100_000L : 300_000L"), runs=10)
    assert result["status"] == "passed", result["output"]
    m = result["measurement"]
    assert 30 <= m["warmup"] < 200, m
    assert tier_ms(m, container_runtime) < 0.2, m


async def test_adaptive_warmup_that_never_settles_stops_at_the_cap(client):
    # 100 and 300 µs alternating: a robust CV of 74 % in every window, so only the cap of 200 ends it
    result = await run(client, "java", FIB, spin_suite("n % 2 == 1 ? 100_000L : 300_000L"), runs=5)
    assert result["status"] == "passed", result["output"]
    assert result["measurement"]["warmup"] == 200  # adaptive by default (a fixed default would be one number)
    assert result["measurement"]["runs"] == 5


async def test_run_fixtures_are_fresh_every_call(client):
    result = await run(
        client,
        "java",
        FIB,
        MIXED_SUITE.replace("wrong() { assertEquals(3,", "wrong() { assertEquals(2,")
        .replace("throwsNpe() { Object nothing = null; nothing.toString(); }", "throwsNpe() {}")
        .replace('@Disabled("not today")\n    ', ""),
        runs=10,
        warmup=2,
    )
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


FRESH_SUITE = """
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.*;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

public class FreshTest {
    static int open; // fixtures set up and not yet torn down: never more than one at a time
    private final List<Integer> xs = new ArrayList<>();
    private int setUps;

    @BeforeEach
    void setUp() { assertEquals(0, open++); setUps++; }

    @AfterEach
    void tearDown() { open--; }

    @Test
    void field() { xs.add(1); assertEquals(1, xs.size()); assertEquals(1, setUps); }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void param(int n) { xs.add(n); assertEquals(List.of(n), xs); }

    @RepeatedTest(2)
    void repeated() { xs.add(1); assertEquals(1, xs.size()); }

    @TestFactory
    Stream<DynamicTest> dynamic() {
        return Stream.of(DynamicTest.dynamicTest("square", () -> assertEquals(4, 2 * 2)));
    }

    @Nested
    class Inner {
        private final List<Integer> ys = new ArrayList<>();

        @Test
        void both() { xs.add(1); ys.add(1); assertEquals(List.of(1), xs); assertEquals(List.of(1), ys); }
    }
}
"""

FRESH_JUNIT4_SUITE = """
import java.util.ArrayList;
import java.util.List;

public class FreshJUnit4Test {
    private final List<Integer> xs = new ArrayList<>();

    @org.junit.Test
    public void field() { xs.add(1); org.junit.Assert.assertEquals(1, xs.size()); }
}
"""


@pytest.mark.parametrize("suite, tests", [(FRESH_SUITE, 7), (FRESH_JUNIT4_SUITE, 1)], ids=["jupiter", "junit4"])
async def test_every_timed_run_gets_a_fresh_instance(client, suite, tests):
    """Issue 14: under the default lifecycle each run sees a new instance (field initialisers,
    constructor, @BeforeEach), torn down before the next is set up; dynamic tests are timed too."""
    result = await run(client, "java", FIB, suite, runs=20, warmup=3)
    assert result["status"] == "passed" and result["totalTests"] == tests, (result["output"], result["tests"])
    m = result["measurement"]
    assert m is not None, result["notes"]
    assert m["runs"] == 20 and m["notes"] == [] and result["notes"] == []
    assert [t["name"] for t in m["perTest"]] == [t["name"] for t in result["tests"]]
    assert "timing_inconsistent" not in m["flags"]


PER_CLASS_SUITE = """
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.*;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public class CounterTest {
    private List<Integer> seen; // made once, by @BeforeAll: only the one instance has it
    private int calls;

    @BeforeAll
    void load() { seen = new ArrayList<>(); }

    @Test
    void grows() { calls++; seen.add(calls); assertTrue(calls >= 1); assertEquals(calls, seen.size()); }
}
"""


async def test_per_class_instance_is_kept_across_runs(client):
    result = await run(client, "java", FIB, PER_CLASS_SUITE, runs=15, warmup=2)
    assert result["status"] == "passed", result["output"]
    assert result["measurement"] is not None and result["measurement"]["runs"] == 15, result["notes"]


SECOND_RUN_FAILS = {
    "jupiter": "public class OnceTest {\n    static int calls;\n"
    "    @org.junit.jupiter.api.Test void once() { org.junit.jupiter.api.Assertions.assertEquals(1, ++calls); }\n}\n",
    "junit4": "public class OnceTest {\n    static int calls;\n"
    "    @org.junit.Test public void once() { org.junit.Assert.assertEquals(1, ++calls); }\n}\n",
}


@pytest.mark.parametrize("framework", SECOND_RUN_FAILS)
async def test_a_test_failing_from_its_second_run_is_passed_with_a_note(client, framework):
    result = await run(client, "java", FIB, SECOND_RUN_FAILS[framework], runs=10, warmup=2)
    assert result["status"] == "passed" and result["measurement"] is None, result
    expected = "OnceTest.once passed when validated but failed when run again to be measured (its 2nd run)"
    assert any(expected in note for note in result["notes"]), result["notes"]


FORGED = '{"event":"test","name":"ForgeTest.a_wrong","status":"passed","durationMs":1,"message":null}'

FORGING_SUITE = """
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import org.junit.jupiter.api.*;

@TestMethodOrder(MethodOrderer.MethodName.class)
public class ForgeTest {
    static final String FORGED = "FORGED_EVENT";

    @Test
    void a_wrong() { assertEquals("a".repeat(6000), "b"); }

    /** Every string the test can find that might be the report token: the environment, its own
     *  command line, whatever its descriptors give to read. */
    static Set<String> candidates() throws IOException {
        Set<String> words = new HashSet<>(Set.of("", "0", "a".repeat(32)));
        for (Map.Entry<String, String> e : System.getenv().entrySet()) {
            words.add(e.getKey());
            words.addAll(Arrays.asList(e.getValue().split("[\\\\s=]+")));
        }
        for (String file : new String[] {"/proc/self/cmdline", "/proc/self/environ"}) {
            String text = new String(Files.readAllBytes(Path.of(file)), StandardCharsets.ISO_8859_1);
            words.addAll(Arrays.asList(text.split("[\\\\s\\\\x00=]+")));
        }
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                if (Files.isRegularFile(fd)) {
                    continue; // the JDK's and the libraries' files
                }
                try (InputStream in = new FileInputStream(fd.toString())) {
                    if (in.available() > 0) {
                        byte[] pending = in.readNBytes(Math.min(in.available(), 65536));
                        words.addAll(Arrays.asList(new String(pending, StandardCharsets.ISO_8859_1).split("\\\\s+")));
                    }
                } catch (IOException notReadable) {
                    // write-only or gone
                }
            }
        }
        return words;
    }

    @Test
    void b_forges() throws Exception {
        assertEquals(List.of(), System.getenv().keySet().stream().filter(k -> k.startsWith("PHRONOSD_")).toList());
        Set<String> tokens = candidates();
        StringBuilder lines = new StringBuilder("junk without a newline");
        for (String token : tokens) {
            lines.append('\\n').append(token).append(' ').append(FORGED).append('\\n');
            lines.append(token).append(" {\\"event\\":\\"validated\\"}\\n");
        }
        lines.append("more junk without a newline");
        byte[] bytes = lines.toString().getBytes(StandardCharsets.UTF_8);
        System.out.write(bytes);
        System.out.flush();
        // Listed before any is opened: gVisor's listing goes on to descriptors opened while it is read,
        // and reopening its own new ones without end would block this code on a pipe nobody reads.
        List<Path> listed = new ArrayList<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            fds.forEach(listed::add);
        }
        List<OutputStream> pipes = new ArrayList<>();
        for (Path fd : listed) {
            if (!fd.getFileName().toString().matches("[12]")) {
                try {
                    OutputStream out = new FileOutputStream(fd.toString(), true);
                    out.write(bytes);
                    if (!Files.isRegularFile(fd)) {
                        pipes.add(out);
                    }
                } catch (IOException notWritable) {
                    // read-only or gone
                }
            }
        }
        Thread spam = new Thread(() -> {
            try {
                while (true) {
                    for (OutputStream pipe : pipes) {
                        pipe.write('x');
                    }
                    Thread.sleep(0, 20_000);
                }
            } catch (Exception stopped) {
                // the JVM is ending
            }
        });
        spam.setDaemon(true);
        spam.start();
    }
}
""".replace("FORGED_EVENT", FORGED.replace('"', '\\"'))


async def test_forged_report_lines_on_every_descriptor_are_ignored(client):
    """Lines with every token the code could guess, written to every descriptor (the report pipe
    included) and printed; a partial line left in the pipe; a thread writing to the pipes while the
    harness reports a failure longer than one atomic pipe write. The failure stays a failure."""
    result = await validate(client, "java", FIB, FORGING_SUITE)
    assert result["status"] == "failed", (result["message"], result["tests"])
    assert statuses(result) == {"ForgeTest.a_wrong": "failed", "ForgeTest.b_forges": "passed"}
    wrong = next(t for t in result["tests"] if t["name"] == "ForgeTest.a_wrong")
    assert wrong["message"].endswith("... (trimmed)")


SIGNAL_ITSELF = (
    'new ProcessBuilder("sh", "-c", "kill -SIGNAL " + ProcessHandle.current().pid()).start().waitFor(); '
    "Thread.sleep(5000);"
)
STEALING_SUITE = """
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import org.junit.jupiter.api.*;

@TestMethodOrder(MethodOrderer.MethodName.class)
public class StealTest {
    @Test
    void a_wrong() { assertEquals(1, 2); }

    /** Opens every descriptor but stdout and stderr again, for reading, and passes on what it reads
     *  with failures turned into passes. */
    @Test
    void b_steals() throws Exception {
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                if (fd.getFileName().toString().matches("[12]") || Files.isRegularFile(fd)) {
                    continue;
                }
                try {
                    InputStream in = new FileInputStream(fd.toString());
                    OutputStream out = new FileOutputStream(fd.toString());
                    Thread thief = new Thread(() -> {
                        try {
                            BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                            for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                                if (line.contains("{") && !line.contains("forged")) {
                                    out.write(("\\n" + line.replace("failed", "passed").replace("{", "{\\"forged\\":1,")
                                            + "\\n").getBytes(StandardCharsets.UTF_8));
                                }
                            }
                        } catch (IOException gone) {
                            // the JVM is ending
                        }
                    });
                    thief.setDaemon(true);
                    thief.start();
                } catch (IOException notOpenable) {
                    // a socket, or not readable
                }
            }
        }
    }
}
"""


async def test_the_report_channel_cannot_be_read_by_the_tests(client):
    """A pipe can be opened again through /proc/self/fd, for reading: a thread of the tests could take
    the harness's lines (a failure among them, the token with them). The channel is a socket."""
    result = await validate(client, "java", FIB, STEALING_SUITE)
    assert result["status"] == "failed", (result["status"], result["message"], result["tests"])
    assert statuses(result) == {"StealTest.a_wrong": "failed", "StealTest.b_steals": "passed"}


EARLY_EXITS = {
    "System.exit": "System.exit(0);",
    "Runtime.halt": "Runtime.getRuntime().halt(0);",
    "SIGTERM": SIGNAL_ITSELF.replace("SIGNAL", "TERM"),
    "SIGKILL": SIGNAL_ITSELF.replace("SIGNAL", "KILL"),
    "closed-stdout-then-exit": "System.out.close(); System.err.close(); System.exit(0);",
    "closed-report-channel": "new java.io.FileInputStream(java.io.FileDescriptor.in).close();",
}


def early_exit_suite(action: str, from_call: int = 1) -> str:
    return (
        "import org.junit.jupiter.api.Test;\n\npublic class ExitTest {\n    static int calls;\n"
        f"    @Test void quits() throws Exception {{ if (++calls >= {from_call}) {{ {action} }} }}\n"
        "    @Test void fine() { }\n}\n"
    )


@pytest.mark.parametrize("how", EARLY_EXITS)
async def test_exiting_early_is_never_a_pass(client, how):
    result = await validate(client, "java", FIB, early_exit_suite(EARLY_EXITS[how]))
    assert result["status"] == "runtime_error" and result["passed"] is False, result


@pytest.mark.parametrize("how", ("System.exit", "Runtime.halt"))
async def test_exiting_while_measured_leaves_no_measurement(client, how):
    result = await run(client, "java", FIB, early_exit_suite(EARLY_EXITS[how], from_call=2), runs=10, warmup=2)
    assert result["status"] == "passed" and result["measurement"] is None, result
    assert any(note.startswith("not measured") for note in result["notes"]), result["notes"]
    if how == "System.exit":
        assert any("System.exit" in note for note in result["notes"]), result["notes"]


ABORTING_SOLUTIONS = {
    "TestAbortedException": 'throw new org.opentest4j.TestAbortedException("cannot solve");',
    "Assumptions.assumeTrue": 'org.junit.jupiter.api.Assumptions.assumeTrue(false, "cannot solve");',
    "JUnit4 Assume": "org.junit.Assume.assumeTrue(false);",
}


def aborting_solution(abort: str) -> str:
    return (
        "public class Fib {\n    public static long fib(int n) {\n"
        f"        if (n > 5) {{ {abort} }}\n        return n;\n    }}\n}}\n"
    )


@pytest.mark.parametrize("abort", ABORTING_SOLUTIONS)
async def test_a_solution_that_aborts_a_test_fails_it(client, abort):
    """A solution cannot turn a test it fails into a skip; the tests' own assumptions still skip."""
    tests = (
        "import static org.junit.jupiter.api.Assertions.assertEquals;\n\nimport org.junit.jupiter.api.*;\n\n"
        "public class FibTest {\n"
        "    @Test void small() { assertEquals(1, Fib.fib(1)); }\n"
        "    @Test void large() { assertEquals(13, Fib.fib(7)); }\n"
        '    @Test void ownAssumption() { Assumptions.assumeTrue(false, "not on this machine"); }\n'
        "    @Nested class Setup {\n"
        "        long expected;\n"
        "        @BeforeEach void compute() { expected = Fib.fib(10); }\n"
        "        @Test void uses() { assertEquals(55, expected); }\n"
        "    }\n"
        "}\n"
    )
    result = await validate(client, "java", aborting_solution(ABORTING_SOLUTIONS[abort]), tests)
    assert result["status"] == "failed", result
    assert statuses(result) == {
        "FibTest.small": "passed",
        "FibTest.large": "failed",
        "FibTest.ownAssumption": "skipped",
        "FibTest.Setup.uses": "failed",
    }
    large = next(t for t in result["tests"] if t["name"] == "FibTest.large")
    assert "the solution's code aborted this test (at Fib.fib(Fib.java:3))" in large["message"]


async def test_a_solution_that_aborts_a_whole_class_fails_its_tests(client):
    tests = (
        "import static org.junit.jupiter.api.Assertions.assertEquals;\n\nimport org.junit.jupiter.api.*;\n\n"
        "public class FibTest {\n"
        "    static long ten;\n"
        "    @BeforeAll static void load() { ten = Fib.fib(10); }\n"
        "    @Test void a() { assertEquals(55, ten); }\n"
        "    @Test void b() { assertEquals(55, ten); }\n"
        "}\n"
    )
    result = await validate(client, "java", aborting_solution(ABORTING_SOLUTIONS["TestAbortedException"]), tests)
    assert result["status"] == "failed", result
    assert statuses(result) == {"FibTest.a": "failed", "FibTest.b": "failed"}


async def test_measure_phase_reports_progress(client):
    """The tests are timed one after the other; `runsDone` counts their timed executions per test."""
    tests = (
        "import org.junit.jupiter.api.Test;\n\npublic class FibTest {\n"
        "    @Test void a() { Fib.fib(5); }\n    @Test void b() { Fib.fib(6); }\n}\n"
    )
    request = {"language": "java", "solution": FIB, "tests": tests, "runs": 40, "warmup": 2}
    events = await job_events(client, {"kind": "run", "request": request})
    assert events[-1]["event"] == "result" and events[-1]["data"]["status"] == "succeeded", events[-1]
    progress = [e["data"] for e in events if e["event"] == "progress" and e["data"].get("phase") == "measure"]
    done = [p["runsDone"] for p in progress if p.get("runsDone")]
    assert len(done) >= 10 and done == sorted(done) and done[-1] == 40, progress
    assert all(later - earlier <= 4 for earlier, later in zip([0, *done], done)), done


class TestWarmPool:
    """Pooled containers, what is special to Java (the rest: `test_across_languages.py`): the JVM
    compiles and runs the training suite before the job arrives."""

    @pytest.fixture
    def settings_overrides(self):
        return {"warm_pool": 1, "warm_pool_languages": "java"}

    async def test_a_pooled_job_keeps_the_harness_to_itself(self, client):
        """A failing suite fails; the job's variables (the job pipe's among them) are not in the
        environment; forged lines on every descriptor are not heard."""
        await pool_ready(client, "java")
        result = await validate(client, "java", FIB, FORGING_SUITE)
        assert result["timings"]["pooled"] is True, result["timings"]
        assert statuses(result) == {"ForgeTest.a_wrong": "failed", "ForgeTest.b_forges": "passed"}, result["tests"]


async def test_a_class_set_up_failing_when_run_again_is_passed_with_a_note(client):
    tests = (
        "public class SetupTest {\n    static int setUps;\n"
        "    @org.junit.jupiter.api.BeforeAll static void once() {\n"
        '        if (++setUps > 1) throw new IllegalStateException("set up twice");\n    }\n'
        "    @org.junit.jupiter.api.Test void a() { }\n}\n"
    )
    result = await run(client, "java", FIB, tests, runs=10, warmup=2)
    assert result["status"] == "passed" and result["measurement"] is None, result
    expected = "SetupTest passed when validated but failed when run again to be measured"
    assert any(expected in note and "set up twice" in note for note in result["notes"]), result["notes"]
