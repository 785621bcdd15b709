package phronosd;

import java.util.Set;

/** Failure text a user needs: the exception, its causes, and the frames of their own code. */
final class Failures {
    private static final int MAX_FRAMES = 8;
    private static final int MAX_CAUSES = 4;
    private static final int BRIEF_LIMIT = 1000;
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

    /** The exception (its text cut at BRIEF_LIMIT characters) and the first frame of the user's code. */
    static String brief(Throwable failure) {
        String text = failure.toString();
        if (text.length() > BRIEF_LIMIT) {
            text = text.substring(0, BRIEF_LIMIT) + " ...";
        }
        for (StackTraceElement frame : failure.getStackTrace()) {
            if (isUserFrame(frame)) {
                return text + " (at " + frame + ")";
            }
        }
        return text;
    }

    /** The first frame, in the failure or its causes, of a class nested in one of these top-level
     *  classes (binary names), or null. */
    static StackTraceElement firstFrameOf(Throwable failure, Set<String> topLevelClasses) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            for (StackTraceElement frame : t.getStackTrace()) {
                String name = frame.getClassName();
                int nested = name.indexOf('$');
                if (topLevelClasses.contains(nested < 0 ? name : name.substring(0, nested))) {
                    return frame;
                }
            }
        }
        return null;
    }

    private static boolean isUserFrame(StackTraceElement frame) {
        String name = frame.getClassName();
        return FRAMEWORK_PREFIXES.stream().noneMatch(name::startsWith);
    }
}
