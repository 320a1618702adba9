// The user explore policy: ONE network shared by every user (never a network per user — the seed's
// per-user nets do not scale and never see enough data each). Input per user = mind state
// (MIND_FEATURES) + the bounded behaviour sequence (last BEHAVIOUR_SEQUENCE_LENGTH steps).
//
// Behaviour encoder (坑1: long sequences OOM — keep it compact): per-step embedding
//   e_t = relu([x_t, t/(L−1)] · We + be)            (L = 20 steps, d = 16)
// then masked attention pooling  α_t ∝ exp(e_t · q) · mask_t,  b = Σ α_t e_t.
// Everything is one batched matMul over rows·L steps (no sequential recurrence), memory is
// O(rows·L·d) with L bounded at 20, and ~700 parameters. A user without history (all masks 0) gets
// b = 0. Head: [mind, b] → 32 relu → 1 (logit of P(explore)). Critic: [mind, b] → 16 → 1.
import * as tf from '@tensorflow/tfjs';
import {
  BEHAVIOUR_SEQUENCE_LENGTH,
  BEHAVIOUR_STEP_FEATURE_COUNT,
  BEHAVIOUR_STEP_FEATURES,
  MIND_FEATURE_COUNT,
  type ExplorePolicy,
} from '../agents/scorer.js';
import {
  HandlePolicy,
  checkBatch,
  initWeights,
  type BernoulliNet,
  type Params,
  type WeightSet,
} from './network.js';

export const EXPLORE_EMBED = 16;
export const EXPLORE_HIDDEN = 32;
export const EXPLORE_CRITIC_HIDDEN = 16;
export const EXPLORE_MODEL_NAME = 'explore';

const L = BEHAVIOUR_SEQUENCE_LENGTH;
const S = BEHAVIOUR_STEP_FEATURE_COUNT;
const M = MIND_FEATURE_COUNT;
const D = EXPLORE_EMBED;
const MASK = BEHAVIOUR_STEP_FEATURES.indexOf('mask');
/** Observation row: mind (M) then behaviour (L × S, oldest step first). */
export const EXPLORE_OBS_WIDTH = M + L * S;

// Position feature t/(L−1) of each step, shape [L, 1].
const positions = (): tf.Tensor2D =>
  tf.tensor2d(
    Array.from({ length: L }, (_, t) => t / (L - 1)),
    [L, 1],
  );

function encode(p: Params, obs: tf.Tensor2D): tf.Tensor2D {
  const rows = obs.shape[0];
  const mind = tf.slice(obs, [0, 0], [rows, M]);
  const seq = tf.reshape(tf.slice(obs, [0, M], [rows, L * S]), [rows, L, S]) as tf.Tensor3D;
  // [x_t, pos_t]·We = x_t·We[:S] + pos_t·We[S]: the position term is one [L, D] bias (no tile/concat).
  const we = p['enc/w'] as tf.Tensor2D;
  const wx = tf.slice(we, [0, 0], [S, D]);
  const posBias = tf.add(tf.matMul(positions(), tf.slice(we, [S, 0], [1, D])), p['enc/b']); // [L, D]
  const lin = tf.reshape(tf.matMul(tf.reshape(seq, [rows * L, S]) as tf.Tensor2D, wx), [rows, L, D]);
  const e = tf.reshape(tf.relu(tf.add(lin, posBias)), [rows * L, D]) as tf.Tensor2D; // [rows·L, D]
  const logits = tf.reshape(tf.matMul(e, p['enc/q'] as tf.Tensor2D), [rows, L]);
  const mask = tf.reshape(tf.slice(seq, [0, 0, MASK], [rows, L, 1]), [rows, L]);
  // Masked softmax, stable: subtract the row max, zero padded steps, renormalise (ε: empty rows → 0).
  const ex = tf.mul(tf.exp(tf.sub(logits, tf.max(logits, 1, true))), mask);
  const alpha = tf.div(ex, tf.add(tf.sum(ex, 1, true), 1e-6));
  const pooled = tf.sum(tf.mul(tf.reshape(e, [rows, L, D]), tf.expandDims(alpha, 2)), 1) as tf.Tensor2D; // [rows, D]
  return tf.concat([mind, pooled], 1) as tf.Tensor2D;
}

export const exploreNet: BernoulliNet = {
  arch: `explore-attnpool-m${M}-l${L}x${S}-d${D}-h${EXPLORE_HIDDEN}+critic-${EXPLORE_CRITIC_HIDDEN}`,
  obsWidth: EXPLORE_OBS_WIDTH,
  params: [
    { name: 'enc/w', shape: [S + 1, D], init: 'glorot' },
    { name: 'enc/b', shape: [D], init: 'zeros' },
    { name: 'enc/q', shape: [D, 1], init: 'glorot' },
    { name: 'actor/w1', shape: [M + D, EXPLORE_HIDDEN], init: 'glorot' },
    { name: 'actor/b1', shape: [EXPLORE_HIDDEN], init: 'zeros' },
    { name: 'actor/w2', shape: [EXPLORE_HIDDEN, 1], init: 'glorot' },
    // Starts near the rule policy's typical explore rate rather than 0.5: sigmoid(−1.4) ≈ 0.2.
    { name: 'actor/b2', shape: [1], init: { constant: -1.4 } },
    { name: 'critic/w1', shape: [M + D, EXPLORE_CRITIC_HIDDEN], init: 'glorot' },
    { name: 'critic/b1', shape: [EXPLORE_CRITIC_HIDDEN], init: 'zeros' },
    { name: 'critic/w2', shape: [EXPLORE_CRITIC_HIDDEN, 1], init: 'glorot' },
    { name: 'critic/b2', shape: [1], init: 'zeros' },
  ],
  logits(p: Params, obs: tf.Tensor2D): tf.Tensor1D {
    const z = encode(p, obs);
    const h = tf.relu(tf.add(tf.matMul(z, p['actor/w1'] as tf.Tensor2D), p['actor/b1'])) as tf.Tensor2D;
    return tf.reshape(tf.add(tf.matMul(h, p['actor/w2'] as tf.Tensor2D), p['actor/b2']), [-1]);
  },
  value(p: Params, obs: tf.Tensor2D): tf.Tensor1D {
    const z = encode(p, obs);
    const h = tf.relu(tf.add(tf.matMul(z, p['critic/w1'] as tf.Tensor2D), p['critic/b1'])) as tf.Tensor2D;
    return tf.reshape(tf.add(tf.matMul(h, p['critic/w2'] as tf.Tensor2D), p['critic/b2']), [-1]);
  },
};

export const initExploreWeights = (seed: number): WeightSet =>
  initWeights(exploreNet, EXPLORE_MODEL_NAME, seed);

/** Packs the two ExplorePolicy inputs into observation rows (mind, then behaviour). */
export function packExploreObs(mind: Float32Array, behaviour: Float32Array, rows: number): Float32Array {
  checkBatch('explore mind', mind, rows, M);
  checkBatch('explore behaviour', behaviour, rows, L * S);
  const out = new Float32Array(rows * EXPLORE_OBS_WIDTH);
  for (let r = 0; r < rows; r++) {
    const o = r * EXPLORE_OBS_WIDTH;
    out.set(mind.subarray(r * M, (r + 1) * M), o);
    out.set(behaviour.subarray(r * L * S, (r + 1) * L * S), o + M);
  }
  return out;
}

/** ExplorePolicy over a ModelHandle: one batched forward pass per micro-batch. */
export class LearnedExplorePolicy extends HandlePolicy implements ExplorePolicy {
  exploreProbabilities(mind: Float32Array, behaviour: Float32Array, rows: number): Float32Array {
    if (rows === 0) return new Float32Array(0);
    return this.probabilitiesOfObs(packExploreObs(mind, behaviour, rows), rows);
  }

  /** The same over already packed observation rows (packExploreObs layout). */
  probabilitiesOfObs(obs: Float32Array, rows: number): Float32Array {
    if (rows === 0) return new Float32Array(0);
    checkBatch('explore obs', obs, rows, EXPLORE_OBS_WIDTH);
    const m = this.readModel();
    return tf.tidy(
      () =>
        tf
          .sigmoid(this.handle.net.logits(m.params, tf.tensor2d(obs, [rows, EXPLORE_OBS_WIDTH])))
          .dataSync() as Float32Array,
    );
  }
}
