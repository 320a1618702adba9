// The settings of 'thermostat-learned' (the simulator's client of the job's online learner) and
// how they map onto the job's learn configuration.
import type { LearnConfig } from '../../learn/config.js';
import type { ExploreRewardWeights } from '../../learn/explore-experience.js';
import type { GaussianPpoConfig } from '../../learn/explore-ppo.js';
import type { ExploreNoise } from '../../learn/explore-sampling.js';
import { loadRuntimeConfig } from '../../core/config.js';

export interface LearnedPolicyOptions {
  /** Denials recorded per tick at most (keyed subsample; bounds training cost). */
  maxDenialsPerTick: number;
  minBatch: number;
  maxBatch: number;
  /** Reward: allocation cost (traffic coins) that counts as 1, and its weight. */
  maxCost: number;
  costWeight: number;
  epochs: number;
  minibatchSize: number;
  learningRate: number;
  entropyCoef: number;
  /**
   * Warm start: for this long after the run starts the rule decides while the network is fitted to
   * its decisions (behaviour cloning); then the learned policy takes over and PPO fine-tunes it.
   */
  warmupMs: number;
  /**
   * The explore network's warm-up (explore: 'learned' | 'ppo'): the rule decides and its rows are
   * cloned at the first boundary after this long. Same 2 h as the allocation's by default; there
   * is one decision per user session and the first hours are night (81 rows at 2,000 users), so
   * the clone set is widened by `exploreCloneExtra` rather than the warm-up lengthened.
   */
  exploreWarmupMs: number;
  /** Rule-labelled rows with uniform mind states added to the clone set (learn/explore-clone.ts). */
  exploreCloneExtra: number;
  /** 'marginal': a grant earns the value it delivered (summed); 'bandit': the per-impression rate. */
  credit: 'marginal' | 'bandit';
  /**
   * Warm start target = sigmoid((rule score − threshold)/τ): the rule's approve/deny decision,
   * softened (τ → 0: hard labels; τ large: the raw score's order with P ≈ 0.5 everywhere).
   */
  imitationTemperature: number;
  /** Share of ticks the rule decides while a learned version is live (the guard's baseline). */
  ruleHoldout: number;
  /**
   * User explore policy: 'rule' (agents/rule-explore); 'learned': the shared explore network,
   * warm-started by behaviour cloning of the rule and not trained further; 'ppo': then fine-tuned
   * by Gaussian PPO at tick boundaries (learn/online/explore.ts, docs/LEARNING.md).
   */
  explore: 'rule' | 'learned' | 'ppo';
  /** explore: 'ppo' — reward weights, PPO settings (σ, entropy, lr, …) and batch sizes. */
  exploreReward: Partial<ExploreRewardWeights>;
  explorePpo: Partial<GaussianPpoConfig>;
  exploreMinBatch: number;
  exploreMaxBatch: number;
  /** Fresh logit noise per decision, or one draw per user for the run (learn/explore-sampling.ts). */
  exploreNoise: ExploreNoise;
}

export const DEFAULT_LEARNED_OPTIONS: LearnedPolicyOptions = {
  maxDenialsPerTick: 48,
  minBatch: 768,
  maxBatch: 1024,
  maxCost: 0.5,
  // 0.5 rather than the bandit reward's 0.3: marginal credit sums value over a grant's impressions,
  // so cost needs more weight to keep spending at or below the rule's (measured, docs/results/learning.md).
  costWeight: 0.5,
  epochs: 4,
  minibatchSize: 128,
  learningRate: 3e-3,
  entropyCoef: 0.01,
  warmupMs: 2 * 3_600_000,
  exploreWarmupMs: 2 * 3_600_000,
  exploreCloneExtra: 4096,
  credit: 'marginal',
  imitationTemperature: 0.03,
  ruleHoldout: 0.05,
  explore: 'rule',
  exploreReward: {},
  explorePpo: {},
  exploreMinBatch: 512,
  exploreMaxBatch: 2048,
  exploreNoise: 'per-decision',
};

/**
 * Explore-learner defaults (explore: 'ppo'). ~2,800 decisions a day at 2,000 users: a larger step
 * and more epochs than the allocation learner; σ capped at 0.5 and a small entropy weight (at 0.01
 * and lr 1e-2, σ climbed 0.3 → 0.52 in 7 days with no reward gradient behind it: noise in every
 * user's explore level).
 */
export const DEFAULT_EXPLORE_PPO: Partial<GaussianPpoConfig> = {
  epochs: 8,
  minibatchSize: 256,
  learningRate: 1e-2,
  entropyCoef: 0.003,
  initLogStd: Math.log(0.3),
  maxLogStd: Math.log(0.5),
};

/** The simulator's learner settings, under the configuration file and environment (as the job's). */
export function learnerConfig(seed: number, opts: LearnedPolicyOptions): LearnConfig {
  return loadRuntimeConfig({
    base: {
      learn: {
        seed,
        trainer: { minBatch: opts.minBatch, maxBatch: opts.maxBatch },
        ppo: {
          epochs: opts.epochs,
          minibatchSize: opts.minibatchSize,
          learningRate: opts.learningRate,
          entropyCoef: opts.entropyCoef,
        },
        reward: { maxCost: opts.maxCost, costWeight: opts.costWeight },
        online: {
          enabled: true,
          warmupMs: opts.warmupMs,
          imitationTemperature: opts.imitationTemperature,
          maxDenialsPerTick: opts.maxDenialsPerTick,
          credit: opts.credit,
          ruleHoldout: opts.ruleHoldout,
        },
      },
    },
  }).learn;
}
