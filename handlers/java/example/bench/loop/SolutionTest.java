import org.junit.jupiter.api.Test;

class SolutionTest {
    static long sink;
    static int iterations = ITERATIONS; // a field: the JIT cannot fold the loop away

    @Test
    void spin() {
        for (int r = 0; r < REPEAT; r++) {
            sink ^= Solution.spin(iterations);
        }
    }
}
