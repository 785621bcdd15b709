package phronosd;

import java.lang.annotation.Annotation;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.InvocationInterceptor;
import org.junit.jupiter.api.extension.ReflectiveInvocationContext;
import org.junit.platform.commons.support.AnnotationSupport;
import org.junit.platform.commons.support.HierarchyTraversalMode;

/**
 * Jupiter extension active only in the measure phase (registered by service-loader autodetection,
 * which only the measuring request turns on). Jupiter has created the instance and run @BeforeEach;
 * this calls the test method itself (warm-ups, then the timed runs), timing only the method call, and re-runs
 * @AfterEach then @BeforeEach (untimed) between calls so each call starts from a fresh fixture.
 * Jupiter's own invocation is then skipped; its @AfterEach runs once at the end as usual.
 */
public final class MeasureInterceptor implements InvocationInterceptor {
    static volatile Measurement measurement;
    static volatile Map<String, String> names;

    @Override
    public void interceptTestMethod(
            Invocation<Void> invocation, ReflectiveInvocationContext<Method> call, ExtensionContext context)
            throws Throwable {
        repeat(invocation, call, context);
    }

    @Override
    public void interceptTestTemplateMethod(
            Invocation<Void> invocation, ReflectiveInvocationContext<Method> call, ExtensionContext context)
            throws Throwable {
        repeat(invocation, call, context);
    }

    private static void repeat(Invocation<Void> invocation, ReflectiveInvocationContext<Method> call,
            ExtensionContext context) throws ReflectiveOperationException {
        Measurement m = measurement;
        String name = names == null ? null : names.get(context.getUniqueId());
        if (m == null || name == null || !m.knows(name) || m.stopped()) {
            invocation.skip();
            return;
        }
        Method method = call.getExecutable();
        method.setAccessible(true);
        Object target = call.getTarget().orElse(null);
        Object[] args = call.getArguments().toArray();
        Lifecycle lifecycle = Lifecycle.of(context.getRequiredTestInstances().getAllInstances());
        if (lifecycle.unsupported() != null) {
            m.stop(name + " not measured: lifecycle method " + lifecycle.unsupported() + "() takes parameters");
            invocation.skip();
            return;
        }
        List<String> test = List.of(name);
        long deadline = m.shareDeadline(test);
        try {
            for (int i = 0; !m.complete(test) && (i == 0 || System.nanoTime() < deadline); i++) {
                if (i > 0) {
                    lifecycle.reset();
                }
                long start = System.nanoTime();
                method.invoke(target, args);
                m.record(name, System.nanoTime() - start);
            }
        } catch (InvocationTargetException e) {
            m.stop(name + " failed while measured: " + e.getCause());
        }
        invocation.skip();
    }

    /** The @AfterEach then @BeforeEach calls that reset a fixture (outer instances' too, for @Nested). */
    private record Lifecycle(List<Call> calls) {
        record Call(Object target, Method method) {}

        static Lifecycle of(List<Object> outerToInner) {
            List<Call> calls = new ArrayList<>();
            for (int i = outerToInner.size() - 1; i >= 0; i--) {
                calls.addAll(calls(outerToInner.get(i), AfterEach.class, HierarchyTraversalMode.BOTTOM_UP));
            }
            for (Object instance : outerToInner) {
                calls.addAll(calls(instance, BeforeEach.class, HierarchyTraversalMode.TOP_DOWN));
            }
            return new Lifecycle(calls);
        }

        private static List<Call> calls(Object instance, Class<? extends Annotation> kind, HierarchyTraversalMode order) {
            return AnnotationSupport.findAnnotatedMethods(instance.getClass(), kind, order).stream()
                    .map(m -> new Call(instance, m))
                    .toList();
        }

        /** A lifecycle method that wants injected parameters cannot be re-run from here. */
        String unsupported() {
            return calls.stream()
                    .filter(c -> c.method().getParameterCount() > 0)
                    .map(c -> c.method().getName())
                    .findFirst()
                    .orElse(null);
        }

        void reset() throws ReflectiveOperationException {
            for (Call c : calls) {
                c.method().setAccessible(true);
                c.method().invoke(c.target());
            }
        }
    }
}
