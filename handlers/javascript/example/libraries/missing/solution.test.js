const { smallest } = require('./solution');

test('the smallest value', () => {
  expect(smallest([3, 1, 2])).toBe(1);
});
