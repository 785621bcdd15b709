package phronosd;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.platform.engine.UniqueId;
import org.junit.runner.Description;
import org.junit.runner.Request;
import org.junit.runner.Runner;
import org.junit.runner.notification.Failure;
import org.junit.runner.notification.RunListener;
import org.junit.runner.notification.RunNotifier;

/**
 * Measures JUnit 4 tests, which Jupiter's interceptors never see: each run runs every JUnit 4 class
 * through its own runner (fresh instance, @Before/@After, rules, as JUnit 4 does) and times the span
 * from test start to test end, which includes instance creation and @Before/@After.
 */
final class JUnit4Measure {
    private static final String VINTAGE = "junit-vintage";

    static void run(Measurement m, Map<String, String> namesByUniqueId, ClassLoader loader)
            throws ClassNotFoundException {
        Set<String> classes = new LinkedHashSet<>();
        List<String> tests = new ArrayList<>();
        for (Map.Entry<String, String> entry : namesByUniqueId.entrySet()) {
            List<UniqueId.Segment> segments = UniqueId.parse(entry.getKey()).getSegments();
            if (segments.get(0).getValue().equals(VINTAGE) && segments.size() > 1) {
                classes.add(segments.get(1).getValue());
                tests.add(entry.getValue());
            }
        }
        if (classes.isEmpty()) {
            return;
        }
        Runner[] runners = new Runner[classes.size()];
        int k = 0;
        for (String name : classes) {
            runners[k++] = Request.aClass(Class.forName(name, true, loader)).getRunner();
        }
        long deadline = m.shareDeadline(tests);
        for (int i = 0; !m.complete(tests) && (i == 0 || System.nanoTime() < deadline) && !m.stopped(); i++) {
            RunNotifier notifier = new RunNotifier();
            notifier.addListener(new Timer(m));
            for (Runner runner : runners) {
                runner.run(notifier);
            }
        }
    }

    /** Times each test of one run and records it as that test's next execution. */
    private static final class Timer extends RunListener {
        private final Measurement m;
        private final Map<Description, Long> started = new HashMap<>();

        Timer(Measurement m) {
            this.m = m;
        }

        @Override
        public void testStarted(Description d) {
            started.put(d, System.nanoTime());
        }

        @Override
        public void testFinished(Description d) {
            long ns = System.nanoTime() - started.get(d);
            String name = nameOf(d);
            if (m.knows(name) && !m.stopped()) {
                m.record(name, ns);
            }
        }

        @Override
        public void testFailure(Failure failure) {
            String name = nameOf(failure.getDescription());
            m.stop(m.knows(name) ? m.failedNote(name, failure.getException())
                    : Measurement.partFailedNote(name, failure.getException()));
        }

        private static String nameOf(Description d) {
            return d.getMethodName() == null
                    ? d.getDisplayName()
                    : TestNames.ofJUnit4(d.getClassName(), d.getMethodName());
        }
    }
}
