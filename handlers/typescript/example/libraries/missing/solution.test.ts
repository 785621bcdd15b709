import { smallest } from './solution';

test('the smallest value', () => {
  expect(smallest([3, 1, 2])).toBe(1);
});
