// PPO for a Gaussian actor over a network's logit: the user explore policy's trainer (坑10).
//
// The action is continuous: u = z(s) + σ·ε, ε ~ N(0, 1), with z the network's logit and σ = exp(logσ)
// ONE learned scalar shared by every row (kept here, not in the WeightSet: the hot path emits
// sigmoid(u) and needs only z). The explore probability the ranker reads is sigmoid(u).
//
//   log π(u|s) = −½((u − z)/σ)² − logσ − ½·log 2π,   H = ½·log(2πe) + logσ
//   L = −E[min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â)] + c_v·E[(V(s) − R)²] − c_H·H
//
// Same recipe as learn/ppo.ts (one-step episodes, Â = R − V(s) normalised over the batch, minibatch
// epochs, global-norm clipping, fresh Adam per update); only the log-density and the entropy differ,
// so the Bernoulli learner stays untouched. The entropy bonus pushes σ up (smooth, continuing
// exploration instead of a collapsing policy, the seed's DDPG failure); logσ is clamped to
// [minLogStd, maxLogStd] after every step so neither term can drive it to 0 or ∞.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../core/rng.js';
import { ThermostatError } from '../core/errors.js';
import { makeWeights, validateWeights, type BernoulliNet, type WeightSet } from './network.js';
import {
  DEFAULT_PPO_CONFIG,
  EMPTY_PPO_STATS,
  clipByGlobalNorm,
  disposeBatch,
  gatherBatch,
  minibatches,
  ppoBatch,
  ppoDiagnostics,
  ppoLoss,
  type PpoBatch,
  type PpoConfig,
  type PpoStats,
} from './ppo.js';

export interface GaussianPpoConfig extends PpoConfig {
  /** logσ at construction. */
  initLogStd: number;
  minLogStd: number;
  maxLogStd: number;
}

export const DEFAULT_GAUSSIAN_PPO_CONFIG: GaussianPpoConfig = {
  ...DEFAULT_PPO_CONFIG,
  initLogStd: Math.log(0.3),
  minLogStd: Math.log(0.05),
  maxLogStd: Math.log(1.5),
};

/** One continuous decision with its outcome. */
export interface GaussianExperience {
  obs: Float32Array;
  /** The emitted pre-sigmoid action u. */
  action: number;
  /** log π_old(u | obs). */
  logProb: number;
  reward: number;
}

export interface GaussianPpoStats extends PpoStats {
  /** σ after the update. */
  std: number;
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** Gaussian log-density of `action` around `mean` with log-std `logStd`. */
export function gaussianLogProb(action: number, mean: number, logStd: number): number {
  const d = (action - mean) / Math.exp(logStd);
  return -0.5 * d * d - logStd - HALF_LOG_2PI;
}

/** Entropy (nats) of a Gaussian with log-std `logStd`. */
export const gaussianEntropy = (logStd: number): number => 0.5 + HALF_LOG_2PI + logStd;

/** u = mean + σ·ε with ε from two uniforms (Box-Muller), and its log-density. */
export function sampleGaussian(
  mean: number,
  logStd: number,
  u1: number,
  u2: number,
): { action: number; logProb: number } {
  const eps = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  const action = mean + Math.exp(logStd) * eps;
  return { action, logProb: gaussianLogProb(action, mean, logStd) };
}

let nextGaussianLearnerId = 0;

export class GaussianPpoLearner {
  readonly cfg: GaussianPpoConfig;
  private readonly vars: Record<string, tf.Variable>;
  private readonly logStdVar: tf.Variable;
  private readonly varList: tf.Variable[];
  private optimizer: tf.Optimizer;
  private readonly rng: Rng;
  private disposed = false;
  totalSteps = 0;
  private updates = 0;

  constructor(
    readonly net: BernoulliNet,
    private base: WeightSet,
    cfg: Partial<GaussianPpoConfig> = {},
    seed = 0,
  ) {
    validateWeights(net, base);
    this.cfg = { ...DEFAULT_GAUSSIAN_PPO_CONFIG, ...cfg };
    const id = nextGaussianLearnerId++; // tfjs variable names are global
    this.vars = {};
    for (const a of base.arrays) {
      const init = tf.tensor(a.values, a.shape, 'float32');
      this.vars[a.name] = tf.variable(init, true, `gppo${id}/${base.name}/${a.name}`);
      init.dispose();
    }
    this.logStdVar = tf.variable(tf.scalar(this.clampLogStd(this.cfg.initLogStd)), true, `gppo${id}/logstd`);
    this.varList = [...Object.values(this.vars), this.logStdVar];
    this.optimizer = tf.train.adam(this.cfg.learningRate);
    this.rng = new Rng(seed).fork('gaussian-ppo-minibatches');
  }

  private clampLogStd(v: number): number {
    return Math.min(this.cfg.maxLogStd, Math.max(this.cfg.minLogStd, v));
  }

  /** Current logσ (read by the sampler after each update). */
  get logStd(): number {
    return this.logStdVar.dataSync()[0];
  }

  /** Mean logits z(s) under the current training weights. */
  means(obs: Float32Array, rows: number): Float32Array {
    return tf.tidy(
      () =>
        this.net.logits(this.vars, tf.tensor2d(obs, [rows, this.net.obsWidth])).dataSync() as Float32Array,
    );
  }

  update(batch: readonly GaussianExperience[], updateKey?: string): GaussianPpoStats {
    if (this.disposed) throw new ThermostatError('INTERNAL', 'GaussianPpoLearner used after dispose');
    if (batch.length === 0) return { ...EMPTY_PPO_STATS, std: Math.exp(this.logStd) };
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
    let steps = 0;
    try {
      for (const idxArr of minibatches(b.n, this.cfg.minibatchSize, this.cfg.epochs, rng)) {
        tf.tidy(() => {
          const { x, a, olp, A, R } = gatherBatch(b, idxArr);
          const { grads } = tf.variableGrads(() => {
            const lp = logDensity(this.net.logits(this.vars, x), this.logStdVar, a);
            // H = const + logσ: only logσ carries the entropy gradient.
            return ppoLoss(
              tf.exp(tf.sub(lp, olp)),
              A,
              this.net.value(this.vars, x),
              R,
              this.logStdVar,
              this.cfg,
            );
          }, this.varList);
          this.optimizer.applyGradients(clipByGlobalNorm(grads, this.cfg.maxGradNorm));
          this.logStdVar.assign(tf.clipByValue(this.logStdVar, this.cfg.minLogStd, this.cfg.maxLogStd));
        });
        steps++;
        this.totalSteps++;
      }
      return this.stats(b, steps);
    } finally {
      disposeBatch(b);
    }
  }

  private stats(b: PpoBatch, steps: number): GaussianPpoStats {
    const v = tf.tidy(() => {
      const lp = logDensity(this.net.logits(this.vars, b.obs), this.logStdVar, b.actions);
      return tf
        .stack(ppoDiagnostics(lp, b, this.net.value(this.vars, b.obs), this.cfg.clipEpsilon))
        .dataSync();
    });
    const logStd = this.logStd;
    return {
      steps,
      batch: b.n,
      policyLoss: v[0],
      valueLoss: v[1],
      entropy: gaussianEntropy(logStd),
      approxKl: v[2],
      clipFraction: v[3],
      meanReward: v[4],
      std: Math.exp(logStd),
    };
  }

  /** The current training weights (actor and critic) as a new WeightSet with the given seq. */
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

function logDensity(mean: tf.Tensor1D, logStd: tf.Variable, action: tf.Tensor1D): tf.Tensor1D {
  const d = tf.div(tf.sub(action, mean), tf.exp(logStd));
  return tf.sub(tf.sub(tf.mul(-0.5, tf.square(d)), logStd), HALF_LOG_2PI) as tf.Tensor1D;
}
