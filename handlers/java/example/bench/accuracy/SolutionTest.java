import org.junit.jupiter.api.Test;

class SolutionTest {
    static long sink;
    static int iterations = ITERATIONS; // a field: the JIT cannot fold the loop away

    @Test
    void single() {
        sink ^= Solution.spin(iterations);
    }

    @Test
    void batch() {
        for (int r = 0; r < BATCH; r++) {
            sink ^= Solution.spin(iterations);
        }
    }
}
