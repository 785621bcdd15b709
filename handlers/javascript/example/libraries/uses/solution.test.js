const _ = require('lodash');
const { List } = require('immutable');
const { smallest, exactTotal, medianByGroup, appended } = require('./solution');

describe('libraries', () => {
  test('a heap gives the smallest values first', () => {
    expect(smallest([5, 1, 4, 2, 3], 3)).toEqual([1, 2, 3]);
  });
  test('decimals add up exactly', () => {
    expect(exactTotal(['0.1', '0.2'])).toBe('0.3');
  });
  test('medians per group', () => {
    const rows = [
      { group: 'a', score: 3 }, { group: 'b', score: 10 }, { group: 'a', score: 1 }, { group: 'a', score: 2 },
    ];
    expect(medianByGroup(rows)).toEqual({ a: 2, b: 10 });
  });
  test('persistent lists stay unchanged', () => {
    const list = appended([1, 2], 3);
    expect(List.isList(list)).toBe(true);
    expect(list.pop().toArray()).toEqual([1, 2]);
    expect(list.toArray()).toEqual([1, 2, 3]);
  });
  test('the tests load the libraries too', () => {
    expect(_.sum(smallest(_.range(10), 4))).toBe(6);
  });
});
