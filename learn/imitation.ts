// Behaviour cloning (warm start): fits a Bernoulli actor's P(action = 1) to target probabilities,
// e.g. the rule scorer's scores on the rows it saw, so a learned policy starts where the rule
// policy is instead of at random weights, and PPO fine-tunes from there. Soft-label sigmoid
// cross-entropy on the actor only (the critic is left as it is), Adam, seeded minibatch shuffling:
// the same inputs give the same weights.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../core/rng.js';
import { checkBatch, makeWeights, validateWeights, type BernoulliNet, type WeightSet } from './network.js';

export interface ImitationConfig {
  epochs: number;
  minibatchSize: number;
  learningRate: number;
  seed: number;
}

export const DEFAULT_IMITATION_CONFIG: ImitationConfig = {
  epochs: 30,
  minibatchSize: 128,
  learningRate: 3e-3,
  seed: 7,
};

export interface ImitationResult {
  weights: WeightSet;
  /** Mean cross-entropy over the rows before and after fitting. */
  lossBefore: number;
  lossAfter: number;
  steps: number;
}

let nextId = 0;

/**
 * Returns new weights (seq = `seq`) whose actor approximates `targets` (one probability in [0,1]
 * per row of `obs`). Every tensor it creates is disposed.
 */
export function imitate(
  net: BernoulliNet,
  base: WeightSet,
  obs: Float32Array,
  targets: Float32Array,
  rows: number,
  seq: number,
  cfg: Partial<ImitationConfig> = {},
): ImitationResult {
  const c = { ...DEFAULT_IMITATION_CONFIG, ...cfg };
  validateWeights(net, base);
  checkBatch('imitation obs', obs, rows, net.obsWidth);
  checkBatch('imitation targets', targets, rows, 1);
  const id = nextId++;
  const vars: Record<string, tf.Variable> = {};
  for (const a of base.arrays) {
    const init = tf.tensor(a.values, a.shape, 'float32');
    vars[a.name] = tf.variable(init, a.name.startsWith('actor/'), `imitate${id}/${a.name}`);
    init.dispose();
  }
  const actorVars = Object.entries(vars)
    .filter(([n]) => n.startsWith('actor/'))
    .map(([, v]) => v);
  const opt = tf.train.adam(c.learningRate);
  const rng = new Rng(c.seed).fork('imitation');
  const W = net.obsWidth;
  const x = tf.tensor2d(obs.subarray(0, rows * W), [rows, W], 'float32');
  const y = tf.tensor1d(targets.subarray(0, rows), 'float32');
  const lossOf = (xs: tf.Tensor2D, ys: tf.Tensor1D): tf.Scalar =>
    tf.losses.sigmoidCrossEntropy(ys, net.logits(vars, xs)) as tf.Scalar;
  const evalLoss = (): number => tf.tidy(() => lossOf(x, y).dataSync()[0]);
  let steps = 0;
  try {
    const lossBefore = evalLoss();
    const idx = new Int32Array(rows);
    for (let e = 0; e < c.epochs; e++) {
      for (let i = 0; i < rows; i++) idx[i] = i;
      for (let i = rows - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
      }
      for (let s = 0; s < rows; s += c.minibatchSize) {
        const part = idx.slice(s, Math.min(rows, s + c.minibatchSize));
        tf.tidy(() => {
          const ix = tf.tensor1d(part, 'int32');
          const xs = tf.gather(x, ix) as tf.Tensor2D;
          const ys = tf.gather(y, ix) as tf.Tensor1D;
          const cost = opt.minimize(() => lossOf(xs, ys), true, actorVars);
          cost?.dispose();
        });
        steps++;
      }
    }
    const lossAfter = evalLoss();
    const arrays = base.arrays.map((a) => ({
      name: a.name,
      shape: [...a.shape],
      values: vars[a.name].dataSync() as Float32Array,
    }));
    return { weights: makeWeights(base, seq, arrays), lossBefore, lossAfter, steps };
  } finally {
    opt.dispose();
    x.dispose();
    y.dispose();
    tf.dispose(Object.values(vars));
  }
}
