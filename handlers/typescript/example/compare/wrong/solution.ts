/** Wrong from fib(2) on. */
export function fib(n: number): number {
  return n;
}
