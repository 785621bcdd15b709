package phronosd;

import java.util.Set;

/** Failure text a user needs: the exception, its causes, and the frames of their own code. */
final class Failures {
    private static final int MAX_FRAMES = 8;
    private static final int MAX_CAUSES = 4;
    private static final Set<String> FRAMEWORK_PREFIXES = Set.of(
            "org.junit.", "junit.", "org.opentest4j.", "org.assertj.", "org.hamcrest.", "java.", "jdk.", "sun.",
            "phronosd.");

    static String describe(Throwable failure) {
        StringBuilder text = new StringBuilder();
        Throwable current = failure;
        for (int depth = 0; current != null && depth < MAX_CAUSES; depth++) {
            text.append(depth == 0 ? "" : "Caused by: ").append(current).append('\n');
            int shown = 0;
            for (StackTraceElement frame : current.getStackTrace()) {
                if (shown < MAX_FRAMES && isUserFrame(frame)) {
                    text.append("\tat ").append(frame).append('\n');
                    shown++;
                }
            }
            current = current.getCause() == current ? null : current.getCause();
        }
        return text.toString().strip();
    }

    private static boolean isUserFrame(StackTraceElement frame) {
        String name = frame.getClassName();
        return FRAMEWORK_PREFIXES.stream().noneMatch(name::startsWith);
    }
}
