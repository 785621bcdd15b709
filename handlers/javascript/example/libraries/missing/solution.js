const { MinPriorityQueue } = require('@datastructures-js/priority-queue');

function smallest(values) {
  const queue = new MinPriorityQueue();
  values.forEach((value) => queue.enqueue(value));
  return queue.dequeue();
}

module.exports = { smallest };
