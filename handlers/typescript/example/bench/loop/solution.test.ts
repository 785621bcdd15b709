import { spin } from './solution';

let sink: number = 0;
test('spin', () => {
  for (let r = 0; r < REPEAT; r += 1) sink ^= spin(ITERATIONS);
});
