import _ from 'lodash';
import { PriorityQueue } from 'js-sdsl';
import BigNumber from 'bignumber.js';
import { median } from 'd3-array';
import { List } from 'immutable';

export interface Row {
  group: string;
  score: number;
}

/** The k smallest values, smallest first, taken from a min-heap. */
export function smallest(values: number[], k: number): number[] {
  const heap = new PriorityQueue<number>(values, (a, b) => a - b);
  const taken: number[] = [];
  while (taken.length < k && heap.size() > 0) {
    taken.push(heap.top() as number);
    heap.pop();
  }
  return taken;
}

/** The exact sum of decimal amounts (0.1 + 0.2 is 0.3). */
export function exactTotal(amounts: string[]): string {
  return amounts.reduce((sum, amount) => sum.plus(amount), new BigNumber(0)).toString();
}

/** The median score of each group. */
export function medianByGroup(rows: Row[]): Record<string, number | undefined> {
  return _.mapValues(_.groupBy(rows, 'group'), (group: Row[]) => median(group, (row: Row) => row.score));
}

/** A persistent list of the values and one more. */
export function appended<T>(values: T[], value: T): List<T> {
  return List(values).push(value);
}
