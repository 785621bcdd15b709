package phronosd;

import java.io.OutputStream;
import java.io.PrintStream;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.EngineFilter;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * The Java harness: compiles the sources with javac in this JVM, validates the suite through the
 * JUnit Platform Launcher, and, in mode `run`, measures it in a second execution of the same
 * Launcher (one more discovery, not one per run) where {@link MeasureInterceptor} repeats each test;
 * in a compare job, in one execution per run ({@link Stepper}). A pooled JVM first preloads
 * ({@link Preload}) and waits for its job.
 */
public final class Main {
    /** The submitted files: the working directory the supervisor started this harness in. */
    private static final Path WORK = Path.of("").toAbsolutePath();
    /** Compiled classes, under this harness's own scratch folder. */
    private static final Path CLASSES = Path.of(System.getenv().getOrDefault("TMPDIR", "/tmp"), "phronosd", "classes");

    private final Reporter reporter;
    private final Job job;
    private volatile ResultListener listener;
    private volatile Measurement measurement;
    private volatile boolean finished;
    private boolean resultsReported;

    private Main(Job job, Reporter reporter) {
        this.job = job;
        this.reporter = reporter;
    }

    public static void main(String[] args) throws Exception {
        Job job = Job.handedOver(Integer.parseInt(args[0]));
        Reporter reporter = Reporter.open(job);
        if (job.pooled()) {
            Preload.run(CLASSES.getParent());
            reporter.emit("ready");
            job = job.assigned();
        }
        Main main = new Main(job, reporter);
        Runtime.getRuntime().addShutdownHook(new Thread(main::exitedEarly));
        int code;
        try {
            code = main.run();
        } catch (OutOfMemoryError e) {
            main.reportResults();
            main.reporter.emit("memory_limit", "message", "java.lang.OutOfMemoryError: " + e.getMessage()
                    + " (heap limit " + Runtime.getRuntime().maxMemory() / (1024 * 1024) + " MB)");
            code = 3;
        }
        main.finished = true;
        System.exit(code);
    }

    private int run() throws Exception {
        reporter.emit("phase", "name", "compile");
        SourceCompiler.Result compiled = SourceCompiler.compile(
                WORK, Path.of(job.get("PHRONOSD_TEST_FILE")), Path.of(job.get("PHRONOSD_SOLUTION_FILE")), CLASSES);
        if (!compiled.ok()) {
            reporter.emit("compile_error", "message", compiled.errors());
            return 1;
        }
        ClassLoader loader = new URLClassLoader(classPath(), Main.class.getClassLoader());
        Thread.currentThread().setContextClassLoader(loader);
        List<Class<?>> testClasses = new ArrayList<>();
        for (String name : compiled.testClasses()) {
            testClasses.add(Class.forName(name, false, loader));
        }
        Launcher launcher = LauncherFactory.create();
        reporter.emit("phase", "name", "validate");
        listener = new ResultListener(Set.copyOf(compiled.solutionClasses()));
        launcher.execute(request(testClasses, false), listener);
        reportResults();
        reporter.emit("validated");
        if (job.get("PHRONOSD_MODE").equals("run") && listener.measurable()) {
            measure(launcher, testClasses, loader);
        }
        return listener.measurable() ? 0 : 1;
    }

    /** Where the compiled classes' loader looks (after the JVM's class path): the classes, then the libraries. */
    private static URL[] classPath() throws MalformedURLException {
        List<URL> path = new ArrayList<>(List.of(CLASSES.toUri().toURL()));
        path.addAll(Libraries.urls());
        return path.toArray(URL[]::new);
    }

    /** The suite of these classes; `measuring`: with MeasureInterceptor, without JUnit 4 (timed apart). */
    static LauncherDiscoveryRequest request(List<Class<?>> testClasses, boolean measuring) {
        LauncherDiscoveryRequestBuilder builder = LauncherDiscoveryRequestBuilder.request()
                .selectors(testClasses.stream().map(DiscoverySelectors::selectClass).toList())
                .configurationParameter("junit.jupiter.extensions.autodetection.enabled", String.valueOf(measuring));
        if (measuring) {
            builder.filters(EngineFilter.excludeEngines("junit-vintage"));
        }
        return builder.build();
    }

    private void measure(Launcher launcher, List<Class<?>> testClasses, ClassLoader loader) throws Exception {
        reporter.emit("phase", "name", "measure");
        long started = System.nanoTime();
        Map<String, String> names = listener.passedNamesByUniqueId();
        String stepFd = job.variables().get("PHRONOSD_STEP_FD");
        Measurement m = new Measurement(
                started,
                Warmup.parse(job.get("PHRONOSD_WARMUP")),
                Integer.parseInt(job.get("PHRONOSD_RUNS")),
                Long.parseLong(job.get("PHRONOSD_BUDGET_MS")) * 1_000_000L,
                List.copyOf(names.values()),
                reporter,
                stepFd != null);
        measurement = m;
        MeasureInterceptor.names = names;
        MeasureInterceptor.measurement = m;
        PrintStream out = System.out;
        PrintStream err = System.err;
        PrintStream discard = new PrintStream(OutputStream.nullOutputStream());
        System.setOut(discard);
        System.setErr(discard);
        PeakRss.restart();
        Stepper.SuiteRun suite = () -> {
            launcher.execute(request(testClasses, true), new MeasureListener(m));
            JUnit4Measure.run(m, names, loader);
        };
        try {
            if (stepFd == null) {
                suite.run();
            } else {
                Stepper.run(m, reporter, stepFd, suite);
            }
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
        m.report(PeakRss.bytes());
    }

    /** Emits one `test` event per test, once (also from the OutOfMemoryError and System.exit paths). */
    private synchronized void reportResults() {
        ResultListener results = listener;
        if (results == null || resultsReported) {
            return;
        }
        resultsReported = true;
        for (ResultListener.Result r : results.results()) {
            reporter.emit("test", "name", r.name(), "status", r.status(), "durationMs", r.durationMs(),
                    "message", r.message());
        }
    }

    /** Shutdown hook: the code under test called System.exit (or a signal stopped the JVM). Report
     *  what ran: the tests (never `validated`), or in the measure phase why it ended. */
    private void exitedEarly() {
        if (finished) {
            return;
        }
        Measurement m = measurement;
        if (m == null) {
            reportResults();
            System.err.println("phronosd: the code under test called System.exit before the suite finished");
            return;
        }
        m.stop("the JVM was made to exit (System.exit or a signal) while the tests were measured");
        m.report(PeakRss.bytes());
    }
}
