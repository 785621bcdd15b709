package phronosd;

import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The solutions' libraries (handler.py `libraries`) that the image installed, each a jar of Debian's
 * and the package its classes are in. They are not on the JVM's class path, which stays the one the
 * class-data-sharing archive was made with, searched as in an image without them: the compiled
 * classes' loader reads them after the classes, and javac gets only the jars of the packages the
 * sources name (every jar on javac's class path is opened by every compilation, used or not).
 */
final class Libraries {
    private record Library(Path jar, Pattern named) {}

    private static final List<Library> INSTALLED = Stream.of(
                    library("guava", "com.google.common"),
                    library("commons-lang3", "org.apache.commons.lang3"),
                    library("commons-math3", "org.apache.commons.math3"),
                    library("commons-collections4", "org.apache.commons.collections4"),
                    library("gson", "com.google.gson"))
            .filter(library -> Files.isRegularFile(library.jar()))
            .toList();

    private Libraries() {}

    /** A jar of /usr/share/java and its package, as code names it (spaces around the dots allowed). */
    private static Library library(String jar, String packageName) {
        String dotted = String.join("\\s*\\.\\s*", packageName.split("\\."));
        return new Library(Path.of("/usr/share/java", jar + ".jar"), Pattern.compile("\\b" + dotted + "\\b"));
    }

    /** The installed libraries' jars whose package one of these sources names. */
    static List<String> namedIn(List<Path> sources) throws IOException {
        List<String> texts = new ArrayList<>();
        for (Path source : sources) {
            texts.add(new String(Files.readAllBytes(source), StandardCharsets.UTF_8));
        }
        return INSTALLED.stream()
                .filter(library -> texts.stream().anyMatch(text -> library.named().matcher(text).find()))
                .map(library -> library.jar().toString())
                .toList();
    }

    /** Every installed library's jar, for the compiled classes' loader. */
    static List<URL> urls() throws MalformedURLException {
        List<URL> urls = new ArrayList<>();
        for (Library library : INSTALLED) {
            urls.add(library.jar().toUri().toURL());
        }
        return urls;
    }
}
