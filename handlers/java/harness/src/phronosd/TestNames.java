package phronosd;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.platform.engine.UniqueId;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

/**
 * Names tests as users read them: {@code Class.method}, {@code Outer.Nested.method},
 * {@code Class.method[1] 2, 1} for an invocation; unique within the suite.
 */
final class TestNames {
    /** A JUnit 4 description as the vintage engine keeps it: {@code method(pkg.Class)}. */
    private static final Pattern VINTAGE_TEST = Pattern.compile("^(.*)\\(([^()]*)\\)$");

    private final TestPlan plan;
    private final Map<String, String> byUniqueId = new HashMap<>();
    private final Set<String> used = new HashSet<>();

    TestNames(TestPlan plan) {
        this.plan = plan;
    }

    String of(TestIdentifier id) {
        String name = byUniqueId.get(id.getUniqueId());
        if (name == null) {
            name = unique(id, base(id));
            byUniqueId.put(id.getUniqueId(), name);
        }
        return name;
    }

    /** The name JUnit 4 code sees for the same test (used when JUnit 4 tests are measured). */
    static String ofJUnit4(String className, String methodName) {
        return simpleClass(className) + "." + methodName;
    }

    private String base(TestIdentifier id) {
        Optional<TestIdentifier> parent = plan.getParent(id);
        String vintage = vintageName(id);
        if (vintage != null) {
            return vintage;
        }
        if (id.getSource().orElse(null) instanceof MethodSource method && !sameMethod(method, parent)) {
            return simpleClass(method.getClassName()) + "." + method.getMethodName();
        }
        if (parent.isPresent() && parent.get().getSource().orElse(null) instanceof MethodSource) {
            return of(parent.get()) + invocation(id.getDisplayName());
        }
        return id.getDisplayName();
    }

    /** Jupiter's invocation names already start with their index: "[1] 2, 1". */
    private static String invocation(String displayName) {
        return displayName.startsWith("[") ? displayName : "[" + displayName + "]";
    }

    private static String vintageName(TestIdentifier id) {
        UniqueId uid = UniqueId.parse(id.getUniqueId());
        if (!uid.getEngineId().orElse("").equals("junit-vintage")) {
            return null;
        }
        UniqueId.Segment last = uid.getLastSegment();
        Matcher m = VINTAGE_TEST.matcher(last.getValue());
        return last.getType().equals("test") && m.matches() ? ofJUnit4(m.group(2), m.group(1)) : null;
    }

    private static boolean sameMethod(MethodSource method, Optional<TestIdentifier> parent) {
        return parent.flatMap(TestIdentifier::getSource).orElse(null) instanceof MethodSource p
                && p.getClassName().equals(method.getClassName())
                && p.getMethodName().equals(method.getMethodName());
    }

    /** Overloaded test methods share a name: the later ones get their parameter types appended. */
    private String unique(TestIdentifier id, String name) {
        String candidate = name;
        if (used.contains(candidate) && id.getSource().orElse(null) instanceof MethodSource method) {
            candidate = name + "(" + method.getMethodParameterTypes() + ")";
        }
        for (int n = 2; used.contains(candidate); n++) {
            candidate = name + "#" + n;
        }
        used.add(candidate);
        return candidate;
    }

    static String simpleClass(String binaryName) {
        return binaryName.substring(binaryName.lastIndexOf('.') + 1).replace('$', '.');
    }
}
