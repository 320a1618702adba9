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
 * The rule's decisions during the warm-up, (observation, probability) rows kept as imitation
 * targets. The warm-started policy adds to it while it is open; the learner closes it once, at
 * the boundary that ends the warm-up, and takes the rows.
 */
export class WarmupRecord {
  private rows: Float32Array[] = [];
  private targets: number[] = [];
  private open = true;

  constructor(readonly maxRows = 8192) {}

  get recording(): boolean {
    return this.open;
  }

  /** The rule's probabilities for a micro-batch (kept up to `maxRows`). */
  add(mind: Float32Array, behaviour: Float32Array, rows: number, probabilities: Float32Array): void {
    if (!this.open || this.targets.length >= this.maxRows) return;
    const obs = packExploreObs(mind, behaviour, rows);
    for (let i = 0; i < rows && this.targets.length < this.maxRows; i++) {
      this.rows.push(obs.slice(i * EXPLORE_OBS_WIDTH, (i + 1) * EXPLORE_OBS_WIDTH));
      this.targets.push(probabilities[i]);
    }
  }

  /** Ends the warm-up: the rows recorded, handed over once (later calls get none). */
  close(): { rows: Float32Array[]; targets: number[] } {
    const out = { rows: this.rows, targets: this.targets };
    this.open = false;
    this.rows = [];
    this.targets = [];
    return out;
  }
}

/**
 * During the warm-up the rule decides and its decisions go to the warm-up record; afterwards the
 * shared network scores each micro-batch of users in one call ('ppo': the sampled policy, which
 * records each user's decision for the reward join).
 */
export class WarmStartedExplorePolicy implements UserKeyedExplorePolicy {
  constructor(
    readonly rule: ExplorePolicy,
    private readonly learned: LearnedExplorePolicy | SampledExplorePolicy,
    private readonly warmup: WarmupRecord,
  ) {}

  exploreProbabilitiesFor(
    ...args: Parameters<UserKeyedExplorePolicy['exploreProbabilitiesFor']>
  ): Float32Array {
    if (!this.warmup.recording && this.learned instanceof SampledExplorePolicy)
      return this.learned.exploreProbabilitiesFor(...args);
    const [, mind, behaviour, rows] = args;
    return this.exploreProbabilities(mind, behaviour, rows);
  }

  get policy(): 'RULE' | 'LEARNED' {
    return this.warmup.recording ? 'RULE' : 'LEARNED';
  }

  get modelVersion(): string {
    return this.warmup.recording ? this.rule.modelVersion : this.learned.modelVersion;
  }

  exploreProbabilities(mind: Float32Array, behaviour: Float32Array, rows: number): Float32Array {
    if (!this.warmup.recording) return this.learned.exploreProbabilities(mind, behaviour, rows);
    const out = this.rule.exploreProbabilities(mind, behaviour, rows);
    this.warmup.add(mind, behaviour, rows, out);
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
  private readonly warmup = new WarmupRecord();
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
      sampler = new SampledExplorePolicy(
        this.handle,
        log,
        () => trainer.logStd(),
        o.seed,
        o.noise,
        onDecision,
      );
      this.log = log;
      this.trainer = trainer;
    }
    this.policy = new WarmStartedExplorePolicy(o.rule, sampler ?? this.scorer, this.warmup);
    if (o.warmupMs <= 0) this.warmup.close();
  }

  /** The rule still decides (its decisions are recorded for the warm start). */
  get warmingUp(): boolean {
    return this.warmup.recording;
  }

  /** One interaction the user stage sees (the decision log's reward window). */
  observe(o: ExploreObservation): void {
    this.log?.observe(o);
  }

  /** Tick boundary, before the graph runs: the warm start once the warm-up has passed. */
  beforeBoundary(eventTimeMs: number, startMs: number): void {
    if (!this.warmup.recording || eventTimeMs < startMs + this.o.warmupMs) return;
    const w = this.warmup.close();
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
    if (!this.trainer || this.warmup.recording) return null;
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
