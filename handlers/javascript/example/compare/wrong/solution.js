/** Wrong from fib(2) on. */
function fib(n) {
  return n;
}

module.exports = { fib };
