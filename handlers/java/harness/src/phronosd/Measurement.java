package phronosd;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The samples of the measure phase. Each test gets an equal share of what is left of the budget;
 * its first executions are warm-ups (not kept) until `Warmup` says the warm-up is over.
 *
 * <p>Stepped (a compare job, {@link Stepper}): each call of a test executes it once, the suite is run
 * again and again, and the stepper says when the warm-up runs end and the timed runs begin.
 */
final class Measurement {
    private final long startedNs;
    private final long timerResolutionNs;
    private final Warmup warmup;
    private final int runs;
    private final long deadlineNs;
    private final Map<String, Series> series = new LinkedHashMap<>();
    private final Reporter reporter;
    private final Progress progress;
    private final List<String> notes = new ArrayList<>();
    private final boolean stepped;
    private int testsLeft;
    private boolean reported;

    /** One test's executions: warm-up times, then timed samples. */
    private static final class Series {
        final List<Long> warmups = new ArrayList<>();
        final List<Long> samples = new ArrayList<>();
        long warmupDeadlineNs = Long.MAX_VALUE;
        boolean warming = true;
    }

    /** startedNs: System.nanoTime() just after `phase measure` was emitted (the start of `elapsedNs`). */
    Measurement(long startedNs, Warmup warmup, int runs, long budgetNs, List<String> testNames, Reporter reporter,
            boolean stepped) {
        this.startedNs = startedNs;
        this.stepped = stepped;
        this.reporter = reporter;
        this.progress = new Progress(reporter, runs, testNames.size());
        this.timerResolutionNs = timerResolutionNs();
        this.warmup = warmup;
        this.runs = runs;
        this.deadlineNs = startedNs + budgetNs;
        this.testsLeft = testNames.size();
        for (String name : testNames) {
            Series s = new Series();
            s.warmupDeadlineNs = stepped ? startedNs + (long) (budgetNs * Warmup.BUDGET_SHARE) : Long.MAX_VALUE;
            series.put(name, s);
        }
    }

    /** The moment these tests must stop repeating, to leave the other tests their share; their
     *  warm-up may use `Warmup.BUDGET_SHARE` of it. */
    synchronized long shareDeadline(Collection<String> names) {
        if (stepped) {
            return Long.MIN_VALUE; // one execution per call
        }
        long now = System.nanoTime();
        long share = Math.max(0, (deadlineNs - now) * names.size() / Math.max(1, testsLeft));
        testsLeft -= names.size();
        for (String name : names) {
            series.get(name).warmupDeadlineNs = now + (long) (share * Warmup.BUDGET_SHARE);
        }
        return now + share;
    }

    synchronized boolean knows(String name) {
        return series.containsKey(name);
    }

    /** Whether every one of these tests has all its timed runs. */
    synchronized boolean complete(Collection<String> names) {
        return names.stream().allMatch(name -> series.get(name).samples.size() >= runs);
    }

    /** Records the next execution of a test: a warm-up while its warm-up is not over, else a sample. */
    synchronized void record(String name, long ns) {
        Series s = series.get(name);
        if (s.warming && !stepped) {
            s.warming = !warmup.over(s.warmups, System.nanoTime() > s.warmupDeadlineNs);
        }
        if (s.warming) {
            s.warmups.add(ns);
        } else if (s.samples.size() < runs) {
            s.samples.add(ns);
            if (!stepped) {
                progress.executed();
            }
        }
    }

    boolean stepped() {
        return stepped;
    }

    /** Stepped: whether every test's warm-up is over (by `Warmup`'s rule, over the whole suite's runs). */
    synchronized boolean warmedUp() {
        long now = System.nanoTime();
        return series.values().stream().allMatch(s -> warmup.over(s.warmups, now > s.warmupDeadlineNs));
    }

    /** Stepped: the executions from now on are timed. */
    synchronized void startTiming() {
        series.values().forEach(s -> s.warming = false);
    }

    /** Ends the measuring (the tests not yet measured are skipped); the first reason is kept. */
    synchronized void stop(String note) {
        if (notes.isEmpty()) {
            notes.add(note);
        }
    }

    synchronized boolean stopped() {
        return !notes.isEmpty();
    }

    /** The note for a test that passed when validated and failed in its next execution of the
     *  measure phase (validation was its first run). */
    synchronized String failedNote(String test, Throwable failure) {
        Series s = series.get(test);
        int run = s.warmups.size() + s.samples.size() + 2;
        return failedAgain(test, " (its " + ordinal(run) + " run)", failure);
    }

    /** The note for a part of the suite (a class's set-up, a test's tear-down) that passed when
     *  validated and failed in the measure phase. */
    static String partFailedNote(String part, Throwable failure) {
        return failedAgain(part, "", failure);
    }

    private static String failedAgain(String what, String when, Throwable failure) {
        return what + " passed when validated but failed when run again to be measured" + when
                + ", so the measuring stops there: " + Failures.brief(failure)
                + ". A test must pass every time it runs: does it depend on state an earlier run left behind?";
    }

    private static String ordinal(int n) {
        String suffix = n % 100 / 10 == 1 ? "th" : switch (n % 10) {
            case 1 -> "st";
            case 2 -> "nd";
            case 3 -> "rd";
            default -> "th";
        };
        return n + suffix;
    }

    /**
     * Emits `samples` per test (all cut to the same length) and `measured` (warm-up: the fewest any
     * test had; `notes`: why the runs stopped early, or why none could be timed; `elapsedNs`: this
     * phase on this JVM's clock, from its start to this event). Once only (the shutdown hook may call
     * it too).
     */
    synchronized void report(Long peakRssBytes) {
        if (reported) {
            return;
        }
        reported = true;
        int count = series.values().stream().mapToInt(s -> s.samples.size()).min().orElse(0);
        for (Map.Entry<String, Series> entry : series.entrySet()) {
            long[] ns = entry.getValue().samples.stream().limit(count).mapToLong(Long::longValue).toArray();
            reporter.emit("samples", "test", entry.getKey(), "ns", ns);
        }
        if (count == 0) {
            notes.addAll(unmeasuredReasons());
        }
        if (!stepped) {
            progress.finish(count);
        }
        int warmups = series.values().stream().mapToInt(s -> s.warmups.size()).min().orElse(0);
        reporter.emit("measured", "warmup", warmups, "timerResolutionNs", timerResolutionNs,
                "notes", List.copyOf(notes), "rssPeakBytes", peakRssBytes, "elapsedNs", System.nanoTime() - startedNs);
    }

    /** Why the tests without a timed run have none, when no stop note says it already. */
    private List<String> unmeasuredReasons() {
        if (!notes.isEmpty()) {
            return List.of();
        }
        List<String> reasons = new ArrayList<>();
        for (Map.Entry<String, Series> entry : series.entrySet()) {
            Series s = entry.getValue();
            if (s.warmups.isEmpty() && s.samples.isEmpty()) {
                reasons.add(entry.getKey() + " was not executed in the measure phase");
            } else if (s.samples.isEmpty()) {
                reasons.add(entry.getKey() + " spent its share of the measuring budget on " + s.warmups.size()
                        + " warm-up executions");
            }
        }
        return reasons;
    }

    private static long timerResolutionNs() {
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 200; i++) {
            long start = System.nanoTime();
            long now = System.nanoTime();
            while (now == start) {
                now = System.nanoTime();
            }
            best = Math.min(best, now - start);
        }
        return best;
    }
}
