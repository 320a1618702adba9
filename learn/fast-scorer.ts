// Pure-JS scoring of the allocation MLP (F → 128 → 64 → 1, ReLU, sigmoid) for the
// `cpu` backend: tfjs-cpu's generic kernels score ≈ 27-30k rows per CPU-second here, this
// Float32Array forward pass ≈ 107-124k (bench/alloc-bench.ts). Same scores as the tfjs graph
// within float32 rounding (unit-tested ≤ 1e-5). Weights are repacked once per model version; the
// second layer is computed as dot products over the first layer's non-zero (post-ReLU) units
// only, four outputs per pass.
//
// On wasm / gpu the tfjs graph stays: fused matMul + bias + ReLU and sub-batching measured no
// gain on the wasm backend (XNNPACK already runs at its GEMM rate; see docs/results/performance.md).
// Only the actor is evaluated (the critic is never on the hot path).
import * as tf from '@tensorflow/tfjs';
import { checkBatch, type NamedArray, type Params, type WeightSet } from './network.js';

const ACTOR = ['actor/w1', 'actor/b1', 'actor/w2', 'actor/b2', 'actor/w3', 'actor/b3'] as const;

/** True for the 3-layer ReLU actor this module knows (by parameter names and ranks). */
export function isMlp3Actor(params: Params, width?: number): boolean {
  for (const n of ACTOR) if (params[n] === undefined) return false;
  const [w1, , w2, , w3] = ACTOR.map((n) => params[n].shape);
  return (
    w1.length === 2 &&
    w2.length === 2 &&
    w3.length === 2 &&
    w3[1] === 1 &&
    w1[1] === w2[0] &&
    w2[1] === w3[0] &&
    (width === undefined || w1[0] === width)
  );
}

/** The actor's weights repacked for the JS forward pass. */
export interface PackedMlp3 {
  readonly width: number;
  readonly h1: number;
  readonly h2: number;
  /** w1 transposed: [h1][width], so each hidden unit reads one contiguous row. */
  readonly w1t: Float32Array;
  readonly b1: Float32Array;
  /** w2 transposed: [h2][h1], so each second-layer unit is a dot product over one row. */
  readonly w2t: Float32Array;
  readonly b2: Float32Array;
  readonly w3: Float32Array;
  readonly b3: number;
}

export function packMlp3(weights: WeightSet): PackedMlp3 {
  const get = (name: string): NamedArray => {
    const a = weights.arrays.find((x) => x.name === name);
    if (!a) throw new Error(`${weights.name}: no array ${name}`);
    return a;
  };
  const w1 = get('actor/w1');
  const w2 = get('actor/w2');
  const [width, h1] = w1.shape;
  const h2 = w2.shape[1];
  const w1t = new Float32Array(h1 * width);
  for (let i = 0; i < width; i++) for (let j = 0; j < h1; j++) w1t[j * width + i] = w1.values[i * h1 + j];
  const w2t = new Float32Array(h1 * h2);
  for (let j = 0; j < h1; j++) for (let k = 0; k < h2; k++) w2t[k * h1 + j] = w2.values[j * h2 + k];
  return {
    width,
    h1,
    h2,
    w1t,
    b1: get('actor/b1').values,
    w2t,
    b2: get('actor/b2').values,
    w3: get('actor/w3').values,
    b3: get('actor/b3').values[0],
  };
}

/**
 * Probabilities with plain Float32Array arithmetic (sums in float64, so at least as exact as the
 * float32 kernels). One row at a time: the activations stay in registers and L1.
 */
export function jsScore(m: PackedMlp3, features: Float32Array, rows: number): Float32Array {
  const { width, h1: H1, h2: H2, w1t, b1, w2t, b2, w3, b3 } = m;
  const out = new Float32Array(rows);
  const v = new Float64Array(H1); // non-zero first-layer activations
  const idx = new Int32Array(H1); // and their unit index
  const H2x4 = H2 - (H2 % 4);
  for (let r = 0; r < rows; r++) {
    const xo = r * width;
    let nz = 0;
    for (let j = 0; j < H1; j++) {
      let s = b1[j];
      const wo = j * width;
      for (let i = 0; i < width; i++) s += features[xo + i] * w1t[wo + i];
      if (s > 0) {
        v[nz] = s;
        idx[nz++] = j;
      }
    }
    let z = b3;
    // Four second-layer units per pass: each loaded activation feeds four multiply-adds.
    for (let k = 0; k < H2x4; k += 4) {
      let s0 = b2[k];
      let s1 = b2[k + 1];
      let s2 = b2[k + 2];
      let s3 = b2[k + 3];
      const o0 = k * H1;
      const o1 = o0 + H1;
      const o2 = o1 + H1;
      const o3 = o2 + H1;
      for (let q = 0; q < nz; q++) {
        const a = v[q];
        const j = idx[q];
        s0 += a * w2t[o0 + j];
        s1 += a * w2t[o1 + j];
        s2 += a * w2t[o2 + j];
        s3 += a * w2t[o3 + j];
      }
      if (s0 > 0) z += s0 * w3[k];
      if (s1 > 0) z += s1 * w3[k + 1];
      if (s2 > 0) z += s2 * w3[k + 2];
      if (s3 > 0) z += s3 * w3[k + 3];
    }
    for (let k = H2x4; k < H2; k++) {
      let s = b2[k];
      const o = k * H1;
      for (let q = 0; q < nz; q++) s += v[q] * w2t[o + idx[q]];
      if (s > 0) z += s * w3[k];
    }
    out[r] = 1 / (1 + Math.exp(-z));
  }
  return out;
}

const packed = new WeakMap<WeightSet, PackedMlp3>();

/**
 * Pure-JS scores when the active tfjs backend is `cpu` and the network is the 3-layer actor;
 * undefined otherwise (the caller runs the tfjs graph).
 */
export function fastActorScore(
  model: { readonly weights: WeightSet; readonly params: Params },
  features: Float32Array,
  rows: number,
  width: number,
): Float32Array | undefined {
  if (tf.getBackend() !== 'cpu' || !isMlp3Actor(model.params, width)) return undefined;
  checkBatch(model.weights.arch, features, rows, width);
  let m = packed.get(model.weights);
  if (m === undefined) {
    m = packMlp3(model.weights);
    packed.set(model.weights, m);
  }
  return jsScore(m, features, rows);
}
