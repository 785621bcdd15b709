package phronosd;

/**
 * Live `progress` events of the measure phase (handlers/README.md). The tests are timed one after
 * the other, so `runsDone` is the timed executions so far divided by the number of tests. Sent at
 * least every 10 % of the runs, and once more at the end.
 */
final class Progress {
    private final Reporter reporter;
    private final int runs;
    private final int tests;
    private final int step;
    private long executions;
    private int sent;

    Progress(Reporter reporter, int runs, int tests) {
        this.reporter = reporter;
        this.runs = runs;
        this.tests = Math.max(1, tests);
        this.step = Math.max(1, runs / 10);
    }

    /** One more timed execution of some test. */
    void executed() {
        executions++;
        int done = (int) (executions / tests);
        if (done >= sent + step || (done == runs && done > sent)) {
            send(done);
        }
    }

    /** The measure phase ended with `done` runs. */
    void finish(int done) {
        send(done);
    }

    private void send(int done) {
        sent = done;
        reporter.emit("progress", "phase", "measure", "runsDone", done, "runsTotal", runs);
    }
}
