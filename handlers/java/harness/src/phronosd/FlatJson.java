package phronosd;

import java.util.HashMap;
import java.util.Map;

/** Reads a JSON object whose values are all strings (the job the supervisor sends a pooled harness). */
final class FlatJson {
    private final String text;
    private int at;

    private FlatJson(String text) {
        this.text = text;
    }

    static Map<String, String> parseObject(String text) {
        FlatJson json = new FlatJson(text);
        Map<String, String> object = new HashMap<>();
        json.expect('{');
        if (json.peek() != '}') {
            do {
                String key = json.string();
                json.expect(':');
                object.put(key, json.string());
            } while (json.skip(','));
        }
        json.expect('}');
        return object;
    }

    /** Consumes `wanted` if it comes next. */
    private boolean skip(char wanted) {
        if (peek() != wanted) {
            return false;
        }
        at++;
        return true;
    }

    private char peek() {
        while (at < text.length() && Character.isWhitespace(text.charAt(at))) {
            at++;
        }
        if (at >= text.length()) {
            throw new IllegalArgumentException("the job ends early");
        }
        return text.charAt(at);
    }

    private void expect(char wanted) {
        if (!skip(wanted)) {
            throw new IllegalArgumentException("the job is not a JSON object of strings (at " + at + ")");
        }
    }

    private String string() {
        expect('"');
        StringBuilder out = new StringBuilder();
        for (char c = text.charAt(at++); c != '"'; c = text.charAt(at++)) {
            if (c != '\\') {
                out.append(c);
                continue;
            }
            char escaped = text.charAt(at++);
            switch (escaped) {
                case 'n' -> out.append('\n');
                case 't' -> out.append('\t');
                case 'r' -> out.append('\r');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'u' -> {
                    out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                    at += 4;
                }
                default -> out.append(escaped);
            }
        }
        return out.toString();
    }
}
