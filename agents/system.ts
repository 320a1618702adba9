// System agent (SPEC §3): once per tick, turns the tick's heating requests into HeatingAllocation
// records under three limits, in this order:
//   1. heating cap (坑3): heated impressions in the rolling window + outstanding impressions of
//      active allocations + new grants ≤ cap × all impressions in the rolling window;
//   2. budget pool: impressions per budget period, replenished (not carried over) at each period and
//      paced on the traffic curve (each tick gets the remaining pool in proportion to its expected
//      share of the period's remaining traffic, learned per time slot); impressions an allocation
//      did not deliver return to the pool once its deliveries are all in (deliveryGraceMs after it
//      expired: a ranker logs an impression after it picked the item), so nothing is left unspent
//      while items wait and nothing is refunded that was shown; never negative, never overspent;
//   3. reach: a grant never exceeds what its target audience can take this tick.
// Then two kinds of grants (坑7):
//   - fair trial: every new item short of its trial (content.trialImpressions within
//     content.trialWindowMs) gets a small targeted trial, from up to trialShare of the tick's
//     budget, whatever its score or quality score; when the budget is short, trials already
//     started are finished first, then creators without a recent trial (creator keep-alive), then
//     creators whose content had no trial for the longest, then the oldest items; trial
//     allocations carry trial = true, and the ranker serves them first;
//   - evidence: after the trial, heat follows a Thompson draw from the posterior of the item's
//     engaged quality (agents/evidence.ts: completion and shares per impression, never raw clicks;
//     the published quality score is only the prior). Items drawn below the platform baseline
//     stop; the others are scored (AllocationScorer), approved at ≥ scoreThreshold and cleared
//     by score, sized by how far above the baseline they are.
// Units: impressions for pool, cap and grants; cost = bid_price × impressions / costPerImpressions
// traffic coins (bid is a price per mille).
import { hash64Hex } from '../core/hash.js';
import { keyedUniform } from '../core/rng.js';
import type { HeatingAllocation, RewardWeights } from '../schemas/types.js';
import { buildFeatures } from './allocation-features.js';
import { targetCategories, type AudienceAggregate } from './audience.js';
import type { AgentConfig } from './config.js';
import { inTrial, type HeatingRequest } from './content.js';
import {
  observedValue,
  posterior,
  recordFactor,
  thompson,
  type EngagementEvidence,
  type EvidencePrior,
  type TrackRecord,
} from './evidence.js';
import type { AllocationScorer, TickDecision } from './scorer.js';

export interface ActiveAllocation {
  allocation_id: string;
  content_id: string;
  valid_until: number;
  granted: number;
  delivered: number;
  /** Budget period the grant was taken from (its undelivered rest returns to that period's pool). */
  period?: number;
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
  /** Traffic curve: impressions per tick-slot of the budget period (EWMA over periods; null = not seen yet). */
  profile?: (number | null)[];
  /** Last tick whose totals were folded into the profile. */
  profiledTick?: number;
  /** Platform baseline of engaged value per click (EWMA over ticks; null before any evidence). */
  baseline?: number | null;
  /** Track records (value per click of items past their trial, EWMA over ticks) per category and per creator. */
  categoryRecords?: Record<string, TrackRecord & { tick: number }>;
  creatorRecords?: Record<string, TrackRecord & { tick: number }>;
  /** Mean published quality of the requests (EWMA over ticks; null before any request). */
  qualityMean?: number | null;
  /** Expired allocations whose deliveries may still be reported (until valid_until + deliveryGraceMs). */
  settling?: ActiveAllocation[];
  /** Delivered impressions reported for no tracked allocation since the last tick (reported late past the grace, or unknown). */
  unjoined?: number;
  /** Share of granted impressions delivered (EWMA over ticks with settled allocations; null before any). */
  deliveryRatio?: number | null;
  /** Creator → tick of their last trial grant (creator keep-alive; entries older than a period are dropped). */
  creatorTrials?: Record<string, number>;
}

export function newAllocatorState(cfg: AgentConfig): AllocatorState {
  return {
    periodIndex: -1,
    poolSize: cfg.system.budgetPool,
    poolRemaining: cfg.system.budgetPool,
    window: [],
    active: [],
    version: 0,
    profile: [],
    profiledTick: -1,
    baseline: null,
    qualityMean: null,
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

/** Joins delivered heated impressions back to active and settling allocations (from content-stage outcomes). */
export function recordDelivered(
  s: AllocatorState,
  outcomes: readonly { allocation_id: string; impressions: number }[],
): void {
  if (outcomes.length === 0) return;
  const byId = new Map([...s.active, ...(s.settling ?? [])].map((a) => [a.allocation_id, a]));
  for (const o of outcomes) {
    const a = byId.get(o.allocation_id);
    if (a) a.delivered += o.impressions;
    else s.unjoined = (s.unjoined ?? 0) + o.impressions;
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
  /** Trial candidates plus evidence candidates at or above the threshold, with demand left after outstanding impressions. */
  eligible: number;
  approved: number;
  rejected: number;
  grantedImpressions: number;
  /** The heating cap in force (business-objectives, else config). */
  heatingCap: number;
  /** Trial allocations and their impressions (坑7). */
  trials: number;
  trialImpressions: number;
  /** Impressions the cap still allowed this tick. */
  capCapacity: number;
  /** Impressions the pool (paced) allowed this tick. */
  poolAvailable: number;
  poolRemaining: number;
  /** Undelivered impressions of allocations settled this tick (deliveryGraceMs after expiry), returned to the pool. */
  poolRefunded: number;
  /** Delivered impressions reported for no tracked allocation since the last tick (past the grace: raise deliveryGraceMs). */
  unjoinedDeliveries: number;
  /** At a new budget period: impressions still outstanding from grants of the last one, charged to this one. */
  poolCarried: number;
  /** Heated / all impressions in the rolling window, before this tick's grants. */
  heatedShare: number;
  /** (heated in window + (outstanding + granted) × delivery ratio) / all in window. */
  projectedHeatedShare: number;
  /** Lowest approved evidence score; 1 when evidence candidates existed but none could be approved; the threshold when none existed. */
  clearingScore: number;
  capBinding: boolean;
  /** Engaged value per click of an average item (the evidence baseline), 0 before any. */
  baseline: number;
}

export interface AllocateResult {
  allocations: HeatingAllocation[];
  metrics: TickMetrics;
  /** What a learning scorer (one with decide()) decided, by content id; null for others or no request. */
  decision: TickDecision | null;
}

interface Candidate {
  i: number;
  id: string;
  score: number;
  demand: number;
  granted: number;
  trial: boolean;
  publishedAt: number;
}

/** Scores desc, then content id asc: a total, replay-stable order. */
const byScore = (a: Candidate, b: Candidate): number =>
  b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
/** Oldest first (the first-day deadline comes first), then content id. */
const byAge = (a: Candidate, b: Candidate): number =>
  a.publishedAt - b.publishedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

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

/** Fills `cands` in order, each up to its residual demand, until `budget` is used (the last one may get part). */
function fillInOrder(cands: Candidate[], budget: number, minGrant: number): number {
  let used = 0;
  for (const c of cands) {
    const g = Math.min(c.demand - c.granted, budget - used);
    if (g <= 0 || g < Math.min(minGrant, c.demand - c.granted)) continue;
    c.granted += g;
    used += g;
  }
  return used;
}

/** Target categories and the curiosity floor the curious audience can actually serve over validityTicks ticks (see reachPerActiveUser). */
export function targetFor(
  category: string,
  impressions: number,
  audience: AudienceAggregate,
  cfg: AgentConfig,
  validityTicks = 1,
): HeatingAllocation['target'] {
  const categories = targetCategories(category, cfg.system.adjacency);
  let curious = 0;
  for (const c of categories) curious += audience.curious[c] ?? 0;
  const perUser =
    cfg.system.reachPerActiveUser > 0 ? cfg.system.reachPerActiveUser : cfg.system.impressionsPerCuriousUser;
  const enough = curious * perUser * validityTicks >= impressions;
  return { categories, min_curiosity: enough ? cfg.user.highCuriosity : 0 };
}

export function allocationId(contentId: string, tick: number): string {
  return hash64Hex(`${contentId}@${tick}`);
}

/** Time slot of `t` within its budget period. */
const slotOf = (t: number, tickMs: number, periodMs: number): number =>
  Math.floor((((t % periodMs) + periodMs) % periodMs) / tickMs);

/**
 * Folds the totals of the tick that ended at T (the window entry for T, the impressions of
 * [T − tickMs, T)) into the traffic curve, once per tick.
 */
function learnTrafficCurve(s: AllocatorState, T: number, tickMs: number, cfg: AgentConfig): void {
  const slots = Math.max(1, Math.round(cfg.system.budgetPeriodMs / tickMs));
  const profile = (s.profile ??= []);
  if (profile.length !== slots) profile.splice(0, profile.length, ...new Array<null>(slots).fill(null));
  if ((s.profiledTick ?? -1) >= T) return;
  const entry = s.window.find((w) => w.tick === T);
  if (!entry) return;
  s.profiledTick = T;
  const slot = slotOf(T - tickMs, tickMs, cfg.system.budgetPeriodMs);
  const prev = profile[slot];
  const keep = cfg.system.trafficCurveKeep;
  profile[slot] = prev === null || prev === undefined ? entry.total : keep * prev + (1 - keep) * entry.total;
}

/**
 * The pool this tick may grant: the remaining pool × (expected traffic of this tick / expected
 * traffic of the period's remaining ticks), times pacingBurst so a tick can catch up, divided by
 * the measured delivery ratio — grants are paced so that what they are expected to deliver follows
 * the traffic curve (a ranker delivers only part of a grant before it expires, and the rest
 * returns to the pool). Never more than the remaining pool, so deliveries never exceed it. Slots
 * not seen yet are expected at the mean of those seen (even pacing before any traffic).
 */
function pacedPool(s: AllocatorState, T: number, tickMs: number, delivery: number, cfg: AgentConfig): number {
  const sys = cfg.system;
  if (!(sys.pacingBurst > 0)) return s.poolRemaining;
  const profile = s.profile ?? [];
  let seen = 0;
  let sum = 0;
  for (const v of profile)
    if (v !== null && v !== undefined) {
      seen++;
      sum += v;
    }
  const fallback = seen > 0 ? sum / seen : 1;
  const expected = (slot: number): number => {
    const v = profile[slot];
    return v === null || v === undefined ? fallback : v;
  };
  const periodEnd = (Math.floor(T / sys.budgetPeriodMs) + 1) * sys.budgetPeriodMs;
  const ticksLeft = Math.max(1, Math.ceil((periodEnd - T) / tickMs));
  let rest = 0;
  for (let k = 0; k < ticksLeft; k++) rest += expected(slotOf(T + k * tickMs, tickMs, sys.budgetPeriodMs));
  const share = rest > 0 ? expected(slotOf(T, tickMs, sys.budgetPeriodMs)) / rest : 1 / ticksLeft;
  return Math.min(s.poolRemaining, Math.ceil((sys.pacingBurst * s.poolRemaining * share) / delivery));
}

/** Clicks of a request (it carries ctr and exposure). */
const clicksOf = (r: HeatingRequest): number => Math.round(r.ctr * r.exposure);

/** The engagement evidence a request carries. */
export const evidenceOf = (r: HeatingRequest): EngagementEvidence => ({
  exposure: r.exposure,
  clicks: clicksOf(r),
  completionSum: r.completion_sum ?? 0,
  shares: r.shares ?? 0,
});

/** Folds this tick's per-group mean value into the group's record (EWMA over ticks, items ≈ distinct items). */
function foldRecords(
  records: Record<string, TrackRecord & { tick: number }>,
  sums: Map<string, { v: number; n: number }>,
  tick: number,
  keep: number,
): void {
  for (const [k, { v, n }] of sums) {
    const r = records[k];
    if (!r) records[k] = { mean: v / n, items: n, tick };
    else {
      r.mean = keep * r.mean + (1 - keep) * (v / n);
      r.items = keep * r.items + (1 - keep) * n;
      r.tick = tick;
    }
  }
}

/**
 * Updates the platform baseline, the quality mean and the category and creator track records from
 * the tick's requests (items past their trial with enough clicks are the sample of "an average
 * item"); returns the evidence prior.
 */
function evidencePrior(
  s: AllocatorState,
  requests: readonly HeatingRequest[],
  tick: number,
  cfg: AgentConfig,
): EvidencePrior {
  const ev = cfg.system.evidence;
  let rates = 0;
  let n = 0;
  let qualities = 0;
  const byCategory = new Map<string, { v: number; n: number }>();
  const byCreator = new Map<string, { v: number; n: number }>();
  const add = (m: Map<string, { v: number; n: number }>, k: string, v: number): void => {
    const e = m.get(k);
    if (e) {
      e.v += v;
      e.n++;
    } else m.set(k, { v, n: 1 });
  };
  for (const r of requests) {
    qualities += r.quality;
    const e = evidenceOf(r);
    if (r.exposure < Math.max(1, cfg.content.trialImpressions) || e.clicks < Math.max(1, ev.recordMinClicks))
      continue;
    const v = observedValue(e, ev.shareWeight) / e.clicks;
    rates += v;
    n++;
    add(byCategory, r.category, v);
    add(byCreator, r.creator_id, v);
  }
  const keep = ev.baselineKeep;
  if (n > 0) {
    const b = rates / n;
    s.baseline = s.baseline == null ? b : keep * s.baseline + (1 - keep) * b;
  }
  if (requests.length > 0) {
    const q = qualities / requests.length;
    s.qualityMean = s.qualityMean == null ? q : keep * s.qualityMean + (1 - keep) * q;
  }
  foldRecords((s.categoryRecords ??= {}), byCategory, tick, keep);
  const creators = (s.creatorRecords ??= {});
  foldRecords(creators, byCreator, tick, keep);
  for (const k of Object.keys(creators))
    if (creators[k].tick <= tick - ev.recordHorizonMs) delete creators[k];
  return {
    baseline: Math.max(1e-4, s.baseline ?? ev.baselinePrior),
    qualityMean: Math.max(1e-3, s.qualityMean ?? cfg.content.defaultQuality),
    priorClicks: ev.priorClicks,
    qualityExponent: ev.qualityExponent,
    qualityRange: ev.qualityRange,
    shareWeight: ev.shareWeight,
  };
}

/** Scores the tick's requests (sorted by content id); a learning scorer's decision keeps its rows' ids. */
function scoreRequests(
  scorer: AllocationScorer,
  requests: readonly HeatingRequest[],
  features: Float32Array,
): { scores: Float32Array; decision: TickDecision | null } {
  const rows = requests.length;
  if (rows === 0) return { scores: new Float32Array(0), decision: null };
  if (!scorer.decide) return { scores: scorer.score(features, rows), decision: null };
  const d = scorer.decide(features, rows);
  const contentIds = requests.map((r) => r.content_id);
  return { scores: d.scores, decision: { ...d.decision, contentIds, features } };
}

/** Runs one allocation tick in place on `s`. Requests may come in any order (sorted by content_id here). */
export function allocateTick(s: AllocatorState, input: AllocateInput, cfg: AgentConfig): AllocateResult {
  const sys = cfg.system;
  const T = input.tick;
  const cap = input.heatingCap ?? sys.heatingCap;

  // Budget period: replenish (no carry-over of unspent budget) when T enters a new period. Grants
  // still running into the new period are its commitments: their undelivered impressions are
  // charged to it, and return to it if they expire undelivered. So what the old period granted
  // late is neither lost nor paid twice, and deliveries within a period never exceed its pool.
  const period = Math.floor(T / sys.budgetPeriodMs);
  let carried = 0;
  if (period > s.periodIndex) {
    s.periodIndex = period;
    for (const a of s.active) {
      if (a.valid_until <= T) continue;
      carried += Math.max(0, a.granted - a.delivered);
      a.period = period;
    }
    carried = Math.min(carried, s.poolSize);
    s.poolRemaining = s.poolSize - carried;
    const trials = s.creatorTrials ?? {};
    for (const c of Object.keys(trials)) if (trials[c] <= T - sys.budgetPeriodMs) delete trials[c];
  }
  // Expired allocations are no longer served, but impressions picked before valid_until are still
  // being reported: they settle deliveryGraceMs later. Then what they did not deliver returns to
  // their period's pool, and their delivery ratio updates the expected share of outstanding
  // impressions that will be delivered.
  const settling = (s.settling ??= []);
  for (const a of s.active) if (a.valid_until <= T) settling.push(a);
  s.active = s.active.filter((a) => a.valid_until > T);
  let refunded = 0;
  let settledGranted = 0;
  let settledDelivered = 0;
  for (const a of settling) {
    if (a.valid_until + sys.deliveryGraceMs > T) continue;
    settledGranted += a.granted;
    settledDelivered += Math.min(a.granted, a.delivered);
    if (a.period === period) refunded += Math.max(0, a.granted - a.delivered);
  }
  if (settledGranted > 0) {
    const r = settledDelivered / settledGranted;
    const keep = sys.deliveryRatioKeep;
    s.deliveryRatio = s.deliveryRatio == null ? r : keep * s.deliveryRatio + (1 - keep) * r;
  }
  s.settling = settling.filter((a) => a.valid_until + sys.deliveryGraceMs > T);
  const delivery = Math.min(1, Math.max(sys.minDeliveryRatio, s.deliveryRatio ?? 1));
  refunded = Math.min(refunded, s.poolSize - s.poolRemaining);
  s.poolRemaining += refunded;
  const unjoined = s.unjoined ?? 0;
  s.unjoined = 0;
  learnTrafficCurve(s, T, input.tickMs, cfg);
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
  // The cap holds what will be delivered: outstanding impressions count at the delivery ratio, and
  // so do new grants (capacity is in granted impressions).
  const capCapacity = Math.max(0, Math.floor((cap * total - heated - outstanding * delivery) / delivery));
  const poolAvailable = Math.max(0, pacedPool(s, T, input.tickMs, delivery, cfg));
  const available = Math.min(capCapacity, poolAvailable);

  const requests = [...input.requests].sort((a, b) =>
    a.content_id < b.content_id ? -1 : a.content_id > b.content_id ? 1 : 0,
  );
  const prior = evidencePrior(s, requests, T, cfg);
  // Engaged quality relative to the platform baseline (the prior carries the category's and the
  // creator's track record): the posterior mean ranks and sizes heat (exploit what the evidence
  // says), a Thompson draw per item and tick (keyed, so replays agree) decides whether heat
  // continues at all (an uncertain item keeps a chance; a poor one stops).
  const ev = sys.evidence;
  const ratios: number[] = [];
  const draws: number[] = [];
  for (const r of requests) {
    const records =
      recordFactor(s.categoryRecords?.[r.category], prior.baseline, ev.recordWeight) *
      recordFactor(s.creatorRecords?.[r.creator_id], prior.baseline, ev.recordWeight);
    const post = posterior(evidenceOf(r), r.quality, prior, records);
    ratios.push(post.mean / prior.baseline);
    draws.push(thompson(post, keyedUniform(0x7e57, r.content_id, T)) / prior.baseline);
  }
  const trial = requests.map((r) => inTrial(r.exposure, r.published_at, T, cfg));
  const capPressure = total > 0 && cap > 0 ? (heated + outstanding) / (cap * total) : 1;
  const features = buildFeatures(
    requests,
    { tick: T, audience: input.audience, weights: input.weights, capPressure, ratios, trial },
    cfg,
  );
  const { scores, decision } = scoreRequests(input.scorer, requests, features);
  const policy = decision?.policy ?? input.scorer.policy;
  const modelVersion = decision?.version ?? input.scorer.modelVersion;

  const minGrant = sys.minGrant ?? cfg.content.minRequest;
  /**
   * Impressions the target audience can absorb over the allocation's validity: the tick's active
   * users in the target categories, per tick of validity, at reachPerActiveUser each (Infinity when off).
   */
  const validityTicks = Math.max(1, sys.allocationValidityMs / input.tickMs);
  const reachOf = (category: string): number => {
    if (!(sys.reachPerActiveUser > 0)) return Infinity;
    let active = 0;
    for (const c of targetCategories(category, sys.adjacency)) active += input.audience.active[c] ?? 0;
    return Math.floor(active * validityTicks * sys.reachPerActiveUser);
  };
  const trials: Candidate[] = [];
  const evidence: Candidate[] = [];
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i];
    const score = scores[i];
    const outstandingNow = outstandingBy.get(r.content_id) ?? 0;
    const reach = reachOf(r.category);
    if (trial[i]) {
      // Not double-allocated: an active allocation's undelivered impressions count against the trial.
      // Reach-sized like any grant, but never below minGrant: a thin audience must not keep an item
      // from its trial, it only takes it longer.
      // The last few impressions of a trial are granted even below minGrant: a trial stuck just
      // short of its size was paid for and tells nothing more than no trial.
      const need = cfg.content.trialImpressions - r.exposure - outstandingNow;
      const demand = Math.min(need, Math.max(minGrant, reach) - outstandingNow);
      if (demand > 0 && demand >= Math.min(minGrant, need))
        trials.push({
          i,
          id: r.content_id,
          score,
          demand,
          granted: 0,
          trial: true,
          publishedAt: r.published_at,
        });
      continue;
    }
    // Evidence heat is for items still short of organic exposure (content.coldExposure): an item
    // the platform already shows widely does not need it.
    const ratio = ratios[i];
    if (r.exposure >= cfg.content.coldExposure) continue;
    if (!(draws[i] >= sys.evidence.minRatio) || !(score >= sys.scoreThreshold)) continue;
    const sized = Math.ceil(sys.evidence.impressions * Math.min(ratio, sys.evidence.maxRatio));
    const demand = Math.min(cfg.content.maxRequest, r.requested_impressions, reach, sized) - outstandingNow;
    if (demand >= minGrant)
      evidence.push({
        i,
        id: r.content_id,
        score,
        demand,
        granted: 0,
        trial: false,
        publishedAt: r.published_at,
      });
  }
  // Trial order under a scarce budget: trials already started (heated before, or still
  // outstanding) are finished first — spread thin, a short budget starts many trials and finishes
  // few, and a trial that never reaches its size is heat spent for nothing — then creators by their
  // last trial, oldest first (none in the last period comes first: creator keep-alive), then the
  // oldest items.
  const lastTrial = (s.creatorTrials ??= {});
  const since = (c: Candidate): number => lastTrial[requests[c.i].creator_id] ?? -Infinity;
  const started = (c: Candidate): number =>
    requests[c.i].heated_impressions > 0 || outstandingBy.has(requests[c.i].content_id) ? 0 : 1;
  // Two creators without a trial: −∞ − −∞ is NaN, falsy, so the oldest item decides.
  trials.sort((a, b) => started(a) - started(b) || since(a) - since(b) || byAge(a, b));
  evidence.sort(byScore);

  // Trials first, from up to trialShare of the budget; evidence from the rest; then whatever is
  // left goes to the trials and evidence still short.
  let used = fillInOrder(trials, Math.floor(available * sys.trialShare), minGrant);
  used += clear(evidence, available - used, sys.minFill, minGrant);
  used += fillInOrder(trials, available - used, minGrant);
  used += clear(evidence, available - used, sys.minFill, minGrant);

  const allocations: HeatingAllocation[] = [];
  let clearing = 1;
  let trialCount = 0;
  let trialImps = 0;
  for (const c of [...trials, ...evidence]) {
    if (c.granted <= 0) continue;
    const r = requests[c.i];
    const id = allocationId(r.content_id, T);
    if (c.trial) {
      trialCount++;
      trialImps += c.granted;
      lastTrial[r.creator_id] = T;
    } else clearing = Math.min(clearing, c.score);
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
      target: targetFor(r.category, c.granted, input.audience, cfg, validityTicks),
      policy,
      model_version: modelVersion,
      reward_weights: { ...input.weights },
      emitted_at: T,
      trial: c.trial,
    });
    s.active.push({
      allocation_id: id,
      content_id: r.content_id,
      valid_until: T + sys.allocationValidityMs,
      granted: c.granted,
      delivered: 0,
      period,
    });
  }
  allocations.sort((a, b) => (a.content_id < b.content_id ? -1 : a.content_id > b.content_id ? 1 : 0));
  s.poolRemaining -= used;
  s.version += 1;

  const evidenceApproved = allocations.length - trialCount;
  const demandTotal = [...trials, ...evidence].reduce((acc, c) => acc + c.demand, 0);
  return {
    allocations,
    decision,
    metrics: {
      tick: T,
      requests: requests.length,
      eligible: trials.length + evidence.length,
      approved: allocations.length,
      rejected: requests.length - allocations.length,
      grantedImpressions: used,
      heatingCap: cap,
      trials: trialCount,
      trialImpressions: trialImps,
      capCapacity,
      poolAvailable,
      poolRemaining: s.poolRemaining,
      poolRefunded: refunded,
      unjoinedDeliveries: unjoined,
      poolCarried: carried,
      heatedShare: total > 0 ? heated / total : 0,
      projectedHeatedShare: total > 0 ? (heated + (outstanding + used) * delivery) / total : 0,
      clearingScore: evidenceApproved > 0 ? clearing : evidence.length > 0 ? 1 : sys.scoreThreshold,
      capBinding: demandTotal > capCapacity && capCapacity <= poolAvailable,
      baseline: s.baseline ?? 0,
    },
  };
}
