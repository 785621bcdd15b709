package phronosd;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The samples of the measure phase. Each test gets an equal share of what is left of the budget;
 * the first `warmup` executions of a test are not kept.
 */
final class Measurement {
    final int warmup;
    final int runs;
    private final long deadlineNs;
    private final Map<String, List<Long>> samples = new LinkedHashMap<>();
    private final Map<String, Integer> warmupsDone = new LinkedHashMap<>();
    private final List<String> notes = new ArrayList<>();
    private int testsLeft;

    Measurement(int warmup, int runs, long budgetNs, List<String> testNames) {
        this.warmup = warmup;
        this.runs = runs;
        this.deadlineNs = System.nanoTime() + budgetNs;
        this.testsLeft = testNames.size();
        for (String name : testNames) {
            samples.put(name, new ArrayList<>());
            warmupsDone.put(name, 0);
        }
    }

    /** The moment the next `tests` tests must stop repeating, to leave the rest their share. */
    synchronized long shareDeadline(int tests) {
        long now = System.nanoTime();
        long share = Math.max(0, (deadlineNs - now) * tests / Math.max(1, testsLeft));
        testsLeft -= tests;
        return now + share;
    }

    synchronized boolean knows(String name) {
        return samples.containsKey(name);
    }

    /** Records execution number `index` (0-based, warm-ups first) of a test. */
    synchronized void record(String name, int index, long ns) {
        if (index < warmup) {
            warmupsDone.merge(name, 1, Integer::sum);
        } else {
            samples.get(name).add(ns);
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

    /** Emits `samples` per test (all cut to the same length) and `measured`. */
    synchronized void report(Reporter reporter, long timerResolutionNs) {
        int count = samples.values().stream().mapToInt(List::size).min().orElse(0);
        for (Map.Entry<String, List<Long>> entry : samples.entrySet()) {
            long[] ns = entry.getValue().stream().limit(count).mapToLong(Long::longValue).toArray();
            reporter.emit("samples", "test", entry.getKey(), "ns", ns);
        }
        int warmups = warmupsDone.values().stream().mapToInt(Integer::intValue).min().orElse(0);
        reporter.emit("measured", "warmup", warmups, "timerResolutionNs", timerResolutionNs, "notes", List.copyOf(notes));
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
