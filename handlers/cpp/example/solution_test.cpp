#include <gtest/gtest.h>

TEST(Fib, Zero) { EXPECT_EQ(fib(0), 0u); }
TEST(Fib, One) { EXPECT_EQ(fib(1), 1u); }
TEST(Fib, Ten) { EXPECT_EQ(fib(10), 55u); }
TEST(Fib, Fifty) { EXPECT_EQ(fib(50), 12586269025u); }

class FibTable : public testing::TestWithParam<std::pair<int, std::uint64_t>> {};

TEST_P(FibTable, Matches) { EXPECT_EQ(fib(GetParam().first), GetParam().second); }

INSTANTIATE_TEST_SUITE_P(Small, FibTable,
                         testing::Values(std::make_pair(2, 1u), std::make_pair(3, 2u), std::make_pair(20, 6765u)));
