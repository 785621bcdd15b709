import static org.assertj.core.api.Assertions.assertThat;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The suite run at image build to record the classes a typical run loads (class-data sharing). */
public class TrainingTest {
    private long base;

    @BeforeEach
    void setUp() {
        base = 2;
    }

    @Test
    void plain() {
        assertEquals(4, Training.square((int) base));
    }

    @ParameterizedTest
    @CsvSource({"3, 9", "4, 16"})
    void table(int n, long expected) {
        assertThat(Training.square(n)).isEqualTo(expected);
    }

    @ParameterizedTest
    @ValueSource(ints = {5})
    void values(int n) {
        assertThat(Training.square(n), is(25L));
    }

    @RepeatedTest(2)
    void repeated() {
        assertEquals(1, Training.square(1));
    }

    @TestFactory
    Stream<DynamicTest> dynamic() {
        return Stream.of(DynamicTest.dynamicTest("seven", () -> assertEquals(49, Training.square(7))));
    }

    @Nested
    class Inner {
        @Test
        void nested() {
            assertEquals(0, Training.square(0));
        }
    }
}

class TrainingJUnit4Test {
    @org.junit.Test
    public void legacy() {
        org.junit.Assert.assertEquals(36, Training.square(6));
    }
}
