package phronosd;

import com.sun.source.util.JavacTask;
import com.sun.source.util.TaskEvent;
import com.sun.source.util.TaskListener;
import java.io.File;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

/**
 * javac in this JVM (javax.tools), so compiling costs no second JVM start-up and the classes javac
 * loads are shared with the run through the image's class-data-sharing archive.
 */
final class SourceCompiler {
    /** The outcome: the top-level classes declared in the test file and in the solution file (binary
     *  names), or javac's messages. */
    record Result(List<String> testClasses, List<String> solutionClasses, String errors) {
        boolean ok() {
            return errors == null;
        }
    }

    /** Compiles every .java file under workDir (relative paths, so messages name them as the user does). */
    static Result compile(Path workDir, Path testFile, Path solutionFile, Path classesDir) throws IOException {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        Files.createDirectories(classesDir);
        List<Path> sources = sources(workDir);
        try (StandardJavaFileManager files = javac.getStandardFileManager(null, null, StandardCharsets.UTF_8)) {
            List<String> options = List.of(
                    "-d", classesDir.toString(),
                    "-classpath", classPath(workDir, sources),
                    "-proc:none", "-implicit:none", "-encoding", "UTF-8", "-Xlint:none", "-nowarn", "-g");
            StringWriter output = new StringWriter();
            JavacTask task = (JavacTask) javac.getTask(
                    output, files, null, options, null, files.getJavaFileObjectsFromPaths(sources));
            List<String> testClasses = new ArrayList<>();
            List<String> solutionClasses = new ArrayList<>();
            task.addTaskListener(topLevelTypesOf(testFile, testClasses));
            task.addTaskListener(topLevelTypesOf(solutionFile, solutionClasses));
            boolean compiled = task.call();
            return compiled
                    ? new Result(testClasses, solutionClasses, null)
                    : new Result(List.of(), List.of(), output.toString().strip());
        }
    }

    /** The JVM's class path (the harness, JUnit) and the jars of the libraries the sources use. */
    private static String classPath(Path workDir, List<Path> sources) throws IOException {
        List<String> path = new ArrayList<>(List.of(System.getProperty("java.class.path")));
        path.addAll(Libraries.namedIn(sources.stream().map(workDir::resolve).toList()));
        return String.join(File.pathSeparator, path);
    }

    private static List<Path> sources(Path workDir) throws IOException {
        try (Stream<Path> walk = Files.walk(workDir)) {
            return walk.filter(p -> p.toString().endsWith(".java") && Files.isRegularFile(p))
                    .map(workDir::relativize)
                    .sorted()
                    .toList();
        }
    }

    /** Records the binary names of the top-level types javac analyses in one source file. */
    private static TaskListener topLevelTypesOf(Path file, List<String> names) {
        Path wanted = file.toAbsolutePath().normalize();
        return new TaskListener() {
            @Override
            public void finished(TaskEvent event) {
                if (event.getKind() == TaskEvent.Kind.ANALYZE
                        && event.getTypeElement() != null
                        && Path.of(event.getSourceFile().toUri()).normalize().equals(wanted)) {
                    names.add(event.getTypeElement().getQualifiedName().toString());
                }
            }
        };
    }
}
