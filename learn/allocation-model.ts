// The system agent's allocation network (SPEC §3, seed shape): ALLOCATION_FEATURE_COUNT → 128 → 64
// → 1 sigmoid, ReLU hidden layers. It is also the PPO actor: P(approve | row) = score (Bernoulli).
// A separate small critic (features → 32 → 1) is the value baseline; it lives in the same weight
// set (so one checkpoint restores both) but is never evaluated on the hot path.
import * as tf from '@tensorflow/tfjs';
import { ALLOCATION_FEATURE_COUNT, type AllocationScorer } from '../agents/scorer.js';
import {
  HandlePolicy,
  checkBatch,
  initWeights,
  type BernoulliNet,
  type LoadedModel,
  type Params,
  type WeightSet,
} from './network.js';
import { fastActorScore } from './fast-scorer.js';

export { ModelHandle } from './network.js';

export const ALLOCATION_HIDDEN = [128, 64] as const;
export const ALLOCATION_CRITIC_HIDDEN = 32;
export const ALLOCATION_MODEL_NAME = 'allocation';

const F = ALLOCATION_FEATURE_COUNT;
const [H1, H2] = ALLOCATION_HIDDEN;
const C = ALLOCATION_CRITIC_HIDDEN;

export const allocationNet: BernoulliNet = {
  arch: `alloc-mlp-${F}-${H1}-${H2}-1+critic-${C}`,
  obsWidth: F,
  params: [
    { name: 'actor/w1', shape: [F, H1], init: 'glorot' },
    { name: 'actor/b1', shape: [H1], init: 'zeros' },
    { name: 'actor/w2', shape: [H1, H2], init: 'glorot' },
    { name: 'actor/b2', shape: [H2], init: 'zeros' },
    { name: 'actor/w3', shape: [H2, 1], init: 'glorot' },
    { name: 'actor/b3', shape: [1], init: 'zeros' },
    { name: 'critic/w1', shape: [F, C], init: 'glorot' },
    { name: 'critic/b1', shape: [C], init: 'zeros' },
    { name: 'critic/w2', shape: [C, 1], init: 'glorot' },
    { name: 'critic/b2', shape: [1], init: 'zeros' },
  ],
  logits(p: Params, x: tf.Tensor2D): tf.Tensor1D {
    const h1 = tf.relu(tf.add(tf.matMul(x, p['actor/w1'] as tf.Tensor2D), p['actor/b1']));
    const h2 = tf.relu(tf.add(tf.matMul(h1 as tf.Tensor2D, p['actor/w2'] as tf.Tensor2D), p['actor/b2']));
    return tf.reshape(
      tf.add(tf.matMul(h2 as tf.Tensor2D, p['actor/w3'] as tf.Tensor2D), p['actor/b3']),
      [-1],
    );
  },
  value(p: Params, x: tf.Tensor2D): tf.Tensor1D {
    const h = tf.relu(tf.add(tf.matMul(x, p['critic/w1'] as tf.Tensor2D), p['critic/b1']));
    return tf.reshape(
      tf.add(tf.matMul(h as tf.Tensor2D, p['critic/w2'] as tf.Tensor2D), p['critic/b2']),
      [-1],
    );
  },
};

/** Seeded initial allocation weights (seq 0). */
export const initAllocationWeights = (seed: number): WeightSet =>
  initWeights(allocationNet, ALLOCATION_MODEL_NAME, seed);

/** Scores one batch with one loaded model: one tidy, one upload, one download. */
export function scoreBatch(
  net: BernoulliNet,
  params: Params,
  features: Float32Array,
  rows: number,
): Float32Array {
  checkBatch(net.arch, features, rows, net.obsWidth);
  if (rows === 0) return new Float32Array(0);
  const view = features.length === rows * net.obsWidth ? features : features.subarray(0, rows * net.obsWidth);
  return tf.tidy(() => {
    const x = tf.tensor2d(view, [rows, net.obsWidth], 'float32');
    return tf.sigmoid(net.logits(params, x)).dataSync() as Float32Array;
  });
}

/**
 * Rows per tfjs call: one 1M-row call allocates 0.5 GB of first-layer activations and scores
 * ≈ 440k rows per CPU-second on wasm; 16k-64k-row chunks ≈ 710k (chunks of 2k: ≈ 630k).
 * Rows are scored independently, so chunking changes no score (unit-tested bit for bit).
 */
export const SCORE_CHUNK_ROWS = 32_768;

/** Contiguous chunks of at most `size` rows: first row, row count, and their features. */
function* rowChunks(
  features: Float32Array,
  rows: number,
  width: number,
  size: number,
): Generator<{ start: number; n: number; x: Float32Array }> {
  for (let start = 0; start < rows; start += size) {
    const n = Math.min(size, rows - start);
    yield { start, n, x: features.subarray(start * width, (start + n) * width) };
  }
}

/**
 * Scores one batch with one loaded model version, the way the job does on the active backend: on
 * the pure-JS cpu backend a hand-written forward pass (learn/fast-scorer.ts, ≈ 4× tfjs-cpu), else
 * the tfjs graph, SCORE_CHUNK_ROWS rows per call. Scoring threads (learn/alloc-scorer-worker.ts)
 * call the same function.
 */
export function scoreLoaded(
  net: BernoulliNet,
  model: LoadedModel,
  features: Float32Array,
  rows: number,
): Float32Array {
  const js = fastActorScore(model, features, rows, net.obsWidth);
  if (js) return js;
  if (rows <= SCORE_CHUNK_ROWS) return scoreBatch(net, model.params, features, rows);
  checkBatch(net.arch, features, rows, net.obsWidth);
  const out = new Float32Array(rows);
  for (const c of rowChunks(features, rows, net.obsWidth, SCORE_CHUNK_ROWS))
    out.set(scoreBatch(net, model.params, c.x, c.n), c.start);
  return out;
}

/**
 * Rows per call on the webgpu backend: 256k rows × 128 first-layer activations of float32 is
 * 128 MiB on the device, well inside WebGPU's default 256 MiB storage-buffer binding limit.
 */
export const GPU_SCORE_CHUNK_ROWS = 262_144;

/** scoreBatch for backends whose tensors are read asynchronously only (webgpu in Node). */
export async function scoreBatchAsync(
  net: BernoulliNet,
  params: Params,
  features: Float32Array,
  rows: number,
): Promise<Float32Array> {
  checkBatch(net.arch, features, rows, net.obsWidth);
  if (rows === 0) return new Float32Array(0);
  const view = features.length === rows * net.obsWidth ? features : features.subarray(0, rows * net.obsWidth);
  const y = tf.tidy(() => tf.sigmoid(net.logits(params, tf.tensor2d(view, [rows, net.obsWidth], 'float32'))));
  try {
    return (await y.data()) as Float32Array;
  } finally {
    y.dispose();
  }
}

/** scoreLoaded on an async-read backend: GPU_SCORE_CHUNK_ROWS rows per call, in row order. */
export async function scoreLoadedAsync(
  net: BernoulliNet,
  model: LoadedModel,
  features: Float32Array,
  rows: number,
): Promise<Float32Array> {
  if (rows <= GPU_SCORE_CHUNK_ROWS) return scoreBatchAsync(net, model.params, features, rows);
  checkBatch(net.arch, features, rows, net.obsWidth);
  const out = new Float32Array(rows);
  for (const c of rowChunks(features, rows, net.obsWidth, GPU_SCORE_CHUNK_ROWS))
    out.set(await scoreBatchAsync(net, model.params, c.x, c.n), c.start);
  return out;
}

/**
 * AllocationScorer over a ModelHandle. `modelVersion` is the version of the weights that scored the
 * LAST batch (read it right after score(): no swap can happen in between on the same tick).
 */
export class LearnedAllocationScorer extends HandlePolicy implements AllocationScorer {
  score(features: Float32Array, rows: number): Float32Array {
    return this.scoreModel(this.readModel(), features, rows);
  }

  /** Scores one batch with the version read for it (in this thread; see ShardedAllocationScorer). */
  protected scoreModel(model: LoadedModel, features: Float32Array, rows: number): Float32Array {
    return scoreLoaded(this.handle.net, model, features, rows);
  }

  /** Score and the version that produced it, as one value. */
  scoreWithVersion(features: Float32Array, rows: number): { scores: Float32Array; modelVersion: string } {
    const scores = this.score(features, rows);
    return { scores, modelVersion: this.modelVersion };
  }
}
