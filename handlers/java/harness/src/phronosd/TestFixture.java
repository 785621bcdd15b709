package phronosd;

import java.lang.annotation.Annotation;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;
import org.junit.platform.commons.support.HierarchyTraversalMode;

/**
 * The test instances of one Jupiter test while it is measured, renewed between its executions the
 * way Jupiter sets up each test: @AfterEach on the instances in use, then, under the default
 * lifecycle (PER_METHOD), a fresh instance from the constructor and arguments Jupiter used (so the
 * constructor and field initialisers run again, untimed), then @BeforeEach. Under
 * {@code @TestInstance(PER_CLASS)} the instance is kept. The instances of enclosing classes
 * (@Nested) follow their own lifecycles: Jupiter renews an enclosing instance for each test only
 * when it and every class inside it down to the test's are PER_METHOD.
 *
 * <p>Not repeated: extension callbacks (BeforeEachCallback, AfterEachCallback, instance
 * post-processors); lifecycle methods that take parameters cannot be called from here at all.
 */
final class TestFixture {
    /** How Jupiter built a test instance: the constructor and the arguments it resolved. */
    record Construction(Constructor<?> constructor, List<Object> arguments) {}

    /** A lifecycle method and the level of the instance it runs on (0: the outermost). */
    private record Call(int level, Method method) {}

    /** Why a test's executions cannot each get their own fixture. */
    static final class NotRepeatable extends Exception {
        NotRepeatable(String reason) {
            super(reason, null, false, false);
        }
    }

    private final List<Object> originals;
    private final List<Object> current;
    private final int firstRenewed;
    private final Map<Integer, Construction> constructions;
    private final List<Call> afterEach = new ArrayList<>();
    private final List<Call> beforeEach = new ArrayList<>();

    private TestFixture(List<Object> instances, int firstRenewed, Map<Integer, Construction> constructions) {
        this.originals = List.copyOf(instances);
        this.current = new ArrayList<>(instances);
        this.firstRenewed = firstRenewed;
        this.constructions = constructions;
    }

    /**
     * The fixture of the test of `context`, whose instances Jupiter has built and set up.
     * `built` maps each instance to its construction; the entries of this test's instances are
     * taken out of it (they are not needed again).
     */
    static TestFixture of(ExtensionContext context, Map<Object, Construction> built) throws NotRepeatable {
        List<Object> instances = context.getRequiredTestInstances().getAllInstances();
        Map<Integer, Construction> constructions = new HashMap<>();
        for (int level = 0; level < instances.size(); level++) {
            constructions.put(level, built.remove(instances.get(level)));
        }
        int firstRenewed = firstRenewed(instances, lifecycles(context));
        for (int level = firstRenewed; level < instances.size(); level++) {
            if (constructions.get(level) == null) {
                throw new NotRepeatable("its test instance was not made by its constructor (a TestInstanceFactory?), "
                        + "so no fresh instance can be made for each run");
            }
            constructions.get(level).constructor().setAccessible(true); // once: each call would walk the stack
        }
        TestFixture fixture = new TestFixture(instances, firstRenewed, constructions);
        fixture.findLifecycleMethods();
        return fixture;
    }

    /** The lifecycle of each test class around the test, from the class contexts above it. */
    private static Map<Class<?>, TestInstance.Lifecycle> lifecycles(ExtensionContext context) {
        Map<Class<?>, TestInstance.Lifecycle> lifecycles = new HashMap<>();
        for (ExtensionContext c = context; c != null; c = c.getParent().orElse(null)) {
            if (c.getElement().orElse(null) instanceof Class<?> type) {
                lifecycles.put(type, c.getTestInstanceLifecycle().orElse(TestInstance.Lifecycle.PER_METHOD));
            }
        }
        return lifecycles;
    }

    /** The outermost level renewed per test: the innermost levels that are all PER_METHOD. */
    private static int firstRenewed(List<Object> instances, Map<Class<?>, TestInstance.Lifecycle> lifecycles) {
        int level = instances.size();
        while (level > 0 && lifecycles.get(instances.get(level - 1).getClass()) != TestInstance.Lifecycle.PER_CLASS) {
            level--;
        }
        return level;
    }

    private void findLifecycleMethods() throws NotRepeatable {
        for (int level = current.size() - 1; level >= 0; level--) {
            afterEach.addAll(calls(level, AfterEach.class, HierarchyTraversalMode.BOTTOM_UP));
        }
        for (int level = 0; level < current.size(); level++) {
            beforeEach.addAll(calls(level, BeforeEach.class, HierarchyTraversalMode.TOP_DOWN));
        }
    }

    private List<Call> calls(int level, Class<? extends Annotation> kind, HierarchyTraversalMode order)
            throws NotRepeatable {
        List<Call> calls = new ArrayList<>();
        for (Method method : AnnotationSupport.findAnnotatedMethods(current.get(level).getClass(), kind, order)) {
            if (method.getParameterCount() > 0) {
                throw new NotRepeatable("its lifecycle method " + method.getName() + "() takes parameters");
            }
            method.setAccessible(true);
            calls.add(new Call(level, method));
        }
        return calls;
    }

    /** The instance the test method runs on now. */
    Object target() {
        return current.get(current.size() - 1);
    }

    /** The instance now in use in place of one Jupiter made (itself when it is kept). */
    Object inUseFor(Object original) {
        for (int level = 0; level < originals.size(); level++) {
            if (originals.get(level) == original) {
                return current.get(level);
            }
        }
        return original;
    }

    /** Tears the fixture down and sets up the next one; returns the instance to run the test on. */
    Object renew() throws ReflectiveOperationException {
        invokeAll(afterEach);
        for (int level = firstRenewed; level < current.size(); level++) {
            current.set(level, construct(constructions.get(level)));
        }
        invokeAll(beforeEach);
        return target();
    }

    /** A new instance from the same constructor and arguments, an enclosing instance replaced by
     *  the one now in use. */
    private Object construct(Construction construction) throws ReflectiveOperationException {
        Object[] arguments = construction.arguments().toArray();
        for (int i = 0; i < arguments.length; i++) {
            arguments[i] = inUseFor(arguments[i]);
        }
        return construction.constructor().newInstance(arguments);
    }

    private void invokeAll(List<Call> calls) throws ReflectiveOperationException {
        for (Call call : calls) {
            call.method().invoke(current.get(call.level()));
        }
    }
}
