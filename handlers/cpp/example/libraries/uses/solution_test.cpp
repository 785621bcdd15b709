#include <gtest/gtest.h>

TEST(WordCounts, CountsEachWord) {
  auto counts = word_counts({"b", "a", "b"});
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts["b"], 2);
}
TEST(Describe, SortedPairs) { EXPECT_EQ(describe(word_counts({"b", "a", "a"})), "a=2, b=1"); }
TEST(FibByMatrix, Ten) { EXPECT_EQ(fib_by_matrix(10), 55); }
