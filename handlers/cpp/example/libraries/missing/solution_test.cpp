#include <gtest/gtest.h>

TEST(Joined, Commas) { EXPECT_EQ(joined({"a", "b"}), "a,b"); }
