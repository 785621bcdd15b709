import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.common.collect.ImmutableMultiset;
import org.apache.commons.collections4.CollectionUtils;
import org.junit.jupiter.api.Test;

class SolutionTest {
    @Test
    void countsWordsCaseBlind() {
        assertEquals(ImmutableMultiset.of("a", "a", "b"), Solution.wordCounts("A b a"));
    }

    @Test
    void medianOfAnOddCount() {
        assertEquals(3.0, Solution.median(5, 1, 3), 1e-9);
    }

    @Test
    void mostUsedWordIsCapitalised() {
        assertEquals("Be", Solution.mostUsedWord("to be or not to be be"));
    }

    @Test
    void distinctWordsAsCommonsCollectionsSeesThem() {
        assertEquals(3, CollectionUtils.emptyIfNull(Solution.wordCounts("x y z x").elementSet()).size());
    }
}
