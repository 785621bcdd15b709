import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class SolutionTest {
    @Test
    void countsTheElements() throws Exception {
        assertEquals(3, Solution.size("[1, 2, 3]"));
    }
}
