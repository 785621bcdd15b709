package phronosd;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

/**
 * Collects one result per test from the JUnit Platform. A container that fails (@BeforeAll,
 * a failing argument source, @AfterAll) fails the tests it covers; a skipped or aborted container
 * skips them. An abort (a failed assumption: TestAbortedException, JUnit 4's
 * AssumptionViolatedException) is a skip only when the solution's code is not on its stack trace:
 * a solution that aborts the test it cannot pass makes that test fail.
 */
final class ResultListener implements TestExecutionListener {
    record Result(String name, String status, double durationMs, String message) {}

    private final Map<String, Result> results = new LinkedHashMap<>();
    private final Map<String, Long> started = new ConcurrentHashMap<>();
    private final Set<String> solutionClasses;
    private TestPlan plan;
    private TestNames names;

    /** solutionClasses: binary names of the top-level classes of the solution file. */
    ResultListener(Set<String> solutionClasses) {
        this.solutionClasses = solutionClasses;
    }

    @Override
    public void testPlanExecutionStarted(TestPlan testPlan) {
        plan = testPlan;
        names = new TestNames(testPlan);
    }

    @Override
    public void executionStarted(TestIdentifier id) {
        started.put(id.getUniqueId(), System.nanoTime());
    }

    @Override
    public synchronized void executionSkipped(TestIdentifier id, String reason) {
        for (TestIdentifier leaf : leavesWithoutResult(id)) {
            results.put(leaf.getUniqueId(), new Result(names.of(leaf), "skipped", 0.0, reason));
        }
    }

    @Override
    public synchronized void executionFinished(TestIdentifier id, TestExecutionResult outcome) {
        if (id.isTest()) {
            results.put(id.getUniqueId(), testResult(id, outcome));
        } else if (outcome.getStatus() == TestExecutionResult.Status.FAILED) {
            failCoveredTests(id, outcome.getThrowable().map(Failures::describe).orElse("failed"));
        } else if (outcome.getStatus() == TestExecutionResult.Status.ABORTED) {
            Throwable abort = outcome.getThrowable().orElse(null);
            for (TestIdentifier leaf : leavesWithoutResult(id)) {
                results.put(leaf.getUniqueId(), aborted(names.of(leaf), 0.0, abort));
            }
        }
    }

    private Result testResult(TestIdentifier id, TestExecutionResult outcome) {
        Long start = started.get(id.getUniqueId());
        double ms = start == null ? 0.0 : Math.round((System.nanoTime() - start) / 1e3) / 1e3;
        Throwable failure = outcome.getThrowable().orElse(null);
        String message = failure == null ? null : Failures.describe(failure);
        return switch (outcome.getStatus()) {
            case SUCCESSFUL -> new Result(names.of(id), "passed", ms, message);
            case ABORTED -> aborted(names.of(id), ms, failure);
            case FAILED -> new Result(
                    names.of(id), failure instanceof AssertionError ? "failed" : "error", ms, message);
        };
    }

    /** A test aborted at run time: skipped, unless the solution's code raised the abort. */
    private Result aborted(String name, double ms, Throwable abort) {
        StackTraceElement solutionFrame = abort == null ? null : Failures.firstFrameOf(abort, solutionClasses);
        if (solutionFrame == null) {
            return new Result(name, "skipped", ms, abort == null ? null : Failures.describe(abort));
        }
        return new Result(name, "failed", ms, "the solution's code aborted this test (at " + solutionFrame
                + "); a test the solution skips does not pass\n" + Failures.describe(abort));
    }

    /** Tests that never ran get the container's failure; tests that passed before it (@AfterAll) too. */
    private void failCoveredTests(TestIdentifier container, String message) {
        String text = "in " + container.getDisplayName() + ": " + message;
        for (TestIdentifier leaf : leavesWithoutResult(container)) {
            results.put(leaf.getUniqueId(), new Result(names.of(leaf), "error", 0.0, text));
        }
        for (TestIdentifier leaf : plan.getDescendants(container)) {
            Result done = results.get(leaf.getUniqueId());
            if (done != null && done.status().equals("passed")) {
                results.put(leaf.getUniqueId(), new Result(done.name(), "error", done.durationMs(), text));
            }
        }
    }

    /** The tests under `id` (or `id` itself) that have no result yet; a test method container with
     *  no invocations yet (a parameterized test whose class setup failed) stands for its tests. */
    private List<TestIdentifier> leavesWithoutResult(TestIdentifier id) {
        List<TestIdentifier> under = new java.util.ArrayList<>(plan.getDescendants(id));
        under.add(id);
        return under.stream()
                .filter(t -> plan.getChildren(t).isEmpty())
                .filter(t -> t.isTest() || t.getSource().orElse(null) instanceof MethodSource)
                .filter(t -> !results.containsKey(t.getUniqueId()))
                .toList();
    }

    synchronized List<Result> results() {
        return List.copyOf(results.values());
    }

    /** The tests to time: those that passed (skipped ones never run). */
    synchronized Map<String, String> passedNamesByUniqueId() {
        Map<String, String> byId = new LinkedHashMap<>();
        for (String uid : results.keySet()) {
            if (results.get(uid).status().equals("passed")) {
                byId.put(uid, results.get(uid).name());
            }
        }
        return byId;
    }

    /** Measurable: at least one test passed and none failed (skipped tests are simply not timed). */
    boolean measurable() {
        List<Result> all = results();
        return all.stream().anyMatch(r -> r.status().equals("passed"))
                && all.stream().allMatch(r -> r.status().equals("passed") || r.status().equals("skipped"));
    }
}
