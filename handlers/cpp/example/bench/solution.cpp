#include <cstdint>

// A fixed CPU loop: n steps of a linear congruential generator.
std::uint64_t spin(std::uint64_t n) {
  std::uint64_t x = 0;
  for (std::uint64_t i = 0; i < n; ++i) x = x * 6364136223846793005ULL + i;
  return x;
}
