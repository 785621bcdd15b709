package phronosd;

import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;

/**
 * Listens to the measuring execution of the suite: what fails there outside the timed calls (a
 * class's @BeforeAll run again, an @AfterEach, an argument source) stops the measuring with a note,
 * as a timed call that fails does.
 */
final class MeasureListener implements TestExecutionListener {
    private final Measurement measurement;

    MeasureListener(Measurement measurement) {
        this.measurement = measurement;
    }

    @Override
    public void executionFinished(TestIdentifier id, TestExecutionResult outcome) {
        if (outcome.getStatus() == TestExecutionResult.Status.FAILED) {
            Throwable failure = outcome.getThrowable().orElseGet(() -> new AssertionError("failed"));
            measurement.stop(Measurement.partFailedNote(id.getDisplayName(), failure));
        }
    }
}
