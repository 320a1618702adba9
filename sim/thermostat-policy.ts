// The Thermostat policies in the simulator: the real stream graph (all three stages, Avro serde,
// state stores, checkpoints) run in-process through ThermostatTestDriver. The simulator feeds it
// what a production job would read from Kafka and reads back what a ranker would read.
//
// 'thermostat-learned' is a thin client of the job's online learner (learn/online/): the same
// allocator model port, reward join (the allocator's own outcome records), PPO learner, guard and
// control records on the allocator's input log as `thermostat run` with learning on. Only the
// training runs in-thread, published inside the tick that triggered it, so the same seed gives the
// same numbers. With explore: 'learned' | 'ppo' the user stage's explore network is also trained
// (learn/online/explore.ts; simulator only, it did not pay).
import { parseAgentConfig, type AgentConfigInput } from '../agents/config.js';
import type { AllocationScorer, ExplorePolicy } from '../agents/scorer.js';
import { RuleExplorePolicy } from '../agents/rule-explore.js';
import { RuleScorer } from '../agents/rule-scorer.js';
import { isEngaged } from '../agents/user.js';
import { loadRuntimeConfig } from '../core/config.js';
import type { ExploreRewardWeights } from '../learn/explore-experience.js';
import type { GaussianPpoConfig } from '../learn/explore-ppo.js';
import type { ExploreDecisionEvent, ExploreNoise } from '../learn/explore-sampling.js';
import { ExploreLearning } from '../learn/online/explore.js';
import { createOnlineLearning, type LearnerEvent, type OnlineLearning } from '../learn/online/index.js';
import type { AllocatorModelPort } from '../pipelines/allocator-control.js';
import type { TickReport } from '../pipelines/allocator-task.js';
import type { RecordSerde } from '../pipelines/task-runner.js';
import { ThermostatTestDriver } from '../pipelines/test-driver.js';
import { PUBLIC_TOPICS } from '../pipelines/topology.js';
import type {
  ContentPublished,
  HeatingAllocation,
  UserInteraction,
  UserMindState,
} from '../schemas/types.js';
import type { ExploreLearningPoint, LearnedDayPoint } from './metrics.js';
import { DAY_MS } from './config.js';
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
  /** Online learning: the allocator's model port (learn/online/). */
  models?: AllocatorModelPort;
}

/**
 * Event time between the in-memory graph's checkpoints: what it has consumed is then dropped from
 * its topics. Each checkpoint costs a pass over the dirty state, so not every 15-minute tick.
 */
const CHECKPOINT_EVERY_MS = 6 * 3_600_000;

export class ThermostatGraphPolicy implements RegulationPolicy {
  readonly name: string;
  private flagged = new Set<string>();
  private checkpointedAt = -Infinity;

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
      models: opts.models,
      // What the simulator reads; every other record goes once its stage has checkpointed past it.
      reads: [PUBLIC_TOPICS.allocations, PUBLIC_TOPICS.contentChangelog],
      // Internal records by reference, as a job running every stage in one process can: the same
      // outputs as the Avro hop (test/unit/pipelines/local-hop), less CPU and no transient bytes.
      localHop: true,
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
    if (opts.scorer || opts.onTick || opts.models)
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
    if (eventTimeMs - this.checkpointedAt >= CHECKPOINT_EVERY_MS) {
      this.checkpointedAt = eventTimeMs;
      await this.driver.checkpoint?.();
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
  rollbacks: number;
  rejected: number;
  modelVersion: string | null;
}

/** Thermostat on the real graph with the job's online learner (learn/online/) training it. */
export class LearnedThermostatPolicy extends ThermostatGraphPolicy {
  private readonly days = new Map<number, DayAcc>();
  private readonly exploreDays = new Map<number, ExploreDayAcc>();
  private readonly userCfg = parseAgentConfig({}).user;
  /** Event time of the boundary being processed (explore decisions are made inside advanceTo). */
  private now = 0;
  /** Every learner event (published versions, rollbacks, rejections), for reports and tests. */
  readonly events: LearnerEvent[] = [];

  private constructor(
    driver: ThermostatTestDriver,
    name: string,
    readonly learning: OnlineLearning,
    readonly explore: ExploreLearning | null,
    private readonly ctx: PolicyContext,
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
    // The simulator's learner settings, under the configuration file and environment (as the job's).
    const cfg = loadRuntimeConfig({
      base: {
        learn: {
          seed: ctx.seed,
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
    const agents = parseAgentConfig(ThermostatGraphPolicy.agentsFor(ctx, { name, serde }));
    let driver: ThermostatTestDriver | null = null;
    let self: LearnedThermostatPolicy | null = null;
    const learning = await createOnlineLearning({
      config: cfg,
      agents,
      mode: 'simulation',
      // Control records go to the allocator's input topic of the in-memory graph, like the job's.
      control: { send: (c) => driver!.controlSink().send(c) },
      onEvent: (e) => self?.onLearnerEvent(e),
    });
    learning.learner.activateFrom(ctx.startMs);
    const explore =
      opts.explore === 'rule'
        ? null
        : new ExploreLearning(
            {
              mode: opts.explore,
              rule: new RuleExplorePolicy(agents.user.explore),
              seed: ctx.seed,
              warmupMs: opts.exploreWarmupMs,
              cloneExtra: opts.exploreCloneExtra,
              reward: opts.exploreReward,
              ppo: { ...DEFAULT_EXPLORE_PPO, ...opts.explorePpo },
              minBatch: opts.exploreMinBatch,
              maxBatch: opts.exploreMaxBatch,
              noise: opts.exploreNoise,
            },
            (e) => self?.recordExploreDecision(e),
          );
    driver = await ThermostatGraphPolicy.driverFor(ctx, {
      name,
      serde,
      models: learning.models,
      onTick: learning.onTick,
      explore: explore ? () => explore.policy : undefined,
    });
    self = new LearnedThermostatPolicy(driver, name, learning, explore, ctx);
    return self;
  }

  private dayOf(t: number): number {
    return Math.floor((t - this.ctx.startMs) / DAY_MS);
  }

  private day(t: number): DayAcc {
    const d = this.dayOf(t);
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
        rollbacks: 0,
        rejected: 0,
        modelVersion: null,
      };
      this.days.set(d, a);
    }
    return a;
  }

  private onLearnerEvent(e: LearnerEvent): void {
    if (e.type === 'decisions') {
      if (e.d.policy !== 'LEARNED') return;
      const a = this.day(e.d.tick);
      a.rows += e.d.rows;
      a.approvals += e.d.approvals;
      a.entropy += e.d.entropy;
      a.rewardN += e.d.recordedDenials; // reward 0
      a.modelVersion = e.d.version;
      return;
    }
    if (e.type === 'settled') {
      const a = this.day(e.tick);
      for (const g of e.grants) {
        if (g.policy !== 'LEARNED') continue;
        a.approvedSum += g.reward;
        a.approvedN++;
        a.rewardSum += g.reward;
        a.rewardN++;
      }
      return;
    }
    this.events.push(e);
    if (e.type === 'published' && e.reason === 'ppo_update') this.day(e.tick).updates++;
    if (e.type === 'rollback') this.day(e.tick).rollbacks++;
    if (e.type === 'rejected') this.day(e.tick).rejected++;
  }

  private exploreDay(t: number): ExploreDayAcc {
    const d = this.dayOf(t);
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

  override async onInteractions(recs: UserInteraction[]): Promise<void> {
    if (this.explore)
      for (const r of recs)
        if (r.event_time >= this.ctx.startMs)
          this.explore.observe({
            userId: r.user_id,
            category: r.category,
            isNewContent: r.is_new_content,
            engaged: isEngaged(r, this.userCfg),
            dwellMs: r.dwell_ms,
          });
    await super.onInteractions(recs);
  }

  /** Tick boundary: the explore warm start, the graph (ticks, learning inside them), explore PPO. */
  override async advanceTo(eventTimeMs: number): Promise<void> {
    this.explore?.beforeBoundary(eventTimeMs, this.ctx.startMs);
    this.now = eventTimeMs;
    await super.advanceTo(eventTimeMs);
    if (this.explore && !this.explore.policy.warmup) {
      const stats = this.explore.afterBoundary();
      const acc = this.exploreDay(Math.max(this.ctx.startMs, eventTimeMs - 1));
      if (stats) acc.updates++;
      acc.std = this.explore.std();
    }
  }

  /** The explore learner's day `d` (explore: 'ppo' only). */
  private exploreCurve(d: number): ExploreLearningPoint | undefined {
    if (!this.explore?.trainer) return undefined;
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
      modelVersion: this.explore.handle.version,
    };
  }

  learningCurve(): LearnedDayPoint[] {
    const out: LearnedDayPoint[] = [];
    let version = new RuleScorer().modelVersion;
    for (const [d, a] of [...this.days].sort((x, y) => x[0] - y[0])) {
      version = a.modelVersion ?? version;
      if (d < 0 || d >= this.ctx.days) continue;
      out.push({
        day: d + 1,
        reward: a.rewardN > 0 ? a.rewardSum / a.rewardN : 0,
        approvedReward: a.approvedN > 0 ? a.approvedSum / a.approvedN : 0,
        entropy: a.rows > 0 ? a.entropy / a.rows : 0,
        approvalRate: a.rows > 0 ? a.approvals / a.rows : 0,
        updates: a.updates,
        modelVersion: version,
        rollbacks: a.rollbacks,
        rejected: a.rejected,
        explore: this.exploreCurve(d),
      });
    }
    return out;
  }

  override async close(): Promise<void> {
    this.explore?.dispose();
    await this.learning.close();
    await super.close();
  }
}
