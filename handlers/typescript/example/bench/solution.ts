/** A fixed CPU loop: n steps of a linear congruential generator. */
export function spin(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i += 1) x = (Math.imul(x, 1103515245) + i) | 0;
  return x;
}
