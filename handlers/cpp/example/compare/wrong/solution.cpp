#include <cstdint>

// A compare case that fails the example suite: fib(n) is not n.
std::uint64_t fib(int n) { return static_cast<std::uint64_t>(n); }
