let sink: number = 0;

/** The example's fib, after a loop that costs at least what one test of the example suite does
 *  (Jest's `expect` included, about 0.1 ms) ten times over: many times the time per test. Its result is kept,
 *  so V8 cannot drop it. */
export function fib(n: number): number {
  let x = 0;
  for (let i = 0; i < 1500000; i += 1) x = (Math.imul(x, 1103515245) + i) | 0;
  sink ^= x;
  let [a, b] = [0, 1];
  for (let i = 0; i < n; i += 1) [a, b] = [b, a + b];
  return a;
}
