// Experiences from delayed rewards (SPEC §3 "Learning"). A heating decision is kept with its
// features, action and log-prob until its outcome is known; outcomes (heated impressions carrying
// the allocation_id) are joined back to it by allocation_id and aggregated; once the allocation's
// validity window plus a grace period has passed in EVENT time, the decision becomes an Experience
// with its reward. Everything is keyed and event-time driven: a replay builds the same experiences.
//
// Reward of an approved allocation (engagement of ITS heated impressions, weighted by the reward
// weights in force when it was decided, minus its cost), with n delivered heated impressions:
//   click  = min(1, (clicks/n) / ctrCeiling)        completion = Σcompletion / n
//   share  = min(1, (shares/n) / shareCeiling)
//   user   = (click + completion)/2   revenue = click   long_term = (completion + share)/2
//   reward = (w_u·user + w_r·revenue + w_l·long_term) / (w_u + w_r + w_l) − costWeight·min(1, cost/maxCost)
// Real engagement (completion, shares) carries two of the three terms, clicks alone one (坑2, 坑6:
// click farming cannot buy reward). reward ∈ [−costWeight, 1].
// Denied requests: reward 0 (no heating, no cost, no outcome to wait for) — settled at once.
// (The explore policy sets settleDenialsAtOnce = false: exploit decisions have outcomes too; the
// decision id is then the impression's key and cost is 0.)
// Expiry: an approved allocation with NO outcome by validUntil + grace settles with n = 0, i.e.
// reward = −costWeight·cost (heating was paid for and bought nothing). Capacity eviction (more than
// maxPending open allocations) drops the oldest decision WITHOUT an experience (a partial outcome
// would bias the reward low); it is counted.
import type { RewardWeights } from '../schemas/types.js';
import type { Experience } from './ppo.js';

export interface RewardConfig {
  /** Heated CTR that counts as full marks for the click term. */
  ctrCeiling: number;
  /** Share rate that counts as full marks for the share term. */
  shareCeiling: number;
  /** Cost (same unit as HeatingAllocation.cost) that normalises to 1. */
  maxCost: number;
  /** Weight of the normalised cost. */
  costWeight: number;
}

export interface ExperienceBufferConfig extends RewardConfig {
  /** Event time after validUntil during which late outcomes are still joined. */
  graceMs: number;
  /** Open (approved, unsettled) decisions kept at most; the oldest is dropped beyond. */
  maxPending: number;
  /** Settled experiences waiting for the trainer, at most; the oldest is dropped beyond. */
  maxReady: number;
  /**
   * true (allocation): a denial has no outcome and settles at once with reward 0. false (explore
   * policy: both explore and exploit produce an impression): action 0 waits for its outcome too.
   */
  settleDenialsAtOnce: boolean;
}

export const DEFAULT_EXPERIENCE_CONFIG: ExperienceBufferConfig = {
  ctrCeiling: 0.1,
  shareCeiling: 0.05,
  maxCost: 50_000,
  costWeight: 0.3,
  graceMs: 5 * 60_000,
  maxPending: 100_000,
  maxReady: 50_000,
  settleDenialsAtOnce: true,
};

/** A decision of the system agent, as it was taken. */
export interface Decision {
  allocationId: string;
  /** Feature row the policy saw (copied). */
  obs: Float32Array;
  action: 0 | 1;
  logProb: number;
  weights: RewardWeights;
  /** Heating cost charged for the allocation (0 when denied). */
  cost: number;
  /** Event time (ms) until which the allocation's impressions count. */
  validUntil: number;
  /** Impressions granted (the marginal credit's normaliser). */
  granted?: number;
  /**
   * false: joined and settled like any decision (its reward is reported to advance's `onSettled`)
   * but never an experience, e.g. the rule's grants kept as the learner's reward baseline.
   */
  train?: boolean;
}

/** One heated impression's outcome (from a UserInteraction with allocation_id). */
export interface ImpressionOutcome {
  allocationId: string;
  click: boolean;
  completion: number;
  shared: boolean;
}

export interface EngagementAggregate {
  impressions: number;
  clicks: number;
  completion: number;
  shares: number;
}

export function computeReward(
  agg: EngagementAggregate,
  w: RewardWeights,
  cost: number,
  cfg: RewardConfig,
): number {
  const costTerm = cfg.costWeight * Math.min(1, Math.max(0, cost) / cfg.maxCost);
  const n = agg.impressions;
  if (n <= 0) return -costTerm;
  const click = Math.min(1, agg.clicks / n / cfg.ctrCeiling);
  const completion = Math.min(1, Math.max(0, agg.completion / n));
  const share = Math.min(1, agg.shares / n / cfg.shareCeiling);
  const user = (click + completion) / 2;
  const revenue = click;
  const longTerm = (completion + share) / 2;
  const wsum = w.user_satisfaction + w.platform_revenue + w.long_term;
  const value =
    wsum > 0
      ? (w.user_satisfaction * user + w.platform_revenue * revenue + w.long_term * longTerm) / wsum
      : 0;
  return value - costTerm;
}

export interface Pending {
  d: Decision;
  agg: EngagementAggregate;
}

/** Rewards for the decisions settling in one advance() call, in the same order. */
export type SettleRewards = (settled: readonly Pending[]) => number[];

export interface ExperienceStats {
  pending: number;
  ready: number;
  settled: number;
  /** Settled with no outcome at all (expired). */
  expired: number;
  /** Dropped because maxPending / maxReady was exceeded. */
  evicted: number;
  /** Outcomes whose allocation id is unknown (never recorded, settled or evicted). */
  unmatched: number;
  /** Decisions recorded twice (replays): the first is kept. */
  duplicates: number;
}

export class ExperienceBuffer {
  readonly cfg: ExperienceBufferConfig;
  // Map keeps insertion order: the first entry is the oldest decision (eviction order).
  private readonly pending = new Map<string, Pending>();
  private ready: Experience[] = [];
  private readonly counts = { settled: 0, expired: 0, evicted: 0, unmatched: 0, duplicates: 0 };

  constructor(cfg: Partial<ExperienceBufferConfig> = {}) {
    this.cfg = { ...DEFAULT_EXPERIENCE_CONFIG, ...cfg };
  }

  /** Keeps a decision until its outcome arrives; a denial settles at once with reward 0. */
  record(d: Decision): void {
    if (this.pending.has(d.allocationId)) {
      this.counts.duplicates++;
      return;
    }
    const copy: Decision = { ...d, obs: Float32Array.from(d.obs), weights: { ...d.weights } };
    if (d.action === 0 && this.cfg.settleDenialsAtOnce) {
      this.push({ obs: copy.obs, action: 0, logProb: d.logProb, reward: 0 });
      return;
    }
    if (this.pending.size >= this.cfg.maxPending) {
      const oldest = this.pending.keys().next().value as string;
      this.pending.delete(oldest);
      this.counts.evicted++;
    }
    this.pending.set(d.allocationId, {
      d: copy,
      agg: { impressions: 0, clicks: 0, completion: 0, shares: 0 },
    });
  }

  /** Joins one heated impression to its allocation; false when the allocation is not open. */
  observe(o: ImpressionOutcome): boolean {
    return this.observeAggregate(o.allocationId, {
      impressions: 1,
      clicks: o.click ? 1 : 0,
      completion: Math.min(1, Math.max(0, o.completion)),
      shares: o.shared ? 1 : 0,
    });
  }

  /** Joins an allocation's delivered outcome (e.g. one tick's, from the allocator's outcome records). */
  observeAggregate(allocationId: string, agg: EngagementAggregate): boolean {
    const p = this.pending.get(allocationId);
    if (!p) {
      this.counts.unmatched++;
      return false;
    }
    p.agg.impressions += agg.impressions;
    p.agg.clicks += agg.clicks;
    p.agg.completion += agg.completion;
    p.agg.shares += agg.shares;
    return true;
  }

  /**
   * Settles every open decision whose validUntil + grace is at or before the event-time watermark.
   * Returns how many settled.
   */
  advance(
    watermarkMs: number,
    rewardsOf?: SettleRewards,
    onSettled?: (p: Pending, reward: number) => void,
  ): number {
    const due: Pending[] = [];
    for (const [id, p] of this.pending) {
      if (p.d.validUntil + this.cfg.graceMs > watermarkMs) continue;
      this.pending.delete(id);
      if (p.agg.impressions === 0) this.counts.expired++;
      due.push(p);
    }
    // A caller-supplied credit rule (e.g. MarginalCredit) sees the whole batch at once: its
    // baseline is per settle batch, i.e. per tick boundary.
    const rewards = rewardsOf
      ? rewardsOf(due)
      : due.map((p) => computeReward(p.agg, p.d.weights, p.d.cost, this.cfg));
    if (rewards.length !== due.length) throw new RangeError('rewardsOf must return one reward per decision');
    due.forEach((p, i) => {
      onSettled?.(p, rewards[i]);
      if (p.d.train === false) this.counts.settled++;
      else this.push({ obs: p.d.obs, action: p.d.action, logProb: p.d.logProb, reward: rewards[i] });
    });
    return due.length;
  }

  private push(e: Experience): void {
    this.counts.settled++;
    this.ready.push(e);
    if (this.ready.length > this.cfg.maxReady) {
      const drop = this.ready.length - this.cfg.maxReady;
      this.ready.splice(0, drop);
      this.counts.evicted += drop;
    }
  }

  /** Ids of the decisions still open. */
  openIds(): Set<string> {
    return new Set(this.pending.keys());
  }

  get readyCount(): number {
    return this.ready.length;
  }

  /** Takes up to `max` settled experiences, oldest first. */
  drain(max = Infinity): Experience[] {
    const out = this.ready.slice(0, max);
    this.ready = this.ready.slice(out.length);
    return out;
  }

  stats(): ExperienceStats {
    return { pending: this.pending.size, ready: this.ready.length, ...this.counts };
  }
}
