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
import type { BernoulliNet, WeightSet } from './network.js';
import {
  ActorCriticLearner,
  DEFAULT_PPO_CONFIG,
  EMPTY_PPO_STATS,
  disposeBatch,
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

export class GaussianPpoLearner extends ActorCriticLearner<GaussianPpoConfig> {
  private readonly logStdVar: tf.Variable;

  constructor(net: BernoulliNet, base: WeightSet, cfg: Partial<GaussianPpoConfig> = {}, seed = 0) {
    super(net, base, { ...DEFAULT_GAUSSIAN_PPO_CONFIG, ...cfg }, seed, 'gaussian-ppo');
    this.logStdVar = tf.variable(
      tf.scalar(this.clampLogStd(this.cfg.initLogStd)),
      true,
      `gaussian-ppo${this.id}/logstd`,
    );
    this.varList.push(this.logStdVar);
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
    this.checkLive();
    if (batch.length === 0) return { ...EMPTY_PPO_STATS, std: Math.exp(this.logStd) };
    const { b, steps: minibatchSets } = this.beginUpdate(batch, updateKey);
    let steps = 0;
    try {
      for (const idx of minibatchSets) {
        this.step(b, idx, ({ x, a, olp, A, R }) => {
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
        });
        steps++;
      }
      return this.stats(b, steps);
    } finally {
      disposeBatch(b);
    }
  }

  /** Keeps logσ within its bounds after every optimizer step. */
  protected override afterStep(): void {
    this.logStdVar.assign(tf.clipByValue(this.logStdVar, this.cfg.minLogStd, this.cfg.maxLogStd));
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
}

function logDensity(mean: tf.Tensor1D, logStd: tf.Variable, action: tf.Tensor1D): tf.Tensor1D {
  const d = tf.div(tf.sub(action, mean), tf.exp(logStd));
  return tf.sub(tf.sub(tf.mul(-0.5, tf.square(d)), logStd), HALF_LOG_2PI) as tf.Tensor1D;
}
