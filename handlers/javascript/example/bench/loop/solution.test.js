const { spin } = require('./solution');

let sink = 0;
test('spin', () => {
  for (let r = 0; r < REPEAT; r += 1) sink ^= spin(ITERATIONS);
});
