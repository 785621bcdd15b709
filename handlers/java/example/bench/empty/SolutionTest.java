import org.junit.jupiter.api.Test;

class SolutionTest {
    @Test
    void empty() {}
}
