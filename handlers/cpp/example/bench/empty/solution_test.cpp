#include <gtest/gtest.h>

TEST(Bench, Empty) {}
