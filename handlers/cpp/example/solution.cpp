#include <cstdint>

std::uint64_t fib(int n) {
  std::uint64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    std::uint64_t next = a + b;
    a = b;
    b = next;
  }
  return a;
}
