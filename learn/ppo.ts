// PPO for a Bernoulli actor with a value baseline (SPEC §3 "Learning", 坑10).
//
//   L = −E[min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â)] + c_v·E[(V(s) − R)²] − c_H·E[H(π(·|s))]
//   ρ = exp(log π_θ(a|s) − log π_old(a|s)),  gradients clipped by global norm, Adam.
//
// Advantage: Â = R − V(s), then normalised over the batch. Each heating decision is a one-step
// episode (a contextual bandit): its reward is the engagement of the impressions IT bought, joined
// back by allocation_id, and the next tick's request set does not depend on one decision enough to
// model a transition. GAE(γ, λ) with γ = 0 reduces exactly to R − V(s), so there is no bootstrap
// term and no λ to tune; the critic only has to learn E[R | s], which lowers variance.
// Entropy bonus (坑10: the seed's DDPG oscillated): keeps P(approve) away from 0/1 early so the
// policy keeps exploring and updates stay smooth.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../core/rng.js';
import { ThermostatError } from '../core/errors.js';
import {
  bernoulliEntropy,
  bernoulliLogProb,
  makeWeights,
  validateWeights,
  type BernoulliNet,
  type Params,
  type WeightSet,
} from './network.js';

export interface PpoConfig {
  /** ε of the clipped surrogate. */
  clipEpsilon: number;
  /** c_v: weight of the critic's squared error. */
  valueCoef: number;
  /** c_H: weight of the entropy bonus (坑10). */
  entropyCoef: number;
  learningRate: number;
  /** Passes over each batch. */
  epochs: number;
  minibatchSize: number;
  /** Global gradient-norm clip. */
  maxGradNorm: number;
  normalizeAdvantages: boolean;
  /**
   * Fresh Adam moments at the start of every update. Then an update is a pure function of
   * (weights, batch, seed, update key): a trainer restored from a checkpoint produces exactly the
   * weights an uninterrupted one would, with no optimiser state to checkpoint. Off: moments carry
   * over between updates (not checkpointed; lost on restart).
   */
  resetOptimizerEachUpdate: boolean;
}

export const DEFAULT_PPO_CONFIG: PpoConfig = {
  clipEpsilon: 0.2,
  valueCoef: 0.5,
  entropyCoef: 0.02,
  learningRate: 1e-3,
  epochs: 4,
  minibatchSize: 64,
  maxGradNorm: 0.5,
  normalizeAdvantages: true,
  resetOptimizerEachUpdate: true,
};

/** One decision with its outcome: what PPO trains on. */
export interface Experience {
  /** Observation row (net.obsWidth values). */
  obs: Float32Array;
  action: 0 | 1;
  /** log π_old(action | obs) under the policy that made the decision. */
  logProb: number;
  reward: number;
}

export interface PpoStats {
  /** Gradient steps taken in this update. */
  steps: number;
  batch: number;
  policyLoss: number;
  valueLoss: number;
  entropy: number;
  /** E[log π_old − log π_new] after the update. */
  approxKl: number;
  /** Share of samples whose ratio left [1−ε, 1+ε] after the update. */
  clipFraction: number;
  meanReward: number;
}

let nextLearnerId = 0;

/**
 * What both PPO actors (Bernoulli here, Gaussian in explore-ppo.ts) share: the training variables
 * made from a WeightSet, Adam, the minibatch shuffle stream, one gradient step, export and dispose.
 * A subclass supplies the loss (its log-probability and entropy) and its after-update statistics.
 */
export abstract class ActorCriticLearner<C extends PpoConfig> {
  protected readonly vars: Record<string, tf.Variable>;
  protected readonly varList: tf.Variable[];
  protected readonly id = nextLearnerId++; // tfjs variable names are global: unique per learner
  private optimizer: tf.Optimizer;
  private readonly rng: Rng;
  private disposed = false;
  /** Gradient steps taken since construction. */
  totalSteps = 0;
  private updates = 0;

  protected constructor(
    readonly net: BernoulliNet,
    protected base: WeightSet,
    readonly cfg: C,
    seed: number,
    /** Names the variables and the shuffle stream (kept per actor so replays shuffle as before). */
    private readonly label: string,
  ) {
    validateWeights(net, base);
    this.vars = {};
    for (const a of base.arrays) {
      const init = tf.tensor(a.values, a.shape, 'float32');
      this.vars[a.name] = tf.variable(init, true, `${label}${this.id}/${base.name}/${a.name}`);
      init.dispose();
    }
    this.varList = Object.values(this.vars);
    this.optimizer = tf.train.adam(this.cfg.learningRate);
    this.rng = new Rng(seed).fork(`${label}-minibatches`);
  }

  protected checkLive(): void {
    if (this.disposed) throw new ThermostatError('INTERNAL', `${this.constructor.name} used after dispose`);
  }

  /**
   * Starts one update: the batch tensors (advantages against the critic before the update) and its
   * minibatches. Shuffling depends only on (seed, updateKey): the trainer passes the seq being
   * produced, so an update replayed after a restart shuffles exactly as the original did.
   */
  protected beginUpdate(
    batch: readonly { obs: Float32Array; action: number; logProb: number; reward: number }[],
    updateKey: string | undefined,
  ): { b: PpoBatch; steps: Generator<Int32Array> } {
    const b = ppoBatch(
      batch,
      this.net.obsWidth,
      (o) => this.net.value(this.vars, o),
      this.cfg.normalizeAdvantages,
    );
    const rng = this.rng.fork(updateKey ?? `update-${this.updates}`);
    this.updates++;
    if (this.cfg.resetOptimizerEachUpdate && this.updates > 1) {
      this.optimizer.dispose();
      this.optimizer = tf.train.adam(this.cfg.learningRate);
    }
    return { b, steps: minibatches(b.n, this.cfg.minibatchSize, this.cfg.epochs, rng) };
  }

  /** One gradient step of `loss` over the minibatch `idx`, gradients clipped by global norm. */
  protected step(
    b: PpoBatch,
    idx: Int32Array,
    loss: (mb: ReturnType<typeof gatherBatch>) => tf.Scalar,
  ): void {
    tf.tidy(() => {
      const mb = gatherBatch(b, idx);
      const { grads } = tf.variableGrads(() => loss(mb), this.varList);
      this.optimizer.applyGradients(clipByGlobalNorm(grads, this.cfg.maxGradNorm));
      this.afterStep();
    });
    this.totalSteps++;
  }

  /** Runs after each optimizer step inside its tidy (e.g. to clamp a parameter). */
  protected afterStep(): void {}

  /** The current training weights as a new immutable WeightSet with the given seq. */
  exportWeights(seq: number): WeightSet {
    const arrays = this.base.arrays.map((a) => ({
      name: a.name,
      shape: [...a.shape],
      values: this.vars[a.name].dataSync() as Float32Array,
    }));
    return makeWeights(this.base, seq, arrays);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.optimizer.dispose();
    tf.dispose(this.varList);
  }
}

export class PpoLearner extends ActorCriticLearner<PpoConfig> {
  constructor(net: BernoulliNet, base: WeightSet, cfg: Partial<PpoConfig> = {}, seed = 0) {
    super(net, base, { ...DEFAULT_PPO_CONFIG, ...cfg }, seed, 'ppo');
  }

  get params(): Params {
    return this.vars;
  }

  /** P(action = 1) under the current (training) weights. */
  probabilities(obs: Float32Array, rows: number): Float32Array {
    return tf.tidy(
      () =>
        tf
          .sigmoid(this.net.logits(this.vars, tf.tensor2d(obs, [rows, this.net.obsWidth])))
          .dataSync() as Float32Array,
    );
  }

  /** Runs the whole update synchronously. */
  update(batch: readonly Experience[], updateKey?: string): PpoStats {
    const it = this.updateSteps(batch, updateKey);
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
    }
  }

  /**
   * The update as a generator that yields after every gradient step, so the trainer can spread it
   * over event-loop turns (setImmediate) and never block scoring for more than one step.
   */
  *updateSteps(batch: readonly Experience[], updateKey?: string): Generator<number, PpoStats, void> {
    this.checkLive();
    if (batch.length === 0) return { ...EMPTY_PPO_STATS };
    const { b, steps: minibatchSets } = this.beginUpdate(batch, updateKey);
    let steps = 0;
    try {
      for (const idx of minibatchSets) {
        this.step(b, idx, ({ x, a, olp, A, R }) => {
          const logit = this.net.logits(this.vars, x);
          const ratio = tf.exp(tf.sub(bernoulliLogProb(logit, a), olp));
          const ent = tf.mean(bernoulliEntropy(logit));
          return ppoLoss(ratio, A, this.net.value(this.vars, x), R, ent, this.cfg);
        });
        steps++;
        yield steps;
      }
      return this.stats(b, steps);
    } finally {
      disposeBatch(b);
    }
  }

  private stats(b: PpoBatch, steps: number): PpoStats {
    const v = tf.tidy(() => {
      const logit = this.net.logits(this.vars, b.obs);
      const lp = bernoulliLogProb(logit, b.actions);
      const [policy, value, kl, clip, reward] = ppoDiagnostics(
        lp,
        b,
        this.net.value(this.vars, b.obs),
        this.cfg.clipEpsilon,
      );
      return tf.stack([policy, value, tf.mean(bernoulliEntropy(logit)), kl, clip, reward]).dataSync();
    });
    return {
      steps,
      batch: b.n,
      policyLoss: v[0],
      valueLoss: v[1],
      entropy: v[2],
      approxKl: v[3],
      clipFraction: v[4],
      meanReward: v[5],
    };
  }

  /** Replaces the training weights (e.g. after loading a newer checkpoint); Adam state is kept. */
  load(w: WeightSet): void {
    validateWeights(this.net, w);
    tf.tidy(() => {
      for (const a of w.arrays) this.vars[a.name].assign(tf.tensor(a.values, a.shape, 'float32'));
    });
    this.base = w;
  }
}

/** A PPO batch as tensors: observations, actions, old log-probabilities, returns, advantages. */
export interface PpoBatch {
  n: number;
  obs: tf.Tensor2D;
  actions: tf.Tensor1D;
  oldLogProb: tf.Tensor1D;
  returns: tf.Tensor1D;
  /** R − V(s) against the critic before the update (fixed during the epochs), optionally normalised. */
  adv: tf.Tensor1D;
}

/** Builds the batch tensors (the caller disposes them with `disposeBatch`). */
export function ppoBatch(
  batch: readonly { obs: Float32Array; action: number; logProb: number; reward: number }[],
  width: number,
  value: (obs: tf.Tensor2D) => tf.Tensor1D,
  normalizeAdvantages: boolean,
): PpoBatch {
  const n = batch.length;
  const obsData = new Float32Array(n * width);
  const act = new Float32Array(n);
  const oldLp = new Float32Array(n);
  const ret = new Float32Array(n);
  batch.forEach((e, i) => {
    if (e.obs.length !== width)
      throw new ThermostatError('INTERNAL', `experience ${i}: obs width ${e.obs.length}, expected ${width}`);
    obsData.set(e.obs, i * width);
    act[i] = e.action;
    oldLp[i] = e.logProb;
    ret[i] = e.reward;
  });
  const obs = tf.tensor2d(obsData, [n, width]);
  const returns = tf.tensor1d(ret);
  const adv = tf.tidy(() => {
    const a = tf.sub(returns, value(obs));
    if (!normalizeAdvantages || n < 2) return a;
    const { mean, variance } = tf.moments(a);
    return tf.div(tf.sub(a, mean), tf.add(tf.sqrt(variance), 1e-8));
  }) as tf.Tensor1D;
  return { n, obs, actions: tf.tensor1d(act), oldLogProb: tf.tensor1d(oldLp), returns, adv };
}

export function disposeBatch(b: PpoBatch): void {
  tf.dispose([b.obs, b.actions, b.oldLogProb, b.returns, b.adv]);
}

/** Per-sample clipped surrogate min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â). */
export function clippedSurrogate(ratio: tf.Tensor, adv: tf.Tensor, eps: number): tf.Tensor {
  return tf.minimum(tf.mul(ratio, adv), tf.mul(tf.clipByValue(ratio, 1 - eps, 1 + eps), adv));
}

/** −E[surrogate] + c_v·E[(V − R)²] − c_H·entropy: the loss both actors minimise. */
export function ppoLoss(
  ratio: tf.Tensor,
  adv: tf.Tensor,
  valuePred: tf.Tensor,
  returns: tf.Tensor,
  entropy: tf.Tensor,
  cfg: Pick<PpoConfig, 'clipEpsilon' | 'valueCoef' | 'entropyCoef'>,
): tf.Scalar {
  const surr = clippedSurrogate(ratio, adv, cfg.clipEpsilon);
  const vLoss = tf.mean(tf.square(tf.sub(valuePred, returns)));
  return tf.sub(
    tf.add(tf.neg(tf.mean(surr)), tf.mul(cfg.valueCoef, vLoss)),
    tf.mul(cfg.entropyCoef, entropy),
  ) as tf.Scalar;
}

/** After-update diagnostics shared by both actors: [policy loss, value loss, approx KL, clip share, mean return]. */
export function ppoDiagnostics(
  lp: tf.Tensor,
  b: PpoBatch,
  valuePred: tf.Tensor,
  eps: number,
): [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor] {
  const ratio = tf.exp(tf.sub(lp, b.oldLogProb));
  const clipped = tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), eps), 'float32');
  return [
    tf.neg(tf.mean(clippedSurrogate(ratio, b.adv, eps))),
    tf.mean(tf.square(tf.sub(valuePred, b.returns))),
    tf.mean(tf.sub(b.oldLogProb, lp)),
    tf.mean(clipped),
    tf.mean(b.returns),
  ];
}

/** Minibatch index sets: `epochs` shuffled passes over n rows (shuffles drawn from rng). */
export function* minibatches(n: number, size: number, epochs: number, rng: Rng): Generator<Int32Array> {
  const mb = Math.max(1, Math.min(size, n));
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = permutation(n, rng);
    for (let start = 0; start < n; start += mb) yield order.subarray(start, Math.min(n, start + mb));
  }
}

/** Gathers one minibatch of the batch tensors. */
export function gatherBatch(b: PpoBatch, idxArr: Int32Array) {
  const idx = tf.tensor1d(idxArr, 'int32');
  return {
    x: tf.gather(b.obs, idx) as tf.Tensor2D,
    a: tf.gather(b.actions, idx) as tf.Tensor1D,
    olp: tf.gather(b.oldLogProb, idx),
    A: tf.gather(b.adv, idx),
    R: tf.gather(b.returns, idx),
  };
}

export const EMPTY_PPO_STATS: Readonly<PpoStats> = {
  steps: 0,
  batch: 0,
  policyLoss: 0,
  valueLoss: 0,
  entropy: 0,
  approxKl: 0,
  clipFraction: 0,
  meanReward: 0,
};

export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Scales all gradients by min(1, maxNorm / ‖g‖₂) over the whole set. */
export function clipByGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): tf.NamedTensorMap {
  return tf.tidy(() => {
    const names = Object.keys(grads);
    const norm = tf.sqrt(tf.addN(names.map((k) => tf.sum(tf.square(grads[k])))));
    const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    const out: tf.NamedTensorMap = {};
    for (const k of names) out[k] = tf.mul(grads[k], scale);
    return out;
  });
}
