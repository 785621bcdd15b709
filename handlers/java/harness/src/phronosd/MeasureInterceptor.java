package phronosd;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.extension.DynamicTestInvocationContext;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.InvocationInterceptor;
import org.junit.jupiter.api.extension.ReflectiveInvocationContext;
import org.junit.jupiter.api.function.Executable;

/**
 * Jupiter extension active only in the measure phase (registered by service-loader autodetection,
 * which only the measuring request turns on). Jupiter has created the test instance and run
 * @BeforeEach; this calls the test method itself (warm-ups, then the timed runs), timing only the
 * method call, and between calls gives the next one the fixture a run of Jupiter would give it
 * ({@link TestFixture}: a fresh instance under the default lifecycle). Jupiter's own invocation is
 * then skipped, and its @AfterEach goes to the instance in use at the end. A dynamic test's
 * executable is called the same way (Jupiter runs no lifecycle methods around dynamic tests).
 */
public final class MeasureInterceptor implements InvocationInterceptor {
    static volatile Measurement measurement;
    static volatile Map<String, String> names;

    private static final ExtensionContext.Namespace NAMESPACE =
            ExtensionContext.Namespace.create(MeasureInterceptor.class);
    /** How Jupiter built each test instance of the measuring run, to build fresh ones the same way. */
    private static final Map<Object, TestFixture.Construction> CONSTRUCTIONS =
            Collections.synchronizedMap(new IdentityHashMap<>());

    /** Executable.execute, through which a dynamic test is called like a test method. */
    private static final Method EXECUTE;

    static {
        try {
            EXECUTE = Executable.class.getMethod("execute");
        } catch (NoSuchMethodException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The instance to call a test on in its `execution`-th execution (0: the first). */
    private interface Targets {
        Object next(int execution) throws ReflectiveOperationException;
    }

    @Override
    public <T> T interceptTestClassConstructor(
            Invocation<T> invocation, ReflectiveInvocationContext<Constructor<T>> call, ExtensionContext context)
            throws Throwable {
        T instance = invocation.proceed();
        CONSTRUCTIONS.put(instance, new TestFixture.Construction(call.getExecutable(), call.getArguments()));
        return instance;
    }

    @Override
    public void interceptTestMethod(
            Invocation<Void> invocation, ReflectiveInvocationContext<Method> call, ExtensionContext context) {
        measureMethod(invocation, call, context);
    }

    @Override
    public void interceptTestTemplateMethod(
            Invocation<Void> invocation, ReflectiveInvocationContext<Method> call, ExtensionContext context) {
        measureMethod(invocation, call, context);
    }

    @Override
    public <T> T interceptTestFactoryMethod(
            Invocation<T> invocation, ReflectiveInvocationContext<Method> call, ExtensionContext context)
            throws Throwable {
        forget(context);
        return invocation.proceed();
    }

    @Override
    public void interceptDynamicTest(
            Invocation<Void> invocation, DynamicTestInvocationContext call, ExtensionContext context) {
        String name = measured(context);
        if (name != null) {
            Executable body = call.getExecutable();
            repeat(measurement, name, EXECUTE, new Object[0], execution -> body);
        }
        invocation.skip();
    }

    /** Jupiter's @AfterEach at the end of a measured test runs on the instance last used. */
    @Override
    public void interceptAfterEachMethod(
            Invocation<Void> invocation, ReflectiveInvocationContext<Method> call, ExtensionContext context)
            throws Throwable {
        TestFixture fixture = context.getStore(NAMESPACE).get(TestFixture.class, TestFixture.class);
        Object target = call.getTarget().orElse(null);
        if (fixture == null || fixture.inUseFor(target) == target) {
            invocation.proceed();
            return;
        }
        call.getExecutable().setAccessible(true);
        call.getExecutable().invoke(fixture.inUseFor(target), call.getArguments().toArray());
        invocation.skip();
    }

    private static void measureMethod(
            Invocation<Void> invocation, ReflectiveInvocationContext<Method> call, ExtensionContext context) {
        String name = measured(context);
        Targets targets = name == null ? null : targets(name, call, context);
        if (targets == null) {
            forget(context);
        } else {
            Method method = call.getExecutable();
            method.setAccessible(true);
            repeat(measurement, name, method, call.getArguments().toArray(), targets);
        }
        invocation.skip();
    }

    /** Where a test's executions run: Jupiter's own instance when the test is executed once per call
     *  (a compare job's runs), else the instances of its fixture, renewed from the second execution. */
    private static Targets targets(String name, ReflectiveInvocationContext<Method> call, ExtensionContext context) {
        if (measurement.stepped()) {
            forget(context);
            Object target = call.getTarget().orElseThrow();
            return execution -> target;
        }
        TestFixture fixture = fixture(name, context);
        if (fixture == null) {
            return null;
        }
        context.getStore(NAMESPACE).put(TestFixture.class, fixture);
        return execution -> execution == 0 ? fixture.target() : fixture.renew();
    }

    /** The test's name when it is to be measured now, else null. */
    private static String measured(ExtensionContext context) {
        Measurement m = measurement;
        String name = names == null ? null : names.get(context.getUniqueId());
        return m == null || name == null || !m.knows(name) || m.stopped() ? null : name;
    }

    /** Drops how this test's instances were built: nothing will build them again. */
    private static void forget(ExtensionContext context) {
        context.getTestInstances().ifPresent(instances -> instances.getAllInstances().forEach(CONSTRUCTIONS::remove));
    }

    private static TestFixture fixture(String name, ExtensionContext context) {
        try {
            return TestFixture.of(context, CONSTRUCTIONS);
        } catch (TestFixture.NotRepeatable e) {
            measurement.stop(name + " cannot be measured: " + e.getMessage());
            return null;
        }
    }

    /**
     * Calls a test until it has its timed runs or its share of the budget is spent, timing only the
     * call. The clock readings and the call stay in this one method: a frame of ours between them
     * would be timed too, and until the JIT compiles it that costs hundreds of nanoseconds.
     */
    private static void repeat(Measurement m, String name, Method method, Object[] arguments, Targets targets) {
        List<String> test = List.of(name);
        long deadline = m.shareDeadline(test);
        int done = 0;
        try {
            for (; !m.complete(test) && (done == 0 || System.nanoTime() < deadline); done++) {
                Object target = targets.next(done);
                long start = System.nanoTime();
                method.invoke(target, arguments);
                m.record(name, System.nanoTime() - start);
            }
        } catch (ReflectiveOperationException | RuntimeException | Error e) {
            m.stop(m.failedNote(name, e instanceof InvocationTargetException t ? t.getCause() : e));
        }
    }
}
