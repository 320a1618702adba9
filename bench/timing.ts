// What the allocation bench and its webgpu entry share: seeded input rows and a timing loop.
import { performance } from 'node:perf_hooks';
import { Rng } from '../core/rng.js';

/** `n` rows of `width` seeded uniform values, row-major. */
export function rows(seed: number, n: number, width: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n * width);
  for (let i = 0; i < out.length; i++) out[i] = rng.next();
  return out;
}

/** Runs fn until `minMs` elapsed (at least `minReps`), returns mean ms per call. */
export function timeIt(fn: () => unknown, minMs: number, minReps = 3): number {
  fn(); // warm-up (kernel compilation, first allocation)
  let reps = 0;
  const t0 = performance.now();
  while (reps < minReps || performance.now() - t0 < minMs) {
    fn();
    reps++;
  }
  return (performance.now() - t0) / reps;
}
