// Seeded randomness. Every draw that affects state is keyed (e.g. by content id and tick), so a
// replay after a crash draws the same numbers no matter how records were batched.
import { fnv1a32 } from './hash.js';

/** mulberry32: small, fast, good enough for simulation and keyed decisions. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** A child generator whose stream depends only on this seed and the label. */
  fork(label: string): Rng {
    return new Rng(fnv1a32(label, this.s ^ 0x9e3779b9));
  }
}

/**
 * A single uniform draw in [0, 1) that depends only on (seed, parts): the same inputs give the same
 * number in any process, in any order of evaluation.
 */
export function keyedUniform(seed: number, ...parts: (string | number)[]): number {
  let h = seed >>> 0;
  for (const p of parts) h = fnv1a32(String(p), h ^ 0x9e3779b9);
  return new Rng(h).next();
}
