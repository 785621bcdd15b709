import { MinPriorityQueue } from '@datastructures-js/priority-queue';

export function smallest(values: number[]): number {
  const queue = new MinPriorityQueue<number>();
  values.forEach((value) => queue.enqueue(value));
  return queue.dequeue();
}
