#include <gtest/gtest.h>

#include <cstdint>

volatile std::uint64_t iterations = ITERATIONS;  // volatile: the compiler cannot fold the loop away
volatile std::uint64_t sink;

TEST(Bench, Single) { sink = sink ^ spin(iterations); }

TEST(Bench, Batch) {
  for (int r = 0; r < BATCH; ++r) sink = sink ^ spin(iterations);
}
