package phronosd;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Writes report events to the supervisor's private channel: each line is {@code <token> <json>},
 * where the token is the per-run secret the supervisor accepts lines by. Lines the code under test
 * writes to the same channel (it can find the descriptor) lack it and are dropped.
 *
 * <p>Each line is written with one write(2) and starts with a newline, so bytes the code under test
 * left in the channel without a newline end up on a line of their own instead of spoiling this one.
 * A line of at most {@link #ATOMIC_LINE} bytes is written atomically (Linux's PIPE_BUF), so a thread
 * of the code under test writing at the same moment cannot split it either: a {@code message} is
 * trimmed to keep its line within that size.
 */
final class Reporter {
    static final int ATOMIC_LINE = 4096;
    private static final String TRIMMED = " ... (trimmed)";

    private final OutputStream out;
    private final byte[] prefix;

    private Reporter(OutputStream out, String token) {
        this.out = out;
        this.prefix = ("\n" + token + " ").getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * The reporter of this job. The run script made the report channel descriptor 0: Java writes to
     * a descriptor it did not open only through 0, 1 and 2 (a socket cannot be reopened through
     * /proc/self/fd). `System.in` no longer reads it.
     */
    static Reporter open(Job job) {
        System.setIn(InputStream.nullInputStream());
        return new Reporter(new FileOutputStream(FileDescriptor.in), job.token());
    }

    /** Fields come in name/value pairs; values are strings, numbers, booleans, lists or null. */
    synchronized void emit(String event, Object... fields) {
        byte[] json = encode(event, fields);
        if (prefix.length + json.length + 1 > ATOMIC_LINE) {
            json = encode(event, trimMessage(fields, prefix.length + json.length + 1 - ATOMIC_LINE));
        }
        byte[] line = Arrays.copyOf(prefix, prefix.length + json.length + 1);
        System.arraycopy(json, 0, line, prefix.length, json.length);
        line[line.length - 1] = '\n';
        try {
            out.write(line);
            out.flush();
        } catch (IOException e) {
            throw new IllegalStateException("report channel closed", e);
        }
    }

    private static byte[] encode(String event, Object... fields) {
        StringBuilder json = new StringBuilder("{\"event\":");
        Json.append(json, event);
        for (int i = 0; i < fields.length; i += 2) {
            json.append(',');
            Json.append(json, (String) fields[i]);
            json.append(':');
            Json.append(json, fields[i + 1]);
        }
        return json.append('}').toString().getBytes(StandardCharsets.UTF_8);
    }

    /** The fields with their `message` shortened by at least `excess` bytes of JSON (each character
     *  dropped takes one byte or more with it; a surrogate pair is never split). */
    private static Object[] trimMessage(Object[] fields, int excess) {
        Object[] trimmed = fields.clone();
        for (int i = 0; i < trimmed.length; i += 2) {
            if (trimmed[i].equals("message") && trimmed[i + 1] instanceof String text) {
                int keep = Math.max(0, text.length() - excess - TRIMMED.length());
                if (keep > 0 && Character.isHighSurrogate(text.charAt(keep - 1))) {
                    keep--;
                }
                trimmed[i + 1] = text.substring(0, keep) + TRIMMED;
            }
        }
        return trimmed;
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
