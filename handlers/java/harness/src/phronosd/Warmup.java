package phronosd;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * When a test's warm-up is over: after a fixed count, or with PHRONOSD_WARMUP=auto by the adaptive
 * rule of handlers/README.md (shared with the Jest harness): the last WINDOW warm-up times are
 * stable and settled, or CAP warm-up runs were done, or the warm-up spent BUDGET_SHARE of the test's
 * time share.
 */
final class Warmup {
    static final String ADAPTIVE = "auto";
    static final int WINDOW = 10;
    static final double STABLE_SPREAD = 0.05;
    static final double SETTLED_MARGIN = 0.25;
    static final int CAP = 200;
    static final double BUDGET_SHARE = 0.25;

    private final int fixed; // -1: adaptive

    private Warmup(int fixed) {
        this.fixed = fixed;
    }

    static Warmup parse(String value) {
        return new Warmup(ADAPTIVE.equals(value) ? -1 : Integer.parseInt(value));
    }

    /** times: this test's warm-up times so far; shareSpent: its warm-up share of the budget is used up. */
    boolean over(List<Long> times, boolean shareSpent) {
        if (fixed >= 0) {
            return times.size() >= fixed;
        }
        return times.size() >= CAP || shareSpent || (stable(times) && settled(times));
    }

    /** The last WINDOW times' median is within SETTLED_MARGIN of the fastest warm-up so far. Times can
     *  be steady in code the JIT will replace: HotSpot drops a C2 loop whose exit it never saw taken,
     *  and the method then runs C1 code with profiling, 4x slower, for a few dozen calls before C2
     *  compiles it again. A run that was much faster shows a faster tier is already within reach. */
    static boolean settled(List<Long> times) {
        double fastest = Collections.min(times);
        return median(times.subList(times.size() - WINDOW, times.size())) <= (1 + SETTLED_MARGIN) * fastest;
    }

    /** Robust CV of the last WINDOW times within STABLE_SPREAD, and no trend: their older and newer
     *  halves have medians within STABLE_SPREAD of each other (relative to the window's median). */
    static boolean stable(List<Long> times) {
        if (times.size() < WINDOW) {
            return false;
        }
        List<Long> window = times.subList(times.size() - WINDOW, times.size());
        double median = median(window);
        List<Long> deviations = new ArrayList<>();
        for (long t : window) {
            deviations.add(Math.round(Math.abs(t - median)));
        }
        double trend = Math.abs(median(window.subList(WINDOW / 2, WINDOW)) - median(window.subList(0, WINDOW / 2)));
        return 1.4826 * median(deviations) <= STABLE_SPREAD * median && trend <= STABLE_SPREAD * median;
    }

    private static double median(List<Long> values) {
        List<Long> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2.0;
    }
}
