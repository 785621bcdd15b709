package phronosd;

import java.io.FileInputStream;
import java.io.InputStream;

/**
 * A compare job's runs (handlers/README.md: Compare jobs). The suite is run again and again, each
 * run executing every test once through Jupiter itself (a fresh instance per test, the PER_CLASS
 * instance and @BeforeAll once per run, as in any run of the suite): untimed until every test's
 * warm-up is over, then one timed run for each byte the driver writes to PHRONOSD_STEP_FD, until
 * that pipe ends or a test fails.
 */
final class Stepper {
    /** One run of the whole suite. */
    interface SuiteRun {
        void run() throws Exception;
    }

    private Stepper() {}

    static void run(Measurement m, Reporter reporter, String stepFd, SuiteRun suite) throws Exception {
        while (!m.stopped() && !m.warmedUp()) {
            suite.run();
        }
        if (m.stopped()) {
            return;
        }
        m.startTiming();
        reporter.emit("stepping");
        try (InputStream steps = new FileInputStream("/proc/self/fd/" + stepFd)) {
            while (steps.read() != -1) {
                suite.run();
                if (m.stopped()) {
                    return;
                }
                reporter.emit("step_done");
            }
        }
    }
}
