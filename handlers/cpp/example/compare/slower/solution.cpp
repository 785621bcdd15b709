#include <cstdint>

// The example's fib with a walk of 50000 steps in front of it on every call (the empty asm keeps the
// compiler from dropping it): a compare case, the suite runs many times slower than the example's
// (5000 steps: 3.4x), so the ranking shows through any noise.
std::uint64_t fib(int n) {
  for (int step = 0; step < 50000; ++step) asm volatile("" : "+r"(step));
  std::uint64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    std::uint64_t next = a + b;
    a = b;
    b = next;
  }
  return a;
}
