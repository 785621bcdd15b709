import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SolutionTest {
    @Test
    void fibOfZero() {
        assertEquals(0, Solution.fib(0));
    }

    @Test
    void fibOfOne() {
        assertEquals(1, Solution.fib(1));
    }

    @Test
    void fibOfTen() {
        assertEquals(55, Solution.fib(10));
    }

    @Test
    void fibOfFifty() {
        assertEquals(12586269025L, Solution.fib(50));
    }

    @ParameterizedTest
    @CsvSource({"2, 1", "3, 2", "20, 6765"})
    void fibTable(int n, long expected) {
        assertEquals(expected, Solution.fib(n));
    }
}
