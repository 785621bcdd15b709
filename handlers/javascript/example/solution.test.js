const { fib } = require('./solution');

describe('fib', () => {
  test('fib(0) is 0', () => expect(fib(0)).toBe(0));
  test('fib(1) is 1', () => expect(fib(1)).toBe(1));
  test('fib(2) is 1', () => expect(fib(2)).toBe(1));
  test('fib(10) is 55', () => expect(fib(10)).toBe(55));
  test('fib(20) is 6765', () => expect(fib(20)).toBe(6765));
  test('fib(30) is 832040', () => expect(fib(30)).toBe(832040));
  test('fib(50) is 12586269025', () => expect(fib(50)).toBe(12586269025));
});
