// The Thermostat policies in the simulator: the real stream graph (all three stages, Avro serde,
// state stores, checkpoints) run in-process through ThermostatTestDriver. The simulator feeds it
// what a production job would read from Kafka and reads back what a ranker would read.
//
// 'thermostat-learned' adds the learned system agent (learn/): the allocation network scores the
// tick's requests, a decision is SAMPLED from it (Bernoulli, keyed draw), decisions are recorded at
// allocation time from the allocator's onTick report, heated impressions are joined back to them by
// allocation_id, and PPO updates run at tick boundaries with trainNow() (never inside a tick), so
// the same seed gives the same numbers.
import { parseAgentConfig, type AgentConfigInput } from '../agents/config.js';
import type { AllocationScorer } from '../agents/scorer.js';
import { ALLOCATION_FEATURE_COUNT } from '../agents/scorer.js';
import { keyedUniform } from '../core/rng.js';
import { RuleScorer } from '../agents/rule-scorer.js';
import {
  computeReward,
  createLearning,
  imitate,
  loadLearnConfig,
  sampleBernoulli,
  type EngagementAggregate,
  type Learning,
  type LearnedAllocationScorer,
} from '../learn/index.js';
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
import { DAY_MS } from './config.js';
import type { LearningPoint, PolicyContext, RegulationPolicy } from './policy.js';

/**
 * Agent tuning used by the Thermostat policies in the simulator (documented in docs/SIMULATOR.md):
 * grants sized to the reachable audience (a ranker shows an item once per user, so a grant larger
 * than its audience is never delivered and only holds the cap), grants as small as 3 impressions
 * (a 1,000-user world has ~30 users per category per hour), and a heating pool of
 * `poolPerUser` heated impressions per user per day (the job's default, 100,000/day, never binds
 * in a small world). Overridable with ctx.options.agents (AgentConfigInput).
 */
export const SIM_POOL_PER_USER_PER_DAY = 0.3;
export function simSystemTuning(users: number): Record<string, number> {
  return {
    reachPerActiveUser: 0.25,
    minGrant: 3,
    budgetPool: Math.max(1, Math.round(SIM_POOL_PER_USER_PER_DAY * users)),
  };
}

export interface ThermostatPolicyOptions {
  name: string;
  serde: RecordSerde;
  scorer?: () => AllocationScorer;
  agents?: AgentConfigInput;
  partitions?: number;
  onTick?: (report: TickReport) => void;
}

export class ThermostatGraphPolicy implements RegulationPolicy {
  readonly name: string;
  private flagged = new Set<string>();

  protected constructor(
    protected readonly driver: ThermostatTestDriver,
    name: string,
  ) {
    this.name = name;
  }

  static async driverFor(ctx: PolicyContext, opts: ThermostatPolicyOptions): Promise<ThermostatTestDriver> {
    const adjacency: Record<string, string[]> = {};
    for (const [c, adj] of ctx.adjacency) adjacency[c] = [...adj];
    const fromCtx = (ctx.options.agents ?? {}) as Record<string, unknown>;
    const system = {
      adjacency,
      ...simSystemTuning(ctx.users),
      ...((fromCtx.system as object) ?? {}),
      ...((opts.agents?.system as object) ?? {}),
    };
    const agents = { ...fromCtx, ...(opts.agents ?? {}), system } as AgentConfigInput;
    return ThermostatTestDriver.create({
      serde: opts.serde,
      partitions: opts.partitions ?? 2,
      tickMs: ctx.tickMs,
      seed: ctx.seed,
      agents,
      scorer: opts.scorer,
      onTick: opts.onTick,
    });
  }

  static async create(ctx: PolicyContext, opts: ThermostatPolicyOptions): Promise<ThermostatGraphPolicy> {
    return new ThermostatGraphPolicy(await ThermostatGraphPolicy.driverFor(ctx, opts), opts.name);
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
    private readonly threshold: number,
    private readonly seed: number,
  ) {}

  get modelVersion(): string {
    return this.warmup ? this.warmup.rule.modelVersion : this.inner.modelVersion;
  }

  get policy(): 'RULE' | 'LEARNED' {
    return this.warmup ? 'RULE' : 'LEARNED';
  }

  /**
   * false before the run starts: the pre-existing catalog's ticks have no traffic, so the cap
   * grants nothing whatever the scores; skipping the network there only saves time (a denial
   * everywhere, nothing recorded).
   */
  live = false;
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
      return new Float32Array(rows);
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
}

export const DEFAULT_LEARNED_OPTIONS: LearnedPolicyOptions = {
  maxDenialsPerTick: 48,
  minBatch: 768,
  maxBatch: 1024,
  maxCost: 0.5,
  costWeight: 0.3,
  epochs: 4,
  minibatchSize: 128,
  learningRate: 3e-3,
  entropyCoef: 0.01,
  warmupMs: 2 * 3_600_000,
};

interface OpenAllocation {
  agg: EngagementAggregate;
  weights: RewardWeights;
  cost: number;
  validUntil: number;
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
  private readonly days = new Map<number, DayAcc>();
  /** Behaviour-cloning warm start, when it ran: rows fitted, cross-entropy before/after. */
  warmStart: { rows: number; lossBefore: number; lossAfter: number } | null = null;

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
  }

  static async createLearned(
    ctx: PolicyContext,
    name: string,
    serde: RecordSerde,
    over: Partial<LearnedPolicyOptions> = {},
  ): Promise<LearnedThermostatPolicy> {
    const opts = { ...DEFAULT_LEARNED_OPTIONS, ...over };
    const cfg = loadLearnConfig(process.env, {
      seed: ctx.seed,
      trainer: { minBatch: opts.minBatch, maxBatch: opts.maxBatch, stepsPerTurn: 0 },
      ppo: {
        epochs: opts.epochs,
        minibatchSize: opts.minibatchSize,
        learningRate: opts.learningRate,
        entropyCoef: opts.entropyCoef,
      },
      reward: { maxCost: opts.maxCost, costWeight: opts.costWeight },
    });
    const learning = await createLearning({ config: cfg });
    const agentCfg = parseAgentConfig({});
    const scorer = new SampledAllocationScorer(
      learning.allocation.scorer,
      agentCfg.system.scoreThreshold,
      ctx.seed,
    );
    if (opts.warmupMs > 0) scorer.warmup = { rule: new RuleScorer(), rows: [], scores: [] };
    let self: LearnedThermostatPolicy | null = null;
    const driver = await ThermostatGraphPolicy.driverFor(ctx, {
      name,
      serde,
      scorer: () => scorer,
      onTick: (r) => self?.recordTick(r),
    });
    self = new LearnedThermostatPolicy(driver, name, learning, scorer, ctx, opts, cfg.reward.graceMs);
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
        });
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

  override async onInteractions(recs: UserInteraction[]): Promise<void> {
    const buffer = this.learning.allocation.buffer;
    for (const r of recs) {
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
        const res = imitate(
          h.net,
          h.current.weights,
          obs,
          Float32Array.from(w.scores),
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
    await super.advanceTo(eventTimeMs);
    const m = this.learning.allocation;
    m.buffer.advance(eventTimeMs);
    const cfg = m.buffer.cfg;
    for (const [id, a] of this.open) {
      if (a.validUntil + this.graceMs > eventTimeMs) continue;
      this.open.delete(id);
      const rwd = computeReward(a.agg, a.weights, a.cost, cfg);
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

  learningCurve(): LearningPoint[] {
    const out: LearningPoint[] = [];
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
      });
    }
    return out;
  }

  close(): void {
    this.learning.dispose();
  }
}
