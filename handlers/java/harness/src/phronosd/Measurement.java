package phronosd;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The samples of the measure phase. Each test gets an equal share of what is left of the budget;
 * its first executions are warm-ups (not kept) until `Warmup` says the warm-up is over.
 */
final class Measurement {
    private final Warmup warmup;
    private final int runs;
    private final long deadlineNs;
    private final Map<String, Series> series = new LinkedHashMap<>();
    private final List<String> notes = new ArrayList<>();
    private int testsLeft;

    /** One test's executions: warm-up times, then timed samples. */
    private static final class Series {
        final List<Long> warmups = new ArrayList<>();
        final List<Long> samples = new ArrayList<>();
        long warmupDeadlineNs = Long.MAX_VALUE;
        boolean warming = true;
    }

    Measurement(Warmup warmup, int runs, long budgetNs, List<String> testNames) {
        this.warmup = warmup;
        this.runs = runs;
        this.deadlineNs = System.nanoTime() + budgetNs;
        this.testsLeft = testNames.size();
        for (String name : testNames) {
            series.put(name, new Series());
        }
    }

    /** The moment these tests must stop repeating, to leave the other tests their share; their
     *  warm-up may use `Warmup.BUDGET_SHARE` of it. */
    synchronized long shareDeadline(Collection<String> names) {
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
        if (s.warming) {
            s.warming = !warmup.over(s.warmups, System.nanoTime() > s.warmupDeadlineNs);
        }
        if (s.warming) {
            s.warmups.add(ns);
        } else if (s.samples.size() < runs) {
            s.samples.add(ns);
        }
    }

    synchronized void stop(String note) {
        if (notes.isEmpty()) {
            notes.add(note);
        }
    }

    synchronized boolean stopped() {
        return !notes.isEmpty();
    }

    /** Emits `samples` per test (all cut to the same length) and `measured` (warm-up: the fewest any test had). */
    synchronized void report(Reporter reporter, long timerResolutionNs, Long peakRssBytes) {
        int count = series.values().stream().mapToInt(s -> s.samples.size()).min().orElse(0);
        for (Map.Entry<String, Series> entry : series.entrySet()) {
            long[] ns = entry.getValue().samples.stream().limit(count).mapToLong(Long::longValue).toArray();
            reporter.emit("samples", "test", entry.getKey(), "ns", ns);
        }
        int warmups = series.values().stream().mapToInt(s -> s.warmups.size()).min().orElse(0);
        reporter.emit("measured", "warmup", warmups, "timerResolutionNs", timerResolutionNs, "notes", List.copyOf(notes),
                "rssPeakBytes", peakRssBytes);
    }

    static long timerResolutionNs() {
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
