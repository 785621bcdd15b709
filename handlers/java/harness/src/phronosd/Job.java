package phronosd;

import java.io.BufferedInputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What the run script hands this JVM through a pipe (the descriptor is the JVM's argument) instead
 * of the environment (which the code under test can read): the report channel's token on the first
 * line, then the job's PHRONOSD_* variables (handlers/README.md), one {@code NAME=value} a line.
 * Read to its end before any submitted class is compiled or loaded; the pipe then stays open, empty
 * (Java closes no descriptor above 2), its writer gone.
 *
 * <p>In a pooled container the job's own variables come later, as a JSON object on
 * {@code PHRONOSD_JOB_FD} ({@link #assigned}).
 */
record Job(String token, Map<String, String> variables) {
    private static final String JOB_FD = "PHRONOSD_JOB_FD";

    static Job handedOver(int fd) throws IOException {
        List<String> lines = readAll(fd).lines().toList();
        if (lines.isEmpty() || !lines.get(0).matches("[0-9A-Za-z_-]+")) {
            throw new IllegalStateException("no report token on descriptor " + fd);
        }
        Map<String, String> variables = new HashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            int equals = line.indexOf('=');
            if (equals > 0) {
                variables.put(line.substring(0, equals), line.substring(equals + 1));
            }
        }
        return new Job(lines.get(0), Map.copyOf(variables));
    }

    /** A pooled harness: started before its job exists. */
    boolean pooled() {
        return variables.containsKey(JOB_FD);
    }

    /** This job with the variables the supervisor writes to PHRONOSD_JOB_FD when the job arrives
     *  (blocks until then). */
    Job assigned() throws IOException {
        Map<String, String> merged = new HashMap<>(variables);
        merged.putAll(FlatJson.parseObject(readAll(Integer.parseInt(get(JOB_FD)))));
        return new Job(token, Map.copyOf(merged));
    }

    /** A pipe this process inherited, read to its end through /proc/self/fd. */
    private static String readAll(int fd) throws IOException {
        // buffered: FileInputStream's own readAllBytes asks a pipe for its position, and fails
        try (InputStream in = new BufferedInputStream(new FileInputStream("/proc/self/fd/" + fd))) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** A variable the harness cannot run without. */
    String get(String name) {
        String value = variables.get(name);
        if (value == null) {
            throw new IllegalStateException(name + " missing from the job");
        }
        return value;
    }
}
