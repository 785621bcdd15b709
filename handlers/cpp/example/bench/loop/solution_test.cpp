#include <gtest/gtest.h>

#include <cstdint>

volatile std::uint64_t iterations = ITERATIONS;  // volatile: the compiler cannot fold the loop away
volatile std::uint64_t sink;

TEST(Bench, Spin) {
  for (int r = 0; r < REPEAT; ++r) sink = sink ^ spin(iterations);
}
