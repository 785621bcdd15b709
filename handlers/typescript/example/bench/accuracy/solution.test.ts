import { spin } from './solution';

let sink: number = 0;
test('single', () => {
  sink ^= spin(ITERATIONS);
});
test('batch', () => {
  for (let r = 0; r < BATCH; r += 1) sink ^= spin(ITERATIONS);
});
