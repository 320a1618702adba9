// The Thermostat policies in the simulator: the real stream graph (all three stages, Avro serde,
// state stores, checkpoints) run in-process through ThermostatTestDriver. The simulator feeds it
// what a production job would read from Kafka and reads back what a ranker would read.
//
// 'thermostat-learned' adds the learned system agent (learn/): the allocation network scores the
// tick's requests, a decision is SAMPLED from it (Bernoulli, keyed draw), decisions are recorded at
// allocation time from the allocator's onTick report, heated impressions are joined back to them by
// allocation_id, and PPO updates run at tick boundaries with trainNow() (never inside a tick), so
// the same seed gives the same numbers. With explore: 'ppo' the user stage's explore network is
// trained online too (Gaussian PPO, learn/explore-*.ts), also only at tick boundaries.
import { parseAgentConfig, type AgentConfigInput } from '../agents/config.js';
import type { AllocationScorer, ExplorePolicy } from '../agents/scorer.js';
import { ALLOCATION_FEATURE_COUNT } from '../agents/scorer.js';
import { loadRuntimeConfig } from '../core/config.js';
import { keyedUniform } from '../core/rng.js';
import { RuleScorer } from '../agents/rule-scorer.js';
import {
  MarginalCredit,
  computeReward,
  createLearning,
  imitate,
  sampleBernoulli,
  type EngagementAggregate,
  type Learning,
  type Pending,
  type SettledGrant,
  type LearnedAllocationScorer,
  type LearnedExplorePolicy,
  EXPLORE_OBS_WIDTH,
  packExploreObs,
} from '../learn/index.js';
import {
  DEFAULT_EXPLORE_REWARD,
  ExploreDecisionLog,
  type ExploreRewardWeights,
} from '../learn/explore-experience.js';
import type { GaussianPpoConfig } from '../learn/explore-ppo.js';
import {
  SampledExplorePolicy,
  type ExploreDecisionEvent,
  type ExploreNoise,
} from '../learn/explore-sampling.js';
import { ExploreTrainer } from '../learn/explore-trainer.js';
import { exploreCloneSet } from '../learn/explore-clone.js';
import type { UserKeyedExplorePolicy } from '../agents/explore.js';
import type { ExploreLearningPoint, LearnedDayPoint } from './metrics.js';
import { RuleExplorePolicy } from '../agents/rule-explore.js';
import type { TickReport } from '../pipelines/allocator-task.js';
import type { RecordSerde } from '../pipelines/task-runner.js';
import { ThermostatTestDriver } from '../pipelines/test-driver.js';
import type {
  ContentPublished,
  HeatingAllocation,
  RewardWeights,
  UserInteraction,
  UserMindState,
} from '../schemas/types.js';
import { isEngaged } from '../agents/user.js';
import { DAY_MS } from './config.js';
import { coldStartWindow } from './engine.js';
import type { PolicyContext, RegulationPolicy } from './policy.js';
import type { GraphTransport, TransportOptions } from './transport.js';

/** ctx.options.transport, default in memory. */
function transportOf(ctx: PolicyContext): TransportOptions {
  return (ctx.options.transport as TransportOptions | undefined) ?? { kind: 'inprocess' };
}

export interface ThermostatPolicyOptions {
  name: string;
  serde: RecordSerde;
  scorer?: () => AllocationScorer;
  /** A learned user explore policy (default: the rule). */
  explore?: () => ExplorePolicy;
  agents?: AgentConfigInput;
  partitions?: number;
  onTick?: (report: TickReport) => void;
}

export class ThermostatGraphPolicy implements RegulationPolicy {
  readonly name: string;
  private flagged = new Set<string>();

  protected constructor(
    protected readonly driver: GraphTransport,
    name: string,
  ) {
    this.name = name;
  }

  /**
   * The agents config of a simulator run: the job's shipped defaults, overridden only by
   * ctx.options.agents (a budget, in the benchmarks) and then opts.agents. No simulator tuning.
   */
  static agentsFor(ctx: PolicyContext, opts: ThermostatPolicyOptions): AgentConfigInput {
    const fromCtx = (ctx.options.agents ?? {}) as Record<string, unknown>;
    const system = { ...((fromCtx.system as object) ?? {}), ...((opts.agents?.system as object) ?? {}) };
    return { ...fromCtx, ...(opts.agents ?? {}), system } as AgentConfigInput;
  }

  /** The in-memory graph (ThermostatTestDriver); the learned policy needs it (scorer and onTick run inside). */
  static async driverFor(ctx: PolicyContext, opts: ThermostatPolicyOptions): Promise<ThermostatTestDriver> {
    const transport = transportOf(ctx);
    if (transport.kind !== 'inprocess')
      throw new Error(
        `policy '${opts.name}' supports only --transport inprocess (its scorer and tick reports run inside the in-memory graph)`,
      );
    return ThermostatTestDriver.create({
      serde: opts.serde,
      partitions: opts.partitions ?? 2,
      tickMs: ctx.tickMs,
      seed: ctx.seed,
      agents: ThermostatGraphPolicy.agentsFor(ctx, opts),
      scorer: opts.scorer,
      explore: opts.explore,
      onTick: opts.onTick,
    });
  }

  /**
   * The graph as ctx.options.transport says: in memory (default), or the real job on Kafka with
   * the same settings (sim/kafka-transport.ts; loaded only then, so in-memory runs never load the
   * Kafka client). The Kafka job runs the rule scorer, so a custom scorer or onTick stays in memory.
   */
  static async transportFor(ctx: PolicyContext, opts: ThermostatPolicyOptions): Promise<GraphTransport> {
    const transport = transportOf(ctx);
    if (transport.kind === 'inprocess') return ThermostatGraphPolicy.driverFor(ctx, opts);
    if (opts.scorer || opts.onTick)
      throw new Error(
        `policy '${opts.name}' supports only --transport inprocess (custom scorer / tick reports)`,
      );
    const { KafkaGraphTransport, simAppId } = await import('./kafka-transport.js');
    const job = transport.brokers && transport.redisUrl ? undefined : loadRuntimeConfig();
    return new KafkaGraphTransport({
      brokers: transport.brokers ?? job!.kafka.brokers,
      redisUrl: transport.redisUrl ?? job!.redis.url,
      appId: simAppId(ctx.seed),
      partitions: opts.partitions ?? 2,
      tickMs: ctx.tickMs,
      seed: ctx.seed,
      agents: ThermostatGraphPolicy.agentsFor(ctx, opts),
    });
  }

  static async create(ctx: PolicyContext, opts: ThermostatPolicyOptions): Promise<ThermostatGraphPolicy> {
    return new ThermostatGraphPolicy(await ThermostatGraphPolicy.transportFor(ctx, opts), opts.name);
  }

  /** Stops the Kafka job and removes its run's topics and keys (nothing to do in memory). */
  close(): void | Promise<void> {
    return this.driver.close?.();
  }

  async onPublished(recs: ContentPublished[]): Promise<void> {
    if (recs.length > 0) await this.driver.pipeInput('content-published', recs);
  }

  async onInteractions(recs: UserInteraction[]): Promise<void> {
    if (recs.length > 0) await this.driver.pipeInput('user-interactions', recs);
  }

  async advanceTo(eventTimeMs: number): Promise<void> {
    await this.driver.advanceEventTime(eventTimeMs);
    for (const c of this.driver.readOutput<{ content_id: string; flagged_cheating: boolean }>(
      'content-state',
    )) {
      if (c.flagged_cheating) this.flagged.add(c.content_id);
    }
  }

  newAllocations(): HeatingAllocation[] {
    return this.driver.readOutput<HeatingAllocation>('heating-allocations');
  }

  mindState(userId: string): UserMindState | undefined {
    return this.driver.userState(userId);
  }

  flaggedContent(): ReadonlySet<string> {
    return this.flagged;
  }
}

const mean = (xs: ArrayLike<number>): number => {
  let t = 0;
  for (let i = 0; i < xs.length; i++) t += xs[i];
  return xs.length > 0 ? t / xs.length : 0;
};

/** Bernoulli entropy in nats. */
const entropyOf = (p: number): number => {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return -(q * Math.log(q) + (1 - q) * Math.log(1 - q));
};

/** Hash of one feature row (its float32 bits): the keyed draw depends on the row only. */
function rowKey(f: Float32Array, off: number, width: number): number {
  const u = new Uint32Array(f.buffer, f.byteOffset + off * 4, width);
  let h = 0x811c9dc5;
  for (let i = 0; i < width; i++) h = Math.imul(h ^ u[i], 0x01000193) >>> 0;
  return h;
}

/** What the sampled scorer decided for the last batch (read by onTick right after allocateTick). */
interface LastBatch {
  rows: number;
  features: Float32Array;
  probs: Float32Array;
  actions: Uint8Array;
  logProbs: Float64Array;
  version: string;
}

/**
 * The learned scorer as a stochastic policy: P(approve) from the allocation network, the action
 * sampled with a draw keyed by (seed, model version, feature row), so the score stays a pure function
 * of its input (a replay samples identically). An approval is returned as a score mapped into
 * [threshold, 1] (order kept, so clearing still ranks by P(approve)); a denial as 0.
 */
export class SampledAllocationScorer implements AllocationScorer {
  last: LastBatch | null = null;

  constructor(
    private readonly inner: LearnedAllocationScorer,
    readonly threshold: number,
    private readonly seed: number,
  ) {}

  get modelVersion(): string {
    return this.warmup || !this.live ? this.rule.modelVersion : this.inner.modelVersion;
  }

  get policy(): 'RULE' | 'LEARNED' {
    return this.warmup || !this.live ? 'RULE' : 'LEARNED';
  }

  /**
   * false before the run starts (the pre-existing catalog's ticks): the rule scores them and
   * nothing is recorded, so by construction both policies enter the run from the same state
   * (test: with the rule deciding throughout, the learned run equals thermostat-rule).
   */
  live = false;
  private readonly rule = new RuleScorer();
  /**
   * Warm-up (behaviour cloning): while set, the rule scorer decides (policy RULE) and its rows and
   * scores are kept (at most `warmupMaxRows`) as the network's imitation targets.
   */
  warmup: { rule: AllocationScorer; rows: Float32Array[]; scores: number[] } | null = null;
  warmupMaxRows = 8192;

  score(features: Float32Array, rows: number): Float32Array {
    const W = ALLOCATION_FEATURE_COUNT;
    if (!this.live) {
      this.last = null;
      return this.rule.score(features, rows);
    }
    if (this.warmup) {
      this.last = null;
      const out = this.warmup.rule.score(features, rows);
      for (let i = 0; i < rows && this.warmup.scores.length < this.warmupMaxRows; i++) {
        this.warmup.rows.push(Float32Array.from(features.subarray(i * W, (i + 1) * W)));
        this.warmup.scores.push(out[i]);
      }
      return out;
    }
    const { scores: probs, modelVersion } = this.inner.scoreWithVersion(features, rows);
    const out = new Float32Array(rows);
    const actions = new Uint8Array(rows);
    const logProbs = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      const u = keyedUniform(this.seed, 'alloc-sample', modelVersion, rowKey(features, i * W, W));
      const s = sampleBernoulli(probs[i], u);
      actions[i] = s.action;
      logProbs[i] = s.logProb;
      out[i] = s.action === 1 ? this.threshold + (1 - this.threshold) * probs[i] : 0;
    }
    this.last = {
      rows,
      features: Float32Array.from(features.subarray(0, rows * W)),
      probs: Float32Array.from(probs),
      actions,
      logProbs,
      version: modelVersion,
    };
    return out;
  }
}

/**
 * The user stage's explore policy in 'thermostat-learned' with explore: 'learned' | 'ppo'. During
 * the warm-up the rule decides and its (observation, probability) rows are kept as imitation
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
   * Warm start: for this long after the run starts the rule scorer decides while the network is
   * fitted to its scores (behaviour cloning, learn/imitation.ts); then the learned policy takes
   * over and PPO fine-tunes it. 0 = start from the seeded random weights.
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
  /**
   * Credit assignment. 'marginal' (learn/credit.ts): a grant earns the value of what it delivered
   * (summed, not a rate) plus `coldStartBonus` when the item crossed the cold-start bar while it
   * was delivering, optionally minus λ·granted at the shadow price of the cap/pool
   * (`opportunityCost`). 'bandit': the per-allocation engagement rate of learn/experience.ts (the
   * earlier behaviour; kept for comparison).
   */
  credit: 'marginal' | 'bandit';
  coldStartBonus: number;
  /** Marginal credit without the λ·granted term (value + cold-start credit only), for comparison. */
  opportunityCost: boolean;
  /** Marginal credit: value units charged per delivered heated impression left unclicked (learn/credit.ts). */
  dissatisfactionPenalty: number;
  /**
   * Warm start target = sigmoid((rule score − threshold)/τ): the rule's approve/deny decision,
   * softened (τ → 0: hard labels; τ large: the raw score's order with P ≈ 0.5 everywhere).
   */
  imitationTemperature: number;
  /**
   * User explore policy: 'rule' (agents/rule-explore); 'learned': the shared explore network
   * (learn/explore-model.ts), called once per user-stage micro-batch, warm-started by behaviour
   * cloning of the rule's probabilities over the same warm-up window and not trained further;
   * 'ppo': the same warm start, then the network is a Gaussian policy over its logit (the action
   * is the emitted probability itself, which IS observable, unlike the ranker's per-slot draw),
   * each user's decision is rewarded by the interactions served under it (learn/explore-experience.ts)
   * and Gaussian PPO fine-tunes it at tick boundaries (docs/LEARNING.md).
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
  coldStartBonus: 10,
  // The shadow-price term lowered cold start in every measured variant (docs/results/learning.md): off.
  opportunityCost: false,
  dissatisfactionPenalty: 0,
  imitationTemperature: 0.03,
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

interface OpenAllocation {
  agg: EngagementAggregate;
  weights: RewardWeights;
  cost: number;
  validUntil: number;
  contentId: string;
  granted: number;
  /** The item crossed the cold-start bar while this allocation was delivering. */
  coldStart: boolean;
}

/** What the policy observes of a new item within its cold-start window. */
interface ColdStartTrack {
  publishedAt: number;
  impressions: number;
  engaged: number;
  crossed: boolean;
}

interface ExploreDayAcc {
  decisions: number;
  probabilitySum: number;
  rewardSum: number;
  rewardN: number;
  updates: number;
  std: number;
}

interface DayAcc {
  rows: number;
  approvals: number;
  entropy: number;
  rewardSum: number;
  rewardN: number;
  approvedSum: number;
  approvedN: number;
  updates: number;
}

/** Thermostat on the real graph with the learned allocation scorer trained online by PPO. */
export class LearnedThermostatPolicy extends ThermostatGraphPolicy {
  private readonly open = new Map<string, OpenAllocation>();
  /** Latest granted allocation per content (the one a cold-start crossing is credited to). */
  private readonly openByContent = new Map<string, string>();
  private readonly cold = new Map<string, ColdStartTrack>();
  private readonly credit: MarginalCredit | null;
  /** Items seen crossing the cold-start bar, and how many of those crossings a grant was credited for. */
  coldStarts = { crossed: 0, credited: 0 };
  /** Reward the credit rule gave each settled grant (for the learning curves). */
  private readonly shaped = new Map<string, number>();
  private readonly userCfg = parseAgentConfig({}).user;
  private readonly days = new Map<number, DayAcc>();
  /** Behaviour-cloning warm start, when it ran: rows fitted, cross-entropy before/after. */
  warmStart: { rows: number; lossBefore: number; lossAfter: number } | null = null;
  /** The same for the explore network (explore: 'learned'). */
  exploreWarmStart: {
    rows: number;
    lossBefore: number;
    lossAfter: number;
    /** Mean rule probability over the fitted rows, and the fitted network's mean on them. */
    meanTarget: number;
    meanFitted: number;
  } | null = null;
  explorePolicy: WarmStartedExplorePolicy | null = null;
  /** explore: 'ppo' — the decision log, its trainer and per-day curves. */
  exploreLog: ExploreDecisionLog | null = null;
  exploreTrainer: ExploreTrainer | null = null;
  private readonly exploreDays = new Map<number, ExploreDayAcc>();
  /** Event time of the boundary being processed (explore decisions are made inside advanceTo). */
  private now = 0;

  private constructor(
    driver: ThermostatTestDriver,
    name: string,
    private readonly learning: Learning,
    private readonly scorer: SampledAllocationScorer,
    private readonly ctx: PolicyContext,
    private readonly opts: LearnedPolicyOptions,
    private readonly graceMs: number,
  ) {
    super(driver, name);
    this.credit =
      opts.credit === 'marginal'
        ? new MarginalCredit(learning.allocation.buffer.cfg, {
            coldStartBonus: opts.coldStartBonus,
            alpha: 0.2,
            opportunityCost: opts.opportunityCost,
            dissatisfactionPenalty: opts.dissatisfactionPenalty,
          })
        : null;
  }

  static async createLearned(
    ctx: PolicyContext,
    name: string,
    serde: RecordSerde,
    over: Partial<LearnedPolicyOptions> = {},
  ): Promise<LearnedThermostatPolicy> {
    const opts = { ...DEFAULT_LEARNED_OPTIONS, ...over };
    // The simulator's learner settings, under the configuration file and environment (as the job's).
    const base = {
      seed: ctx.seed,
      trainer: { minBatch: opts.minBatch, maxBatch: opts.maxBatch, stepsPerTurn: 0 },
      ppo: {
        epochs: opts.epochs,
        minibatchSize: opts.minibatchSize,
        learningRate: opts.learningRate,
        entropyCoef: opts.entropyCoef,
      },
      reward: { maxCost: opts.maxCost, costWeight: opts.costWeight },
    };
    const cfg = loadRuntimeConfig({ base: { learn: base } }).learn;
    const learning = await createLearning({ config: cfg });
    const agentCfg = parseAgentConfig({});
    const scorer = new SampledAllocationScorer(
      learning.allocation.scorer,
      agentCfg.system.scoreThreshold,
      ctx.seed,
    );
    if (opts.warmupMs > 0) scorer.warmup = { rule: new RuleScorer(), rows: [], scores: [] };
    let exploreLog: ExploreDecisionLog | null = null;
    let exploreTrainer: ExploreTrainer | null = null;
    let sampler: SampledExplorePolicy | null = null;
    if (opts.explore === 'ppo') {
      exploreLog = new ExploreDecisionLog({ ...DEFAULT_EXPLORE_REWARD, ...opts.exploreReward });
      exploreTrainer = new ExploreTrainer(learning.explore.handle, exploreLog, {
        minBatch: opts.exploreMinBatch,
        maxBatch: opts.exploreMaxBatch,
        ppo: { ...DEFAULT_EXPLORE_PPO, ...opts.explorePpo },
        seed: ctx.seed,
      });
      const t = exploreTrainer;
      sampler = new SampledExplorePolicy(
        learning.explore.handle,
        exploreLog,
        () => t.logStd(),
        ctx.seed,
        opts.exploreNoise,
      );
    }
    const explore =
      opts.explore === 'rule'
        ? null
        : new WarmStartedExplorePolicy(
            new RuleExplorePolicy(agentCfg.user.explore),
            sampler ?? learning.explore.scorer,
          );
    if (explore && opts.exploreWarmupMs <= 0) explore.warmup = null;
    let self: LearnedThermostatPolicy | null = null;
    const driver = await ThermostatGraphPolicy.driverFor(ctx, {
      name,
      serde,
      scorer: () => scorer,
      explore: explore ? () => explore : undefined,
      onTick: (r) => self?.recordTick(r),
    });
    self = new LearnedThermostatPolicy(driver, name, learning, scorer, ctx, opts, cfg.reward.graceMs);
    self.explorePolicy = explore;
    self.exploreLog = exploreLog;
    self.exploreTrainer = exploreTrainer;
    const me = self;
    if (sampler) sampler.onDecision = (e) => me.recordExploreDecision(e);
    return self;
  }

  private day(t: number): DayAcc {
    const d = Math.floor((t - this.ctx.startMs) / DAY_MS);
    let a = this.days.get(d);
    if (!a) {
      a = {
        rows: 0,
        approvals: 0,
        entropy: 0,
        rewardSum: 0,
        rewardN: 0,
        approvedSum: 0,
        approvedN: 0,
        updates: 0,
      };
      this.days.set(d, a);
    }
    return a;
  }

  private exploreDay(t: number): ExploreDayAcc {
    const d = Math.floor((t - this.ctx.startMs) / DAY_MS);
    let a = this.exploreDays.get(d);
    if (!a) {
      a = { decisions: 0, probabilitySum: 0, rewardSum: 0, rewardN: 0, updates: 0, std: 0 };
      this.exploreDays.set(d, a);
    }
    return a;
  }

  private recordExploreDecision(e: ExploreDecisionEvent): void {
    const acc = this.exploreDay(this.now);
    acc.decisions++;
    acc.probabilitySum += e.probability;
    if (e.closed) {
      acc.rewardSum += e.closed.reward;
      acc.rewardN++;
    }
  }

  /** Allocation time: one decision per scored request (wiring rule of docs/LEARNING.md). */
  private recordTick(r: TickReport): void {
    const last = this.scorer.last;
    this.scorer.last = null;
    if (!last || last.rows !== r.requests.length || r.tick < this.ctx.startMs) return;
    const W = ALLOCATION_FEATURE_COUNT;
    // allocateTick scored the requests sorted by content id: row i ↔ sorted[i].
    const sorted = [...r.requests].sort((a, b) =>
      a.content_id < b.content_id ? -1 : a.content_id > b.content_id ? 1 : 0,
    );
    const granted = new Map(r.allocations.map((a) => [a.content_id, a]));
    const acc = this.day(r.tick);
    const buffer = this.learning.allocation.buffer;
    let denials = 0;
    for (let i = 0; i < last.rows; i++) if (last.actions[i] === 0) denials++;
    const keep = Math.min(1, this.opts.maxDenialsPerTick / Math.max(1, denials));
    for (let i = 0; i < last.rows; i++) {
      acc.rows++;
      acc.entropy += entropyOf(last.probs[i]);
      const obs = last.features.subarray(i * W, (i + 1) * W);
      const id = sorted[i].content_id;
      if (last.actions[i] === 1) {
        acc.approvals++;
        const a = granted.get(id);
        // An approval the cap/pool/demand overrode has no observable outcome: not recorded.
        if (!a) continue;
        buffer.record({
          allocationId: a.allocation_id,
          obs,
          action: 1,
          logProb: last.logProbs[i],
          weights: a.reward_weights,
          cost: a.cost,
          validUntil: a.valid_until,
        });
        this.open.set(a.allocation_id, {
          agg: { impressions: 0, clicks: 0, completion: 0, shares: 0 },
          weights: a.reward_weights,
          cost: a.cost,
          validUntil: a.valid_until,
          contentId: id,
          granted: a.impressions,
          coldStart: false,
        });
        this.openByContent.set(id, a.allocation_id);
      } else if (keyedUniform(this.ctx.seed, 'deny', id, r.tick) < keep) {
        buffer.record({
          allocationId: `deny:${id}@${r.tick}`,
          obs,
          action: 0,
          logProb: last.logProbs[i],
          weights: r.allocations[0]?.reward_weights ?? {
            user_satisfaction: 0,
            platform_revenue: 0,
            long_term: 0,
          },
          cost: 0,
          validUntil: r.tick,
        });
        acc.rewardN++; // reward 0
      }
    }
  }

  override async onPublished(recs: ContentPublished[]): Promise<void> {
    for (const c of recs)
      if (!this.cold.has(c.content_id))
        this.cold.set(c.content_id, {
          publishedAt: c.published_at,
          impressions: 0,
          engaged: 0,
          crossed: false,
        });
    await super.onPublished(recs);
  }

  /**
   * Cold-start bookkeeping from the interactions the job sees: the bar is the product's (world
   * config: ≥ coldStartImpressions impressions and ≥ coldStartEngaged engaged views within the
   * cold-start window), "engaged" is the agents' notion (click with completion or share). The
   * crossing is credited to the item's allocation that is delivering at that moment.
   */
  private trackColdStart(r: UserInteraction): void {
    const c = this.cold.get(r.content_id);
    if (!c || c.crossed || r.event_time - c.publishedAt >= coldStartWindow(this.ctx.world)) return;
    c.impressions++;
    if (isEngaged(r, this.userCfg)) c.engaged++;
    if (c.impressions < this.ctx.world.coldStartImpressions || c.engaged < this.ctx.world.coldStartEngaged)
      return;
    c.crossed = true;
    this.coldStarts.crossed++;
    const id = this.openByContent.get(r.content_id);
    const a = id === undefined ? undefined : this.open.get(id);
    if (a && a.agg.impressions > 0 && r.event_time < a.validUntil) {
      a.coldStart = true;
      this.coldStarts.credited++;
    }
  }

  override async onInteractions(recs: UserInteraction[]): Promise<void> {
    const buffer = this.learning.allocation.buffer;
    for (const r of recs) {
      if (this.exploreLog && r.event_time >= this.ctx.startMs)
        this.exploreLog.observe({
          userId: r.user_id,
          category: r.category,
          isNewContent: r.is_new_content,
          engaged: isEngaged(r, this.userCfg),
          dwellMs: r.dwell_ms,
        });
      if (this.credit && r.event_time >= this.ctx.startMs) this.trackColdStart(r);
      if (!r.heated || !r.allocation_id) continue;
      const o = { allocationId: r.allocation_id, click: r.click, completion: r.completion, shared: r.shared };
      if (buffer.observe(o)) {
        const a = this.open.get(r.allocation_id);
        if (a) {
          a.agg.impressions++;
          if (r.click) a.agg.clicks++;
          a.agg.completion += Math.min(1, Math.max(0, r.completion));
          if (r.shared) a.agg.shares++;
        }
      }
    }
    await super.onInteractions(recs);
  }

  /** Explore warm start: behaviour cloning of the rule's probabilities, at a tick boundary. */
  private cloneExploreWarmup(eventTimeMs: number): void {
    const ew = this.explorePolicy?.warmup;
    if (this.explorePolicy && ew && eventTimeMs >= this.ctx.startMs + this.opts.exploreWarmupMs) {
      this.explorePolicy.warmup = null;
      if (ew.targets.length > 0) {
        const h = this.learning.explore.handle;
        const set = exploreCloneSet(
          ew.rows,
          ew.targets,
          this.explorePolicy.rule,
          this.opts.exploreCloneExtra,
          this.ctx.seed,
        );
        const res = imitate(
          h.net,
          h.current.weights,
          set.obs,
          set.targets,
          set.rows,
          h.current.weights.seq + 1,
          {
            seed: this.ctx.seed,
          },
        );
        h.swap(res.weights);
        // Fit on the rows the rule actually decided (not the widened set).
        const observed = set.obs.subarray(0, ew.targets.length * EXPLORE_OBS_WIDTH);
        this.exploreWarmStart = {
          rows: set.rows,
          lossBefore: res.lossBefore,
          lossAfter: res.lossAfter,
          meanTarget: mean(ew.targets),
          meanFitted: mean(this.learning.explore.scorer.probabilitiesOfObs(observed, ew.targets.length)),
        };
      }
    }
  }

  /** Tick boundary: ticks run, outcomes settle by event time, then (maybe) one PPO update. */
  override async advanceTo(eventTimeMs: number): Promise<void> {
    this.scorer.live = eventTimeMs >= this.ctx.startMs;
    const w = this.scorer.warmup;
    if (w && eventTimeMs >= this.ctx.startMs + this.opts.warmupMs) {
      // Behaviour cloning at a tick boundary, before the tick's scoring: deterministic.
      this.scorer.warmup = null;
      if (w.rows.length > 0) {
        const W = ALLOCATION_FEATURE_COUNT;
        const obs = new Float32Array(w.rows.length * W);
        w.rows.forEach((r, i) => obs.set(r, i * W));
        const h = this.learning.allocation.handle;
        // Target = the rule's DECISION, softened around its threshold (order kept for clearing):
        // fitting P(approve) to the raw score would approve a 0.35-score request 35% of the time
        // and a 0.25-score one (denied by the rule) 25% of the time.
        const tau = this.opts.imitationTemperature;
        const thr = this.scorer.threshold;
        const targets = Float32Array.from(w.scores, (s) => 1 / (1 + Math.exp(-(s - thr) / tau)));
        const res = imitate(
          h.net,
          h.current.weights,
          obs,
          targets,
          w.rows.length,
          h.current.weights.seq + 1,
          {
            seed: this.ctx.seed,
          },
        );
        h.swap(res.weights); // the trainer's learner follows the swap (Trainer.onSwap)
        this.warmStart = { rows: w.rows.length, lossBefore: res.lossBefore, lossAfter: res.lossAfter };
      }
    }
    this.cloneExploreWarmup(eventTimeMs);
    this.now = eventTimeMs;
    await super.advanceTo(eventTimeMs);
    this.trainExplore(eventTimeMs);
    const m = this.learning.allocation;
    m.buffer.advance(eventTimeMs, this.credit ? (due) => this.marginalRewards(due) : undefined);
    const cfg = m.buffer.cfg;
    for (const [id, a] of this.open) {
      if (a.validUntil + this.graceMs > eventTimeMs) continue;
      this.open.delete(id);
      if (this.openByContent.get(a.contentId) === id) this.openByContent.delete(a.contentId);
      const rwd = this.shaped.get(id) ?? computeReward(a.agg, a.weights, a.cost, cfg);
      this.shaped.delete(id);
      const acc = this.day(a.validUntil);
      acc.approvedSum += rwd;
      acc.approvedN++;
      acc.rewardSum += rwd;
      acc.rewardN++;
    }
    if (m.buffer.readyCount >= m.trainer.cfg.minBatch) {
      const res = await m.trainer.trainNow();
      if (res) this.day(Math.max(this.ctx.startMs, eventTimeMs - 1)).updates++;
    }
  }

  /** Tick boundary, after the graph ran: one explore PPO update when enough decisions have closed. */
  private trainExplore(eventTimeMs: number): void {
    if (!this.exploreTrainer || this.explorePolicy?.warmup) return;
    const stats = this.exploreTrainer.trainNow();
    const acc = this.exploreDay(Math.max(this.ctx.startMs, eventTimeMs - 1));
    if (stats) acc.updates++;
    acc.std = Math.exp(this.exploreTrainer.logStd());
  }

  /** Marginal credit for one settle batch (the buffer's pending approvals due at this boundary). */
  private marginalRewards(due: readonly Pending[]): number[] {
    const grants: SettledGrant[] = [];
    const idx: number[] = [];
    const out = due.map(() => 0);
    due.forEach((p, i) => {
      const a = this.open.get(p.d.allocationId);
      if (p.d.action !== 1 || !a) return;
      idx.push(i);
      grants.push({
        agg: p.agg,
        weights: p.d.weights,
        cost: p.d.cost,
        granted: a.granted,
        coldStart: a.coldStart,
      });
    });
    const rewards = this.credit!.settle(grants);
    idx.forEach((i, k) => {
      out[i] = rewards[k];
      this.shaped.set(due[i].d.allocationId, rewards[k]);
    });
    return out;
  }

  /** The explore learner's day `d` (explore: 'ppo' only). */
  private exploreCurve(d: number): ExploreLearningPoint | undefined {
    if (!this.exploreTrainer) return undefined;
    const a = this.exploreDays.get(d);
    if (!a) return undefined;
    return {
      decisions: a.decisions,
      meanProbability: a.decisions > 0 ? a.probabilitySum / a.decisions : 0,
      reward: a.rewardN > 0 ? a.rewardSum / a.rewardN : 0,
      rewarded: a.rewardN,
      std: a.std,
      entropy: a.std > 0 ? 0.5 * Math.log(2 * Math.PI * Math.E) + Math.log(a.std) : 0,
      updates: a.updates,
      modelVersion: this.learning.explore.handle.version,
    };
  }

  learningCurve(): LearnedDayPoint[] {
    const out: LearnedDayPoint[] = [];
    for (const [d, a] of [...this.days].sort((x, y) => x[0] - y[0])) {
      if (d < 0 || d >= this.ctx.days) continue;
      out.push({
        day: d + 1,
        reward: a.rewardN > 0 ? a.rewardSum / a.rewardN : 0,
        approvedReward: a.approvedN > 0 ? a.approvedSum / a.approvedN : 0,
        entropy: a.rows > 0 ? a.entropy / a.rows : 0,
        approvalRate: a.rows > 0 ? a.approvals / a.rows : 0,
        updates: a.updates,
        modelVersion: this.learning.allocation.handle.version,
        explore: this.exploreCurve(d),
      });
    }
    return out;
  }

  override async close(): Promise<void> {
    this.exploreTrainer?.dispose();
    this.learning.dispose();
    await super.close();
  }
}
