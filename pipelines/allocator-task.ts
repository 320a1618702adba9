// Stage 3, the allocator: the single task of the single-partition allocator-input topic, so it is
// the only writer of the budget pool. It gathers each content partition's contribution to a tick
// (requests, totals, delivered outcomes, audience — possibly chunked, possibly replayed), and runs
// the tick once every partition delivered it, in tick order: the same input gives the same
// allocations with the same ids, whatever the interleaving of the content partitions.
// Content partitions skip empty ticks (nothing to request, drain or count) and close ticks in
// order, so a partition is done with tick T once it sent anything for a later tick, or a
// zero-chunk progress record for T or later. A tick no partition materialised is never run:
// an empty allocation tick only advances time, and every time-driven rule (period refill,
// expiry, rolling window) is evaluated from T itself at the next tick that runs.
import type { AgentConfig } from '../agents/config.js';
import type { AudienceAggregate } from '../agents/audience.js';
import type { HeatingRequest as AgentRequest } from '../agents/content.js';
import { validateRewardWeights } from '../agents/reward-weights.js';
import {
  allocateTick,
  newAllocatorState,
  recordDelivered,
  recordTickTotals,
  setPoolSize,
  type AllocatorState,
  type TickMetrics,
} from '../agents/system.js';
import type { AllocationScorer, TickDecision } from '../agents/scorer.js';
import type {
  AllocationOutcome,
  AllocatorControl,
  AllocatorInput,
  BusinessObjectives,
  HeatingAllocation,
  RewardWeights,
  TickTotals,
} from '../schemas/types.js';
import { activeAllocationsCodec, type ActiveAllocation as ActiveAllocationView } from '../state/codecs.js';
import { ACTIVE_ALLOCATIONS_KEY, STORE_ALLOCATIONS } from '../state/keys.js';
import type { CheckpointEntry } from '../state/store.js';
import { CONTROL_SOURCE, type AllocatorModelPort, type LiveModel } from './allocator-control.js';
import type { TopologyNames } from './topology.js';
import type { Collector, InRecord, SourcePosition, StreamTask, TaskId, TaskSnapshot } from './task.js';

interface Contribution {
  chunks: number;
  got: number[];
  inputs: AllocatorInput[];
}

interface AllocatorMeta {
  nextInput: number;
  nextObjectives: number[];
  state: AllocatorState;
  /** tick → source → chunks received. */
  pending: Record<string, Record<string, Contribution>>;
  lastTick: number | null;
  /** content partition → every tick below this is complete from it (absent: none yet). */
  sealed?: Record<string, number>;
  /** Objectives not yet in effect (effective_from after the last tick), oldest first. */
  objectives: BusinessObjectives[];
  weights: RewardWeights;
  heatingCap: number | null;
  /** The model a control record made live (absent: the configured scorer). */
  live?: LiveModel | null;
  /** The last business objectives applied. */
  inForce?: BusinessObjectives | null;
}

/** What a tick produced, for metrics and the learner. */
export interface TickReport {
  tick: number;
  metrics: TickMetrics;
  allocations: HeatingAllocation[];
  outcomes: AllocationOutcome[];
  requests: AgentRequest[];
  /** Impression totals of the tick, summed over content partitions. */
  totals: TickTotals;
  /** The model a control record made live, if any (else the configured scorer decided). */
  live: LiveModel | null;
  /** Business objectives in force (last applied), and the reward weights the tick used. */
  objectives: BusinessObjectives | null;
  weights: RewardWeights;
  /**
   * What a learning scorer decided, row by row with each row's content id: the learner's input
   * (null when the scorer records no decision, or nothing was scored).
   */
  decision: TickDecision | null;
}

export class AllocatorTask implements StreamTask {
  readonly id: TaskId = { stage: 'allocator', partition: 0 };
  private readonly meta: AllocatorMeta;
  private servedVersion = -1;

  constructor(
    private readonly names: TopologyNames,
    private readonly contentPartitions: number,
    objectivesPartitions: number,
    private readonly cfg: AgentConfig,
    private readonly tickMs: number,
    private readonly scorer: () => AllocationScorer,
    restoredMeta: string | null,
    private readonly onTick?: (report: TickReport) => void,
    /** A learner's models: MODEL control records switch the scorer (absent: they are ignored). */
    private readonly models?: AllocatorModelPort,
  ) {
    this.meta = restoredMeta
      ? (JSON.parse(restoredMeta) as AllocatorMeta)
      : {
          nextInput: 0,
          nextObjectives: new Array<number>(objectivesPartitions).fill(0),
          state: newAllocatorState(cfg),
          pending: {},
          lastTick: null,
          objectives: [],
          weights: { ...cfg.system.defaultWeights },
          heatingCap: null,
        };
  }

  /** Allocator state (pool, rolling window, active allocations) — read-only view for tests/serving. */
  get state(): Readonly<AllocatorState> {
    return this.meta.state;
  }

  positions(): SourcePosition[] {
    return [
      { topic: this.names.allocatorInput, partition: 0, offset: this.meta.nextInput },
      ...this.meta.nextObjectives.map((offset, partition) => ({
        topic: this.names.objectives,
        partition,
        offset,
      })),
    ];
  }

  consumed(topic: string, partition: number, next: number): void {
    if (topic === this.names.objectives)
      this.meta.nextObjectives[partition] = Math.max(this.meta.nextObjectives[partition] ?? 0, next);
    else if (next > this.meta.nextInput) this.meta.nextInput = next;
  }

  process(batch: readonly InRecord[], out: Collector): void {
    if (batch.length === 0) return;
    if (batch[0].topic === this.names.objectives) {
      for (const r of batch) {
        this.meta.nextObjectives[r.partition] = r.offset + 1;
        this.meta.objectives.push(r.value as BusinessObjectives);
      }
      this.meta.objectives.sort(
        (a, b) => a.effective_from - b.effective_from || (a.objective_id < b.objective_id ? -1 : 1),
      );
      return;
    }
    const sealed = (this.meta.sealed ??= {});
    for (const r of batch) {
      this.meta.nextInput = r.offset + 1;
      const input = r.value as AllocatorInput;
      if (input.control) {
        // Ticks completed by the records before it run first: its tick depends on the log only.
        this.runCompleteTicks(out);
        this.applyControl(input.control);
        continue;
      }
      if (input.source === CONTROL_SOURCE) continue;
      const upTo = input.chunks === 0 ? input.tick + 1 : input.tick;
      if (!(sealed[input.source] >= upTo)) sealed[input.source] = upTo;
      if (input.chunks === 0) continue; // progress only
      if (this.meta.lastTick !== null && input.tick <= this.meta.lastTick) continue; // replay of a done tick
      const bySource = (this.meta.pending[input.tick] ??= {});
      const c = (bySource[input.source] ??= { chunks: input.chunks, got: [], inputs: [] });
      if (c.got.includes(input.chunk)) continue; // replayed chunk
      c.got.push(input.chunk);
      c.inputs.push(input);
    }
    this.runCompleteTicks(out);
  }

  /** Every partition delivered all chunks of `tick`, or had nothing for it and moved past it. */
  private isComplete(tick: number): boolean {
    const bySource = this.meta.pending[tick];
    const sealed = this.meta.sealed ?? {};
    for (let p = 0; p < this.contentPartitions; p++) {
      const c = bySource[p];
      if (c ? c.got.length < c.chunks : !(sealed[p] > tick)) return false;
    }
    return true;
  }

  private runCompleteTicks(out: Collector): void {
    // Sorted once per batch: a jump can leave thousands of ticks pending at once.
    const ticks = Object.keys(this.meta.pending)
      .map(Number)
      .sort((a, b) => a - b);
    for (const tick of ticks) {
      if (!this.isComplete(tick)) return;
      this.runObjectiveTicksBefore(tick, out);
      this.runTick(tick, out);
    }
  }

  /**
   * Objectives take effect at the first tick at or after effective_from. When that tick was empty
   * everywhere (so never run), it runs here, empty, before `tick`: the pool resize and the period
   * refill then happen in the same order as with every tick run.
   */
  private runObjectiveTicksBefore(tick: number, out: Collector): void {
    const last = this.meta.lastTick;
    if (last === null) return;
    while (this.meta.objectives.length > 0) {
      const due = Math.max(
        Math.ceil(this.meta.objectives[0].effective_from / this.tickMs) * this.tickMs,
        last + this.tickMs,
      );
      if (due >= tick || due <= (this.meta.lastTick as number)) return;
      this.runTick(due, out);
    }
  }

  /** A control record at its position in the log (see pipelines/allocator-control.ts). */
  private applyControl(c: AllocatorControl): void {
    if (c.kind === 'REWARD_WEIGHTS') {
      const v = c.reward_weights ? validateRewardWeights(c.reward_weights) : { error: 'missing' };
      if (!('error' in v)) this.meta.weights = v;
      return;
    }
    if (!this.models || c.seq <= (this.meta.live?.seq ?? 0)) return;
    const live = this.models.adopt(c);
    if (live) this.meta.live = live;
  }

  private applyObjectives(tick: number): void {
    while (this.meta.objectives.length > 0 && this.meta.objectives[0].effective_from <= tick) {
      const o = this.meta.objectives.shift() as BusinessObjectives;
      this.meta.inForce = o;
      setPoolSize(this.meta.state, o.heating_budget_pool);
      this.meta.heatingCap = o.heating_cap_ratio ?? null;
      if (o.weights) {
        const v = validateRewardWeights(o.weights);
        if (!('error' in v)) this.meta.weights = v;
      }
    }
  }

  private runTick(tick: number, out: Collector): void {
    const bySource = this.meta.pending[tick] ?? {};
    delete this.meta.pending[tick];
    const requests: AgentRequest[] = [];
    const outcomes: AllocationOutcome[] = [];
    const audience: AudienceAggregate = { active: {}, curious: {} };
    let total = 0;
    let heated = 0;
    let newImpressions = 0;
    let newClicks = 0;
    for (let p = 0; p < this.contentPartitions; p++) {
      for (const input of (bySource[p]?.inputs ?? []).sort((a, b) => a.chunk - b.chunk)) {
        total += input.totals.impressions;
        heated += input.totals.heated_impressions;
        newImpressions += input.totals.new_content_impressions;
        newClicks += input.totals.new_content_clicks;
        outcomes.push(...input.outcomes);
        for (const a of input.audience ?? []) {
          audience.active[a.category] = (audience.active[a.category] ?? 0) + a.active;
          audience.curious[a.category] = (audience.curious[a.category] ?? 0) + a.high_curiosity;
        }
        for (const q of input.requests) {
          requests.push({
            content_id: q.content_id,
            creator_id: q.creator_id,
            category: q.category,
            tick,
            requested_impressions: q.requested_impressions,
            bid_price: q.bid_price,
            quality: q.quality_score,
            ctr: q.ctr,
            exposure: q.exposure,
            engaged_rate: q.engaged_rate,
            budget: q.heating_budget,
            heated_impressions: q.heated_impressions ?? 0,
            completion_sum: q.completion_sum ?? 0,
            shares: q.shares ?? 0,
            published_at: q.published_at,
            creator_followers: q.creator_followers ?? null,
          });
        }
      }
    }
    this.applyObjectives(tick);
    const s = this.meta.state;
    recordTickTotals(s, tick, total, heated);
    recordDelivered(s, outcomes);
    const live = this.meta.live ?? null;
    if (live && live.since === null) live.since = tick;
    const result = allocateTick(
      s,
      {
        tick,
        tickMs: this.tickMs,
        requests,
        audience,
        weights: this.meta.weights,
        scorer: this.models?.scorer(tick) ?? this.scorer(),
        heatingCap: this.meta.heatingCap ?? undefined,
      },
      this.cfg,
    );
    for (const a of result.allocations)
      out.send({ topic: this.names.allocations, schema: 'HeatingAllocation', key: a.content_id, value: a });
    this.meta.lastTick = tick;
    const totals: TickTotals = {
      impressions: total,
      heated_impressions: heated,
      new_content_impressions: newImpressions,
      new_content_clicks: newClicks,
    };
    this.onTick?.({
      tick,
      metrics: result.metrics,
      allocations: result.allocations,
      outcomes,
      requests,
      totals,
      live,
      objectives: this.meta.inForce ?? null,
      weights: this.meta.weights,
      decision: result.decision,
    });
  }

  setIdle(): void {
    // The allocator's inputs carry their own completeness (all partitions per tick).
  }

  flushChangelog(): void {
    // Allocations are the output; allocator state is checkpointed in the task metadata.
  }

  /**
   * Task metadata carries the allocator's whole state; the active allocations are also written as
   * the serving hash a ranker reads (allocation_id → remaining impressions, valid_until).
   */
  snapshot(): TaskSnapshot {
    const s = this.meta.state;
    const entries: CheckpointEntry[] = [];
    if (s.version !== this.servedVersion) {
      const active = new Map<string, ActiveAllocationView>();
      for (const a of s.active)
        active.set(a.allocation_id, {
          content_id: a.content_id,
          remaining: Math.max(0, a.granted - a.delivered),
          valid_until: a.valid_until,
        });
      entries.push({
        store: STORE_ALLOCATIONS,
        key: ACTIVE_ALLOCATIONS_KEY,
        version: s.version,
        fields: activeAllocationsCodec.encode(active),
      });
      this.servedVersion = s.version;
    }
    return { meta: JSON.stringify(this.meta), entries, positions: this.positions() };
  }
}
