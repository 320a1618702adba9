// Content agent (SPEC §3): per-content CTR, engagement and heating budget, applied in stage 2's
// canonical order (event_time, source, offset). At each tick boundary T stage 2 calls
// contentTick(): close finished feedback windows (budget growth), anti-cheat, then the request.
import { keyedUniform } from '../core/rng.js';
import type { ContentPublished, ContentState, UserInteraction } from '../schemas/types.js';
import { judgeContent, type CheatVerdict, type ContentEvidence } from './anticheat.js';
import type { AgentConfig } from './config.js';
import { isEngaged } from './user.js';

/** Delivered outcome of one allocation since the last drain (delayed rewards join on allocation_id). */
export interface AllocationOutcome {
  allocation_id: string;
  content_id: string;
  impressions: number;
  clicks: number;
  /** Clicks with completion ≥ user.engagedCompletion. */
  completions: number;
  shares: number;
}

export interface ContentAgentState extends ContentEvidence {
  id: string;
  /** null until content-published was applied (interactions may arrive first). */
  creator: string | null;
  category: string;
  quality: number;
  publishedAt: number | null;
  followers: number | null;
  shares: number;
  completionSum: number;
  heatedImpressions: number;
  /** Current tumbling feedback window: index floor(t / feedbackWindowMs), −1 before any. */
  winIndex: number;
  winExposure: number;
  winClicks: number;
  winEngaged: number;
  /** CTR of the last closed window with impressions. */
  windowCtr: number;
  budget: number;
  flagged: boolean;
  flagReason: CheatVerdict;
  version: number;
  updatedAt: number;
  outcomes: Record<string, AllocationOutcome>;
}

export function newContentState(id: string, category: string, cfg: AgentConfig): ContentAgentState {
  return {
    id,
    creator: null,
    category,
    quality: cfg.content.defaultQuality,
    publishedAt: null,
    followers: null,
    exposure: 0,
    clicks: 0,
    engaged: 0,
    suspectClicks: 0,
    shares: 0,
    completionSum: 0,
    heatedImpressions: 0,
    winIndex: -1,
    winExposure: 0,
    winClicks: 0,
    winEngaged: 0,
    windowCtr: 0,
    budget: cfg.content.initialBudget,
    flagged: false,
    flagReason: null,
    version: 0,
    updatedAt: 0,
    outcomes: {},
  };
}

export const ctrOf = (s: ContentAgentState): number => (s.exposure > 0 ? s.clicks / s.exposure : 0);
/** Share of clicks backed by engagement (completion or share). */
export const engagedRateOf = (s: ContentAgentState): number => (s.clicks > 0 ? s.engaged / s.clicks : 0);

export function applyPublished(
  state: ContentAgentState | undefined,
  ev: ContentPublished,
  cfg: AgentConfig,
): ContentAgentState {
  const s = state ?? newContentState(ev.content_id, ev.category, cfg);
  s.creator = ev.creator_id;
  s.category = ev.category;
  s.quality = Number.isFinite(ev.quality_score)
    ? Math.min(1, Math.max(0, ev.quality_score))
    : cfg.content.defaultQuality;
  s.publishedAt = ev.published_at;
  s.followers = ev.creator_followers ?? null;
  s.updatedAt = Math.max(s.updatedAt, ev.published_at);
  s.version += 1;
  return s;
}

/**
 * Closes every feedback window that ended at or before `t`. Budget grows by budgetGrowth for the
 * closed window when its ctr > budgetGrowthCtr AND its clicks were engagement-backed (engaged rate
 * ≥ budgetGrowthMinEngagedRate) on at least feedbackMinExposure impressions: bought or colluding
 * clicks then earn nothing even before anti-cheat flags them (坑2/坑6). Budget stays ≤ maxBudget.
 * Returns true when state changed.
 */
export function rollFeedbackWindow(s: ContentAgentState, t: number, cfg: AgentConfig): boolean {
  const c = cfg.content;
  const idx = Math.floor(t / c.feedbackWindowMs);
  if (s.winIndex < 0) {
    s.winIndex = idx;
    return false;
  }
  if (idx <= s.winIndex) return false;
  let changed = false;
  if (s.winExposure > 0) {
    s.windowCtr = s.winClicks / s.winExposure;
    const engagedRate = s.winClicks > 0 ? s.winEngaged / s.winClicks : 0;
    if (
      !s.flagged &&
      s.winExposure >= c.feedbackMinExposure &&
      s.windowCtr > c.budgetGrowthCtr &&
      engagedRate >= c.budgetGrowthMinEngagedRate
    ) {
      s.budget = Math.min(c.maxBudget, s.budget + c.budgetGrowth);
    }
    changed = true;
  }
  s.winIndex = idx;
  s.winExposure = 0;
  s.winClicks = 0;
  s.winEngaged = 0;
  return changed;
}

/**
 * Applies one interaction (an impression with its outcome). `suspectClicker` is the user-side
 * anti-cheat bit forwarded by stage 1. A heated impression of an allocation spends
 * 1 / impressionsPerBudgetUnit budget (consistent with requested = budget × impressionsPerBudgetUnit).
 */
export function applyContentInteraction(
  s: ContentAgentState,
  ev: UserInteraction,
  suspectClicker: boolean,
  cfg: AgentConfig,
): void {
  rollFeedbackWindow(s, ev.event_time, cfg);
  const engaged = isEngaged(ev, cfg.user);
  s.exposure += 1;
  s.winExposure += 1;
  if (ev.click) {
    s.clicks += 1;
    s.winClicks += 1;
    s.completionSum += ev.completion;
    if (suspectClicker) s.suspectClicks += 1;
  }
  if (engaged) {
    s.engaged += 1;
    s.winEngaged += 1;
  }
  if (ev.shared) s.shares += 1;
  if (ev.heated) {
    s.heatedImpressions += 1;
    // Rounded so thousands of 0.1 steps do not drift (budget × 10 must stay an exact count).
    s.budget = Math.max(0, Math.round((s.budget - 1 / cfg.content.impressionsPerBudgetUnit) * 1e9) / 1e9);
    if (ev.allocation_id) {
      const o = outcomeOf(s, ev.allocation_id);
      o.impressions += 1;
      if (ev.click) o.clicks += 1;
      if (ev.click && ev.completion >= cfg.user.engagedCompletion) o.completions += 1;
      if (ev.shared) o.shares += 1;
    }
  }
  s.updatedAt = Math.max(s.updatedAt, ev.event_time);
  s.version += 1;
}

/**
 * The outcome of `allocationId`, created on its first impression. The id comes from input, so it
 * is read and written as an own property only: `__proto__` or `constructor` would otherwise reach
 * Object.prototype or Object itself, and their counts would be lost.
 */
function outcomeOf(s: ContentAgentState, allocationId: string): AllocationOutcome {
  if (Object.hasOwn(s.outcomes, allocationId)) return s.outcomes[allocationId];
  const o: AllocationOutcome = {
    allocation_id: allocationId,
    content_id: s.id,
    impressions: 0,
    clicks: 0,
    completions: 0,
    shares: 0,
  };
  Object.defineProperty(s.outcomes, allocationId, {
    value: o,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return o;
}

/** Returns the per-allocation outcomes accumulated since the last drain (sorted by id) and clears them. */
export function drainAllocationOutcomes(s: ContentAgentState): AllocationOutcome[] {
  const out = Object.keys(s.outcomes)
    .sort()
    .map((k) => s.outcomes[k]);
  s.outcomes = {};
  return out;
}

/** Anti-cheat, content side: flags once, zeroes the budget; a flag is never lifted. */
export function applyAntiCheat(s: ContentAgentState, cfg: AgentConfig): boolean {
  if (s.flagged) return false;
  const verdict = judgeContent(s, cfg.antiCheat);
  if (verdict === null) return false;
  s.flagged = true;
  s.flagReason = verdict;
  s.budget = 0;
  return true;
}

/** A heating request sent to the allocator (internal topic). `tick` is the tick boundary T (ms). */
export interface HeatingRequest {
  content_id: string;
  creator_id: string;
  category: string;
  tick: number;
  requested_impressions: number;
  bid_price: number;
  quality: number;
  ctr: number;
  exposure: number;
  engaged_rate: number;
  budget: number;
  /** Heated impressions delivered so far (0 = never heated). */
  heated_impressions: number;
  /** Σ completion over clicks and the number of shares: the engaged-quality evidence (never raw clicks). */
  completion_sum: number;
  shares: number;
  published_at: number;
  creator_followers: number | null;
}

/** Probability of requesting heating this tick (the seed's rule, and always during the trial; HeatingRequestPolicy seam). */
export interface HeatingRequestPolicy {
  readonly policy: 'RULE' | 'LEARNED';
  requestProbability(s: ContentAgentState, cfg: AgentConfig, tick: number): number;
}

/** 坑7: a new item still short of its trial (within trialWindowMs of publication). */
export function inTrial(exposure: number, publishedAt: number, tick: number, cfg: AgentConfig): boolean {
  return exposure < cfg.content.trialImpressions && tick - publishedAt < cfg.content.trialWindowMs;
}

export const ruleRequestPolicy: HeatingRequestPolicy = {
  policy: 'RULE',
  requestProbability(s, cfg, tick) {
    const c = cfg.content;
    if (s.publishedAt !== null && inTrial(s.exposure, s.publishedAt, tick, cfg)) return 1;
    if (s.exposure < c.coldExposure) return c.coldRequestProbability;
    if (ctrOf(s) > c.goodCtr) return c.goodRequestProbability;
    return c.otherRequestProbability;
  },
};

/** bid = quality·bidBase·(1 + expected_ctr·bidCtrMultiplier); expected_ctr = ctr, or the default while unknown. */
export function bidPrice(s: ContentAgentState, cfg: AgentConfig): number {
  const c = cfg.content;
  const expected = s.exposure >= c.ctrMinExposure && s.clicks > 0 ? ctrOf(s) : c.defaultExpectedCtr;
  return s.quality * c.bidBase * (1 + expected * c.bidCtrMultiplier);
}

export function requestedImpressions(s: ContentAgentState, cfg: AgentConfig): number {
  return Math.min(cfg.content.maxRequest, Math.floor(s.budget * cfg.content.impressionsPerBudgetUnit));
}

/**
 * The request decision at tick T, drawn with keyedUniform(seed, content_id, T) so a replay decides
 * the same. No request when flagged, unpublished, too old, or when the budget buys less than minRequest.
 */
export function decideHeatingRequest(
  s: ContentAgentState,
  tick: number,
  seed: number,
  cfg: AgentConfig,
  policy: HeatingRequestPolicy = ruleRequestPolicy,
): HeatingRequest | null {
  if (s.flagged || s.creator === null || s.publishedAt === null) return null;
  if (tick - s.publishedAt > cfg.content.maxHeatingAgeMs) return null;
  const requested = requestedImpressions(s, cfg);
  if (requested < cfg.content.minRequest) return null;
  if (keyedUniform(seed, s.id, tick) >= policy.requestProbability(s, cfg, tick)) return null;
  return {
    content_id: s.id,
    creator_id: s.creator,
    category: s.category,
    tick,
    requested_impressions: requested,
    bid_price: bidPrice(s, cfg),
    quality: s.quality,
    ctr: ctrOf(s),
    exposure: s.exposure,
    engaged_rate: engagedRateOf(s),
    budget: s.budget,
    heated_impressions: s.heatedImpressions,
    completion_sum: s.completionSum,
    shares: s.shares,
    published_at: s.publishedAt,
    creator_followers: s.followers,
  };
}

export interface ContentTickResult {
  request: HeatingRequest | null;
  /** True when anti-cheat flagged the content at this tick. */
  flagged: boolean;
  /** True when the state changed (the caller emits a content-state changelog record). */
  changed: boolean;
}

/** Stage 2 at tick boundary T: close the feedback window, anti-cheat, then the request decision. */
export function contentTick(
  s: ContentAgentState,
  tick: number,
  seed: number,
  cfg: AgentConfig,
  policy?: HeatingRequestPolicy,
): ContentTickResult {
  const rolled = rollFeedbackWindow(s, tick, cfg);
  const flagged = applyAntiCheat(s, cfg);
  const changed = rolled || flagged;
  if (changed) {
    s.version += 1;
    s.updatedAt = Math.max(s.updatedAt, tick);
  }
  return { request: decideHeatingRequest(s, tick, seed, cfg, policy), flagged, changed };
}

export function toContentState(s: ContentAgentState): ContentState {
  return {
    content_id: s.id,
    exposure: s.exposure,
    clicks: s.clicks,
    ctr: ctrOf(s),
    window_ctr: s.windowCtr,
    engaged_rate: engagedRateOf(s),
    heating_budget: s.budget,
    flagged_cheating: s.flagged,
    version: s.version,
    updated_at: s.updatedAt,
  };
}
