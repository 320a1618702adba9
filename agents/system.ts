// System agent (SPEC §3): once per tick, turns the tick's heating requests into HeatingAllocation
// records under four constraints, in this order:
//   1. approval: normalised score ≥ scoreThreshold (scores from an AllocationScorer);
//   2. heating cap (坑3): heated impressions in the rolling window + outstanding impressions of
//      active allocations + new grants ≤ cap × all impressions in the rolling window;
//   3. budget pool: impressions per budget period, replenished (not carried over) at each period,
//      paced over the period's remaining ticks; never negative, never overspent;
//   4. fair split (坑7): the tick's budget is split by quality tier × creator size, then what a
//      bucket leaves unused is offered to every unmet candidate by score.
// Within a bucket, content never heated is served before repeats (firstHeatingPriority).
// When the available impressions cannot cover the candidates, the lowest-scored are dropped until
// each remaining one gets at least minFill of its demand and the rest shrink proportionally: the
// clearing score rises and allocations shrink. Units: impressions for pool, cap and grants;
// cost = bid_price × impressions / costPerImpressions traffic coins (bid is a price per mille).
import { hash64Hex } from '../core/hash.js';
import type { HeatingAllocation, RewardWeights } from '../schemas/types.js';
import { buildFeatures, isSmallCreator } from './allocation-features.js';
import { targetCategories, type AudienceAggregate } from './audience.js';
import type { AgentConfig } from './config.js';
import type { HeatingRequest } from './content.js';
import type { AllocationScorer } from './scorer.js';

export interface ActiveAllocation {
  allocation_id: string;
  content_id: string;
  valid_until: number;
  granted: number;
  delivered: number;
}

/** Plain, checkpointable allocator state (stage 3 is its single writer). */
export interface AllocatorState {
  /** floor(T / budgetPeriodMs) of the current period, −1 before the first tick. */
  periodIndex: number;
  /** Impressions per period (business-objectives heating_budget_pool, else config). */
  poolSize: number;
  poolRemaining: number;
  /** Impression totals per tick, kept for rollingWindowMs. */
  window: { tick: number; total: number; heated: number }[];
  active: ActiveAllocation[];
  /** Counts allocation ticks applied. */
  version: number;
}

export function newAllocatorState(cfg: AgentConfig): AllocatorState {
  return {
    periodIndex: -1,
    poolSize: cfg.system.budgetPool,
    poolRemaining: cfg.system.budgetPool,
    window: [],
    active: [],
    version: 0,
  };
}

/** Adds the impression totals of the tick that ends at `tick` (summed over content partitions). */
export function recordTickTotals(s: AllocatorState, tick: number, total: number, heated: number): void {
  const last = s.window[s.window.length - 1];
  if (last && last.tick === tick) {
    last.total += total;
    last.heated += heated;
  } else {
    s.window.push({ tick, total, heated });
    s.window.sort((a, b) => a.tick - b.tick);
  }
}

/** Joins delivered heated impressions back to active allocations (from content-stage outcomes). */
export function recordDelivered(
  s: AllocatorState,
  outcomes: readonly { allocation_id: string; impressions: number }[],
): void {
  if (outcomes.length === 0) return;
  const byId = new Map(s.active.map((a) => [a.allocation_id, a]));
  for (const o of outcomes) {
    const a = byId.get(o.allocation_id);
    if (a) a.delivered += o.impressions;
  }
}

/** A new pool size (business-objectives) applies now; remaining never exceeds it. */
export function setPoolSize(s: AllocatorState, size: number): void {
  s.poolSize = Math.max(0, Math.floor(size));
  s.poolRemaining = Math.min(s.poolRemaining, s.poolSize);
}

export interface AllocateInput {
  /** Tick boundary T (event-time ms). */
  tick: number;
  tickMs: number;
  requests: readonly HeatingRequest[];
  audience: AudienceAggregate;
  weights: RewardWeights;
  scorer: AllocationScorer;
  /** business-objectives heating_cap_ratio; config heatingCap when absent. */
  heatingCap?: number;
}

export interface TickMetrics {
  tick: number;
  requests: number;
  /** Score at or above the threshold, with demand left after outstanding impressions. */
  eligible: number;
  approved: number;
  rejected: number;
  grantedImpressions: number;
  /** The heating cap in force (business-objectives, else config). */
  heatingCap: number;
  /** Impressions the cap still allowed this tick. */
  capCapacity: number;
  /** Impressions the pool (paced) allowed this tick. */
  poolAvailable: number;
  poolRemaining: number;
  /** Heated / all impressions in the rolling window, before this tick's grants. */
  heatedShare: number;
  /** (heated in window + outstanding + granted) / all in window. */
  projectedHeatedShare: number;
  /** Lowest approved score; 1 when candidates existed but none could be approved; the threshold when none existed. */
  clearingScore: number;
  capBinding: boolean;
}

export interface AllocateResult {
  allocations: HeatingAllocation[];
  metrics: TickMetrics;
}

interface Candidate {
  i: number;
  id: string;
  score: number;
  demand: number;
  granted: number;
  bucket: number;
  /** Never heated and nothing outstanding. */
  first: boolean;
}

/** Scores desc, then content id asc: a total, replay-stable order. */
const byScore = (a: Candidate, b: Candidate): number =>
  b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Grants from `budget` to `cands` (sorted by byScore) for their residual demand: drops the lowest
 * while the rest cannot each get minFill of their demand (the top one always stays), then shrinks
 * proportionally. Grants below minGrant are not made. Returns impressions granted.
 */
function clear(cands: Candidate[], budget: number, minFill: number, minGrant: number): number {
  const open = cands.filter((c) => c.demand - c.granted >= minGrant);
  if (budget < minGrant || open.length === 0) return 0;
  let k = open.length;
  let total = 0;
  for (const c of open) total += c.demand - c.granted;
  while (k > 1 && total * minFill > budget) {
    k--;
    total -= open[k].demand - open[k].granted;
  }
  const f = Math.min(1, budget / total);
  let used = 0;
  for (let j = 0; j < k; j++) {
    const c = open[j];
    const g = Math.min(Math.floor((c.demand - c.granted) * f), budget - used);
    if (g < minGrant) continue;
    c.granted += g;
    used += g;
  }
  return used;
}

/** Tier index of a quality score: the tier with the highest minQuality not above it. */
function tierOf(quality: number, tiers: AgentConfig['system']['tiers']): number {
  let best = -1;
  for (let t = 0; t < tiers.length; t++)
    if (quality >= tiers[t].minQuality && (best < 0 || tiers[t].minQuality > tiers[best].minQuality))
      best = t;
  return best < 0 ? 0 : best;
}

/** Target categories and the curiosity floor the curious audience can actually serve (see impressionsPerCuriousUser). */
export function targetFor(
  category: string,
  impressions: number,
  audience: AudienceAggregate,
  cfg: AgentConfig,
): HeatingAllocation['target'] {
  const categories = targetCategories(category, cfg.system.adjacency);
  let curious = 0;
  for (const c of categories) curious += audience.curious[c] ?? 0;
  // With reach sizing on, the curious audience must be able to take the grant at the same rate.
  if (cfg.system.reachPerActiveUser > 0) {
    const enough = curious * cfg.system.reachPerActiveUser >= impressions;
    return { categories, min_curiosity: enough ? cfg.user.highCuriosity : cfg.user.curiosityStart };
  }
  const enough = curious * cfg.system.impressionsPerCuriousUser >= impressions;
  return { categories, min_curiosity: enough ? cfg.user.highCuriosity : cfg.user.curiosityStart };
}

export function allocationId(contentId: string, tick: number): string {
  return hash64Hex(`${contentId}@${tick}`);
}

/** Runs one allocation tick in place on `s`. Requests may come in any order (sorted by content_id here). */
export function allocateTick(s: AllocatorState, input: AllocateInput, cfg: AgentConfig): AllocateResult {
  const sys = cfg.system;
  const T = input.tick;
  const cap = input.heatingCap ?? sys.heatingCap;

  // Budget period: replenish (no carry-over) when T enters a new period.
  const period = Math.floor(T / sys.budgetPeriodMs);
  if (period > s.periodIndex) {
    s.periodIndex = period;
    s.poolRemaining = s.poolSize;
  }
  // Expired allocations and window entries leave; outstanding = granted − delivered of the rest.
  s.active = s.active.filter((a) => a.valid_until > T);
  s.window = s.window.filter((w) => w.tick > T - sys.rollingWindowMs && w.tick <= T);
  let total = 0;
  let heated = 0;
  for (const w of s.window) {
    total += w.total;
    heated += w.heated;
  }
  const outstandingBy = new Map<string, number>();
  let outstanding = 0;
  for (const a of s.active) {
    const o = Math.max(0, a.granted - a.delivered);
    outstanding += o;
    outstandingBy.set(a.content_id, (outstandingBy.get(a.content_id) ?? 0) + o);
  }
  const capCapacity = Math.max(0, Math.floor(cap * total - heated - outstanding));
  const periodEnd = (period + 1) * sys.budgetPeriodMs;
  const ticksLeft = Math.max(1, Math.ceil((periodEnd - T) / input.tickMs));
  const paced =
    sys.pacingBurst > 0 ? Math.ceil((sys.pacingBurst * s.poolRemaining) / ticksLeft) : s.poolRemaining;
  const poolAvailable = Math.max(0, Math.min(s.poolRemaining, paced));
  const available = Math.min(capCapacity, poolAvailable);

  const requests = [...input.requests].sort((a, b) =>
    a.content_id < b.content_id ? -1 : a.content_id > b.content_id ? 1 : 0,
  );
  const capPressure = total > 0 && cap > 0 ? (heated + outstanding) / (cap * total) : 1;
  const features = buildFeatures(
    requests,
    { tick: T, audience: input.audience, weights: input.weights, capPressure },
    cfg,
  );
  const scores = requests.length > 0 ? input.scorer.score(features, requests.length) : new Float32Array(0);

  const minGrant = sys.minGrant ?? cfg.content.minRequest;
  /** Impressions the target audience can absorb (Infinity when reach sizing is off). */
  const reachOf = (category: string): number => {
    if (!(sys.reachPerActiveUser > 0)) return Infinity;
    let active = 0;
    for (const c of targetCategories(category, sys.adjacency)) active += input.audience.active[c] ?? 0;
    return Math.floor(active * sys.reachPerActiveUser);
  };
  const tiers = sys.tiers;
  const candidates: Candidate[] = [];
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i];
    const score = scores[i];
    // Not double-allocated: an active allocation's undelivered impressions count against the request.
    const demand =
      Math.min(cfg.content.maxRequest, r.requested_impressions, reachOf(r.category)) -
      (outstandingBy.get(r.content_id) ?? 0);
    if (!(score >= sys.scoreThreshold) || demand < minGrant) continue;
    const bucket = tierOf(r.quality, tiers) * 2 + (isSmallCreator(r, cfg) ? 0 : 1);
    const first = (r.heated_impressions ?? 0) === 0 && !outstandingBy.has(r.content_id);
    candidates.push({ i, id: r.content_id, score, demand, granted: 0, bucket, first });
  }
  candidates.sort(byScore);

  // Pass 1: each quality tier × creator-size bucket clears within its share of the tick's budget,
  // first-time content first (the 坑7 goal is that most new content gets at least one heating).
  let used = 0;
  for (let t = 0; t < tiers.length; t++) {
    for (const small of [true, false]) {
      const b = t * 2 + (small ? 0 : 1);
      const budget = Math.floor(
        available * tiers[t].share * (small ? sys.smallCreatorShare : 1 - sys.smallCreatorShare),
      );
      const inBucket = candidates.filter((c) => c.bucket === b);
      let bucketUsed = sys.firstHeatingPriority
        ? clear(
            inBucket.filter((c) => c.first),
            budget,
            sys.minFill,
            minGrant,
          )
        : 0;
      bucketUsed += clear(inBucket, budget - bucketUsed, sys.minFill, minGrant);
      used += bucketUsed;
    }
  }
  // Pass 2: what buckets left unused goes to every candidate with demand left, by score.
  used += clear(candidates, available - used, sys.minFill, minGrant);

  const allocations: HeatingAllocation[] = [];
  let clearing = 1;
  for (const c of candidates) {
    if (c.granted <= 0) continue;
    const r = requests[c.i];
    const id = allocationId(r.content_id, T);
    clearing = Math.min(clearing, c.score);
    allocations.push({
      allocation_id: id,
      content_id: r.content_id,
      creator_id: r.creator_id,
      category: r.category,
      valid_from: T,
      valid_until: T + sys.allocationValidityMs,
      impressions: c.granted,
      bid_price: r.bid_price,
      cost: (r.bid_price * c.granted) / sys.costPerImpressions,
      score: c.score,
      target: targetFor(r.category, c.granted, input.audience, cfg),
      policy: input.scorer.policy,
      model_version: input.scorer.modelVersion,
      reward_weights: { ...input.weights },
      emitted_at: T,
    });
    s.active.push({
      allocation_id: id,
      content_id: r.content_id,
      valid_until: T + sys.allocationValidityMs,
      granted: c.granted,
      delivered: 0,
    });
  }
  allocations.sort((a, b) => (a.content_id < b.content_id ? -1 : a.content_id > b.content_id ? 1 : 0));
  s.poolRemaining -= used;
  s.version += 1;

  const demandTotal = candidates.reduce((acc, c) => acc + c.demand, 0);
  return {
    allocations,
    metrics: {
      tick: T,
      requests: requests.length,
      eligible: candidates.length,
      approved: allocations.length,
      rejected: requests.length - allocations.length,
      grantedImpressions: used,
      heatingCap: cap,
      capCapacity,
      poolAvailable,
      poolRemaining: s.poolRemaining,
      heatedShare: total > 0 ? heated / total : 0,
      projectedHeatedShare: total > 0 ? (heated + outstanding + used) / total : 0,
      clearingScore: allocations.length > 0 ? clearing : candidates.length > 0 ? 1 : sys.scoreThreshold,
      capBinding: demandTotal > capCapacity && capCapacity <= poolAvailable,
    },
  };
}
