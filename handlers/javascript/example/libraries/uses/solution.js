const _ = require('lodash');
const { PriorityQueue } = require('js-sdsl');
const BigNumber = require('bignumber.js');
const { median } = require('d3-array');
const { List } = require('immutable');

/** The k smallest values, smallest first, taken from a min-heap. */
function smallest(values, k) {
  const heap = new PriorityQueue(values, (a, b) => a - b);
  const taken = [];
  while (taken.length < k && heap.size() > 0) {
    taken.push(heap.top());
    heap.pop();
  }
  return taken;
}

/** The exact sum of decimal amounts (0.1 + 0.2 is 0.3). */
function exactTotal(amounts) {
  return amounts.reduce((sum, amount) => sum.plus(amount), new BigNumber(0)).toString();
}

/** The median score of each group. */
function medianByGroup(rows) {
  return _.mapValues(_.groupBy(rows, 'group'), (group) => median(group, (row) => row.score));
}

/** A persistent list of the values and one more. */
function appended(values, value) {
  return List(values).push(value);
}

module.exports = { smallest, exactTotal, medianByGroup, appended };
