package phronosd;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Writes report events, one JSON object per line, to the supervisor's private pipe. */
final class Reporter {
    private final OutputStream out;

    Reporter(int fd) throws IOException {
        out = new FileOutputStream("/proc/self/fd/" + fd);
    }

    /** Fields come in name/value pairs; values are strings, numbers, booleans, lists or null. */
    synchronized void emit(String event, Object... fields) {
        StringBuilder line = new StringBuilder("{\"event\":");
        Json.append(line, event);
        for (int i = 0; i < fields.length; i += 2) {
            line.append(',');
            Json.append(line, (String) fields[i]);
            line.append(':');
            Json.append(line, fields[i + 1]);
        }
        line.append("}\n");
        try {
            out.write(line.toString().getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            throw new IllegalStateException("report channel closed", e);
        }
    }

    /** Minimal JSON encoding of the values events carry. */
    static final class Json {
        static void append(StringBuilder out, Object value) {
            if (value == null) {
                out.append("null");
            } else if (value instanceof Number || value instanceof Boolean) {
                out.append(value);
            } else if (value instanceof long[] numbers) {
                out.append('[');
                for (int i = 0; i < numbers.length; i++) {
                    out.append(i == 0 ? "" : ",").append(numbers[i]);
                }
                out.append(']');
            } else if (value instanceof List<?> list) {
                out.append('[');
                for (int i = 0; i < list.size(); i++) {
                    out.append(i == 0 ? "" : ",");
                    append(out, list.get(i));
                }
                out.append(']');
            } else {
                string(out, value.toString());
            }
        }

        private static void string(StringBuilder out, String text) {
            out.append('"');
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    default -> {
                        if (c < 0x20 || Character.isSurrogate(c)) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                    }
                }
            }
            out.append('"');
        }
    }
}
