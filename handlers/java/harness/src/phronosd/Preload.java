package phronosd;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.tools.ToolProvider;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * What a pooled JVM does before it says `ready`: it compiles and runs, unreported, the training
 * suite the image's class-data-sharing archive was made with, so that javac and the JUnit Platform
 * are loaded and their busiest code compiled by the JIT before the job arrives.
 */
final class Preload {
    private static final Path TRAINING = Path.of("/opt/phronosd/harness/training");
    private static final String TRAINING_TESTS = "TrainingTest";

    private Preload() {}

    static void run(Path scratch) throws IOException, ReflectiveOperationException {
        Path classes = Files.createDirectories(scratch.resolve("preload"));
        List<String> arguments = new ArrayList<>(List.of("-d", classes.toString(),
                "-classpath", System.getProperty("java.class.path"), "-proc:none", "-nowarn"));
        try (Stream<Path> sources = Files.list(TRAINING)) {
            sources.map(Path::toString).filter(name -> name.endsWith(".java")).forEach(arguments::add);
        }
        OutputStream quiet = OutputStream.nullOutputStream();
        if (ToolProvider.getSystemJavaCompiler().run(null, quiet, quiet, arguments.toArray(String[]::new)) != 0) {
            throw new IllegalStateException("the training suite did not compile");
        }
        URL[] path = {classes.toUri().toURL()};
        try (URLClassLoader loader = new URLClassLoader(path, Preload.class.getClassLoader())) {
            Class<?> tests = Class.forName(TRAINING_TESTS, false, loader);
            LauncherFactory.create().execute(Main.request(List.of(tests), false));
        }
    }
}
