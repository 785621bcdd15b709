package phronosd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** This JVM's peak resident size over the measure phase, from Linux's /proc (VmHWM, `clear_refs` 5). */
final class PeakRss {
    private static final Pattern HWM = Pattern.compile("^VmHWM:\\s+(\\d+) kB", Pattern.MULTILINE);

    private PeakRss() {}

    /** Starts the peak over from the current resident size. */
    static void restart() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException | RuntimeException e) {
            // not writable: the peak then covers the whole process
        }
    }

    /** The peak in bytes since the JVM started or since `restart`; null when /proc cannot tell. */
    static Long bytes() {
        try {
            Matcher found = HWM.matcher(Files.readString(Path.of("/proc/self/status")));
            return found.find() ? Long.parseLong(found.group(1)) * 1024 : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
