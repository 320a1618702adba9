// Shared fixtures for the learn/ tests (not a test file itself: no .test.ts suffix).
import { Rng } from '../../../core/rng.js';

/** rows × width uniform [0,1) values from a seeded generator. */
export function randomRows(seed: number, rows: number, width: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(rows * width);
  for (let i = 0; i < out.length; i++) out[i] = rng.next();
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
