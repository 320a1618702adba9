// The shared user explore network trained online (behaviour-cloning warm start, then Gaussian PPO),
// as the simulator runs it (`thermostat-learned` with explore: 'learned' | 'ppo'). It is not wired
// into the Kafka job: measured over 8 seeds it did not pay (docs/LEARNING.md, "Explore learner").
// Everything happens at tick boundaries (beforeBoundary / afterBoundary), so the same seed gives
// the same run.
import type { UserKeyedExplorePolicy } from '../../agents/explore.js';
import type { ExplorePolicy } from '../../agents/scorer.js';
import { exploreCloneSet } from '../explore-clone.js';
import {
  DEFAULT_EXPLORE_REWARD,
  ExploreDecisionLog,
  type ExploreObservation,
  type ExploreRewardWeights,
} from '../explore-experience.js';
import {
  EXPLORE_OBS_WIDTH,
  LearnedExplorePolicy,
  exploreNet,
  initExploreWeights,
  packExploreObs,
} from '../explore-model.js';
import type { GaussianPpoConfig, GaussianPpoStats } from '../explore-ppo.js';
import { SampledExplorePolicy, type ExploreDecisionEvent, type ExploreNoise } from '../explore-sampling.js';
import { ExploreTrainer } from '../explore-trainer.js';
import { imitate } from '../imitation.js';
import { ModelHandle } from '../network.js';

/**
 * During the warm-up the rule decides and its (observation, probability) rows are kept as imitation
 * targets; afterwards the shared network scores each micro-batch of users in one call ('ppo': the
 * sampled policy, which records each user's decision for the reward join).
 */
export class WarmStartedExplorePolicy implements UserKeyedExplorePolicy {
  warmup: { rows: Float32Array[]; targets: number[] } | null = { rows: [], targets: [] };
  warmupMaxRows = 8192;

  constructor(
    readonly rule: ExplorePolicy,
    private readonly learned: LearnedExplorePolicy | SampledExplorePolicy,
  ) {}

  exploreProbabilitiesFor(
    userIds: readonly string[],
    mind: Float32Array,
    behaviour: Float32Array,
    rows: number,
  ): Float32Array {
    if (!this.warmup && this.learned instanceof SampledExplorePolicy)
      return this.learned.exploreProbabilitiesFor(userIds, mind, behaviour, rows);
    return this.exploreProbabilities(mind, behaviour, rows);
  }

  get policy(): 'RULE' | 'LEARNED' {
    return this.warmup ? 'RULE' : 'LEARNED';
  }

  get modelVersion(): string {
    return this.warmup ? this.rule.modelVersion : this.learned.modelVersion;
  }

  exploreProbabilities(mind: Float32Array, behaviour: Float32Array, rows: number): Float32Array {
    if (!this.warmup) return this.learned.exploreProbabilities(mind, behaviour, rows);
    const out = this.rule.exploreProbabilities(mind, behaviour, rows);
    const w = this.warmup;
    if (w.targets.length < this.warmupMaxRows) {
      const obs = packExploreObs(mind, behaviour, rows);
      for (let i = 0; i < rows && w.targets.length < this.warmupMaxRows; i++) {
        w.rows.push(obs.slice(i * EXPLORE_OBS_WIDTH, (i + 1) * EXPLORE_OBS_WIDTH));
        w.targets.push(out[i]);
      }
    }
    return out;
  }
}

export interface ExploreLearningOptions {
  /** learned: the cloned network, not trained further; ppo: then Gaussian PPO. */
  mode: 'learned' | 'ppo';
  rule: ExplorePolicy;
  seed: number;
  /** Rule decisions (event time) cloned at the first boundary after this long. */
  warmupMs: number;
  /** Rule-labelled rows with uniform mind states added to the clone set (learn/explore-clone.ts). */
  cloneExtra: number;
  reward: Partial<ExploreRewardWeights>;
  ppo: Partial<GaussianPpoConfig>;
  minBatch: number;
  maxBatch: number;
  noise: ExploreNoise;
}

export interface ExploreWarmStart {
  rows: number;
  lossBefore: number;
  lossAfter: number;
  /** Mean rule probability over the fitted rows, and the fitted network's mean on them. */
  meanTarget: number;
  meanFitted: number;
}

const mean = (xs: ArrayLike<number>): number => {
  let t = 0;
  for (let i = 0; i < xs.length; i++) t += xs[i];
  return xs.length > 0 ? t / xs.length : 0;
};

export class ExploreLearning {
  readonly handle: ModelHandle;
  readonly policy: WarmStartedExplorePolicy;
  readonly log: ExploreDecisionLog | null = null;
  readonly trainer: ExploreTrainer | null = null;
  private readonly scorer: LearnedExplorePolicy;
  warmStart: ExploreWarmStart | null = null;

  constructor(
    private readonly o: ExploreLearningOptions,
    onDecision?: (e: ExploreDecisionEvent) => void,
  ) {
    this.handle = new ModelHandle(exploreNet, initExploreWeights(o.seed));
    this.scorer = new LearnedExplorePolicy(this.handle);
    let sampler: SampledExplorePolicy | null = null;
    if (o.mode === 'ppo') {
      const log = new ExploreDecisionLog({ ...DEFAULT_EXPLORE_REWARD, ...o.reward });
      const trainer = new ExploreTrainer(this.handle, log, {
        minBatch: o.minBatch,
        maxBatch: o.maxBatch,
        ppo: o.ppo,
        seed: o.seed,
      });
      sampler = new SampledExplorePolicy(this.handle, log, () => trainer.logStd(), o.seed, o.noise);
      if (onDecision) sampler.onDecision = onDecision;
      this.log = log;
      this.trainer = trainer;
    }
    this.policy = new WarmStartedExplorePolicy(o.rule, sampler ?? this.scorer);
    if (o.warmupMs <= 0) this.policy.warmup = null;
  }

  /** One interaction the user stage sees (the decision log's reward window). */
  observe(o: ExploreObservation): void {
    this.log?.observe(o);
  }

  /** Tick boundary, before the graph runs: the warm start once the warm-up has passed. */
  beforeBoundary(eventTimeMs: number, startMs: number): void {
    const w = this.policy.warmup;
    if (!w || eventTimeMs < startMs + this.o.warmupMs) return;
    this.policy.warmup = null;
    if (w.targets.length === 0) return;
    const set = exploreCloneSet(w.rows, w.targets, this.policy.rule, this.o.cloneExtra, this.o.seed);
    const h = this.handle;
    const res = imitate(h.net, h.current.weights, set.obs, set.targets, set.rows, h.current.weights.seq + 1, {
      seed: this.o.seed,
    });
    h.swap(res.weights);
    // Fit on the rows the rule actually decided (not the widened set).
    const observed = set.obs.subarray(0, w.targets.length * EXPLORE_OBS_WIDTH);
    this.warmStart = {
      rows: set.rows,
      lossBefore: res.lossBefore,
      lossAfter: res.lossAfter,
      meanTarget: mean(w.targets),
      meanFitted: mean(this.scorer.probabilitiesOfObs(observed, w.targets.length)),
    };
  }

  /** Tick boundary, after the graph ran: one PPO update when enough decisions have closed. */
  afterBoundary(): GaussianPpoStats | null {
    if (!this.trainer || this.policy.warmup) return null;
    return this.trainer.trainNow();
  }

  /** σ of the Gaussian over the logit ('ppo'). */
  std(): number {
    return this.trainer ? Math.exp(this.trainer.logStd()) : 0;
  }

  dispose(): void {
    this.trainer?.dispose();
    this.handle.dispose();
  }
}
