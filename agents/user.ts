// User agent (SPEC §3): one compact mind state per user, updated per interaction in the user
// partition's offset order. Decays are exact functions of the event-time gap (half-lives), so any
// batching gives the same state; an out-of-order or equal timestamp is a zero gap, never negative.
import { fnv1a32 } from '../core/hash.js';
import type { UserInteraction, UserMindState } from '../schemas/types.js';
import { isSuspectClicker, updateClickerEvidence, type ClickerEvidence } from './anticheat.js';
import type { AudienceMarks } from './audience.js';
import { DEFAULT_AGENT_CONFIG, type AgentConfig, type UserConfig } from './config.js';
import { ruleExploreProbability } from './rule-explore.js';
import { BEHAVIOUR_SEQUENCE_LENGTH, BEHAVIOUR_STEP_FEATURE_COUNT, MIND_FEATURE_COUNT } from './scorer.js';

/**
 * Plain, JSON-serialisable user state. Kept small: the behaviour sequence is packed one step per
 * number, event ids are 32-bit hashes, and only categories engaged within the window are kept.
 * Measured ≈ 1.4 kB of V8 heap and ≈ 0.8 kB of JSON per user (docs/AGENTS.md): a columnar store is
 * needed for the 200 B/user target.
 */
export interface UserAgentState extends ClickerEvidence, AudienceMarks {
  id: string;
  exploitation: number;
  curiosity: number;
  fatigue: number;
  satisfaction: number;
  /** Policy output before protection (see exploreProbability()). */
  explore: number;
  /** Registration time, else the earliest event time seen (坑5). */
  since: number;
  sinceRegistered: boolean;
  /** Latest event time applied (max, so an older record never moves time back). */
  t: number;
  /** Source offset of the last applied record; −1 before any. */
  version: number;
  /** fnv1a32 of the previous interaction's category and the same-category run length. */
  lastCat: number;
  run: number;
  /** Packed behaviour steps, oldest first, at most sequenceLength (坑1). See packStep. */
  seq: number[];
  /** fnv1a32 of the last sequenceLength event ids as int32 (dedupe; small ints stay unboxed in V8). */
  ids: number[];
  /** Flat pairs [categoryCode, lastEngagedTime, ...]; only categories engaged within the breadth window. */
  engaged: number[];
}

export function newUserState(id: string, cfg: AgentConfig): UserAgentState {
  const u = cfg.user;
  return {
    id,
    exploitation: u.exploitationStart,
    curiosity: u.curiosityStart,
    fatigue: u.fatigueStart,
    satisfaction: u.satisfactionStart,
    explore: ruleExploreProbability(u.exploitationStart, u.curiosityStart, u.fatigueStart, u.explore),
    since: 0,
    sinceRegistered: false,
    t: 0,
    version: -1,
    lastCat: 0,
    run: 0,
    seq: [],
    ids: [],
    engaged: [],
    ck: 0,
    ue: 0,
    aTick: -1,
    aCats: [],
  };
}

// Packed step: bits 0-15 category code, 16 click, 17 is_new, 18 heated, 19-25 completion×100.
const CAT_MASK = 0xffff;
export function packStep(
  category: string,
  click: boolean,
  isNew: boolean,
  heated: boolean,
  completion: number,
): number {
  const c = Math.round(Math.min(1, Math.max(0, completion)) * 100);
  return (
    (fnv1a32(category) & CAT_MASK) +
    (click ? 0x10000 : 0) +
    (isNew ? 0x20000 : 0) +
    (heated ? 0x40000 : 0) +
    c * 0x80000
  );
}
export function unpackStep(s: number): {
  category: number;
  click: boolean;
  isNew: boolean;
  heated: boolean;
  completion: number;
} {
  return {
    category: (s & CAT_MASK) / CAT_MASK,
    click: (s & 0x10000) !== 0,
    isNew: (s & 0x20000) !== 0,
    heated: (s & 0x40000) !== 0,
    completion: Math.floor(s / 0x80000) / 100,
  };
}

/** Relaxes `value` toward `rest` over `gapMs` with half-life `halfLifeMs` (exact for any split of the gap). */
export function relax(value: number, rest: number, gapMs: number, halfLifeMs: number): number {
  if (!(gapMs > 0)) return value;
  return rest + (value - rest) * Math.pow(2, -gapMs / halfLifeMs);
}

const clamp01 = (x: number): number => (x <= 0 ? 0 : x >= 1 ? 1 : x);

export function isEngaged(
  ev: Pick<UserInteraction, 'click' | 'completion' | 'shared'>,
  u: UserConfig,
): boolean {
  return ev.click && (ev.completion >= u.engagedCompletion || ev.shared);
}

/**
 * The user's usual click rate: clicks over the behaviour sequence (before the current
 * interaction), shrunk toward the seed's reference rate with baselinePriorWeight pseudo-impressions,
 * so a user with no history is judged at the rate the seed's rewards were written for.
 */
export function baselineClickRate(state: Pick<UserAgentState, 'seq'>, u: UserConfig): number {
  let clicks = 0;
  for (const step of state.seq) if ((step & 0x10000) !== 0) clicks++;
  const b = (clicks + u.baselinePriorWeight * referenceRate(u)) / (state.seq.length + u.baselinePriorWeight);
  return b < 0.001 ? 0.001 : b > 0.999 ? 0.999 : b;
}

/** The click rate at which the seed's rewards average 0: −noClick / (click − noClick) (1/3 for +1 / −0.5). */
export function referenceRate(u: UserConfig): number {
  return -u.noClickReward / (u.clickReward - u.noClickReward);
}

/**
 * The seed's rewards (+clickReward on a click, noClickReward otherwise) rescaled to a baseline
 * click rate b: at b = referenceRate they are the seed's values; at any b they average 0 for a
 * user clicking at b and keep the seed's spread (the reward is a scaled z-score of the click).
 */
export function relativeReward(click: boolean, b: number, u: UserConfig): number {
  const ref = referenceRate(u);
  const scale = Math.sqrt((ref * (1 - b)) / ((1 - ref) * b));
  return click ? u.clickReward * scale : u.noClickReward / scale;
}

/** Heated impressions in a row, most recent first, that the user did not click (from the behaviour sequence). */
export function heatedSkipStreak(state: Pick<UserAgentState, 'seq'>): number {
  let n = 0;
  for (let i = state.seq.length - 1; i >= 0; i--) {
    const step = state.seq[i];
    if ((step & 0x40000) === 0) continue;
    if ((step & 0x10000) !== 0) break;
    n++;
  }
  return n;
}

export type UserUpdateOutcome =
  /** Applied; suspectClicker is the anti-cheat bit to forward with the interaction. */
  | { applied: true; suspectClicker: boolean }
  /** Not applied: `replay` (offset ≤ version) or `duplicate` (event id among the last sequenceLength). */
  | { applied: false; reason: 'replay' | 'duplicate' };

/**
 * Applies one interaction in place. `offset` is its source offset (the new version). The rule
 * policy sets `state.explore`; a learned ExplorePolicy may overwrite it after a batched call.
 * Satisfaction is clamped to [0,1] (the seed's −0.5 reward would otherwise drive it negative).
 */
export function applyUserInteraction(
  state: UserAgentState,
  ev: UserInteraction,
  offset: number,
  cfg: AgentConfig,
): UserUpdateOutcome {
  if (offset <= state.version) return { applied: false, reason: 'replay' };
  const idHash = fnv1a32(ev.event_id) | 0;
  if (state.ids.includes(idHash)) return { applied: false, reason: 'duplicate' };
  const u = cfg.user;
  const first = state.version < 0;
  const gap = first ? 0 : Math.max(0, ev.event_time - state.t);

  // Between interactions: curiosity and fatigue relax toward their start; exploitation recovers
  // toward its start only while the user was satisfied during the gap.
  state.curiosity = relax(state.curiosity, u.curiosityStart, gap, u.curiosityHalfLifeMs);
  state.fatigue = relax(state.fatigue, u.fatigueStart, gap, u.fatigueHalfLifeMs);
  if (state.satisfaction >= u.satisfactionLow) {
    state.exploitation = relax(
      state.exploitation,
      u.exploitationStart,
      gap,
      u.exploitationRecoveryHalfLifeMs,
    );
  }

  // Seed rules, in the seed's order, with the click rewards taken relative to the user's own
  // click rate (the behaviour sequence before this interaction), so they stay informative at
  // any platform CTR: each signal moves toward its start plus the relative reward, which
  // averages 0 at the user's usual rate.
  const r = relativeReward(ev.click, baselineClickRate(state, u), u);
  state.satisfaction = clamp01(
    u.satisfactionKeep * state.satisfaction + (1 - u.satisfactionKeep) * (u.satisfactionStart + r),
  );
  if (ev.is_new_content)
    state.curiosity = Math.min(
      u.curiosityCap,
      clamp01(state.curiosity + u.curiosityStep * (u.curiosityStart + r - state.curiosity)),
    );
  const cat = fnv1a32(ev.category) | 0;
  if (!first && cat === state.lastCat) {
    state.run += 1;
  } else {
    if (!first)
      state.fatigue = state.fatigue - (state.fatigue - u.fatigueStart) * u.fatigueCategoryChangeDrop;
    state.run = 1;
  }
  state.lastCat = cat;
  // In a same-category run, fatigue moves a step toward its start minus the reward: skipping more
  // than usual while the category repeats tires, clicking rests (a user at their usual rate stays
  // at the start however repetitive the feed is).
  if (state.run >= u.fatigueRunLength)
    state.fatigue = Math.min(
      u.fatigueCap,
      clamp01(state.fatigue + u.fatigueStep * (u.fatigueStart - r - state.fatigue)),
    );
  // Exploitation moves a step toward its floor while the user is dissatisfied, toward its start
  // while satisfied: a level that reflects how often the user has been satisfied lately.
  const exploitationTarget =
    state.satisfaction < u.satisfactionLow ? u.exploitationFloor : u.exploitationStart;
  state.exploitation += u.exploitationStep * (exploitationTarget - state.exploitation);

  // Protection clock (坑5): registration time when the record carries it, else first seen.
  if (ev.user_registered_at != null) {
    state.since = ev.user_registered_at;
    state.sinceRegistered = true;
  } else if (!state.sinceRegistered) {
    state.since = first ? ev.event_time : Math.min(state.since, ev.event_time);
  }
  state.t = first ? ev.event_time : Math.max(state.t, ev.event_time);

  // Bounded sequence and dedupe horizon (坑1).
  state.seq.push(packStep(ev.category, ev.click, ev.is_new_content, ev.heated, ev.completion));
  if (state.seq.length > u.sequenceLength) state.seq.splice(0, state.seq.length - u.sequenceLength);
  state.ids.push(idHash);
  if (state.ids.length > u.sequenceLength) state.ids.splice(0, state.ids.length - u.sequenceLength);

  // Interest breadth: engaged categories in the sliding window; older ones are dropped.
  const engaged = isEngaged(ev, u);
  const e = state.engaged;
  if (engaged) {
    let i = 0;
    while (i < e.length && e[i] !== cat) i += 2;
    if (i < e.length) e[i + 1] = Math.max(e[i + 1], ev.event_time);
    else e.push(cat, ev.event_time);
  }
  const horizon = state.t - u.breadthWindowMs;
  for (let i = e.length - 2; i >= 0; i -= 2) if (e[i + 1] <= horizon) e.splice(i, 2);

  updateClickerEvidence(state, gap, ev.click, engaged, cfg.antiCheat);
  state.explore = ruleExploreProbability(state.exploitation, state.curiosity, state.fatigue, u.explore);
  state.version = offset;
  return { applied: true, suspectClicker: isSuspectClicker(state, cfg.antiCheat) };
}

/** 坑5: protected while less than protectionMs has passed since registration / first seen. */
export function isProtected(state: UserAgentState, cfg: AgentConfig, now = state.t): boolean {
  return state.version < 0 || now - state.since < cfg.user.protectionMs;
}

/**
 * Explore probability served to the ranker: 0 while protected, else the policy's output, halved
 * for every heated impression the user skipped in a row beyond heatSkipFree (a user who keeps
 * skipping heated items stops being shown them; the streak leaves the behaviour sequence with time).
 */
export function exploreProbability(state: UserAgentState, cfg: AgentConfig, now = state.t): number {
  if (isProtected(state, cfg, now)) return 0;
  const excess = heatedSkipStreak(state) - cfg.user.heatSkipFree;
  return excess > 0 ? state.explore * Math.pow(0.5, excess) : state.explore;
}

/** Distinct categories engaged within the breadth window ending at `now`. */
export function interestBreadth(state: UserAgentState, cfg: AgentConfig, now = state.t): number {
  const horizon = now - cfg.user.breadthWindowMs;
  let n = 0;
  for (let i = 1; i < state.engaged.length; i += 2) if (state.engaged[i] > horizon) n++;
  return n;
}

export function toUserMindState(
  state: UserAgentState,
  cfg: AgentConfig = DEFAULT_AGENT_CONFIG,
): UserMindState {
  return {
    user_id: state.id,
    exploitation: state.exploitation,
    curiosity: state.curiosity,
    fatigue: state.fatigue,
    satisfaction: state.satisfaction,
    explore_probability: exploreProbability(state, cfg),
    exploration_protected: isProtected(state, cfg),
    interest_breadth: interestBreadth(state, cfg),
    version: state.version,
    updated_at: state.t,
  };
}

/** Writes MIND_FEATURES (exploitation, curiosity, fatigue, satisfaction) at `offset`. */
export function mindFeatures(state: UserAgentState, out: Float32Array, offset: number): void {
  if (offset + MIND_FEATURE_COUNT > out.length) throw new RangeError('mind feature row out of bounds');
  out[offset] = state.exploitation;
  out[offset + 1] = state.curiosity;
  out[offset + 2] = state.fatigue;
  out[offset + 3] = state.satisfaction;
}

/**
 * Writes the encoder input (BEHAVIOUR_SEQUENCE_LENGTH × BEHAVIOUR_STEP_FEATURES, oldest first) at
 * `offset`. Fewer steps are left-padded with zero rows (mask 0), so the newest step is always last.
 */
export function behaviourFeatures(state: UserAgentState, out: Float32Array, offset: number): void {
  const L = BEHAVIOUR_SEQUENCE_LENGTH;
  const W = BEHAVIOUR_STEP_FEATURE_COUNT;
  if (offset + L * W > out.length) throw new RangeError('behaviour feature block out of bounds');
  out.fill(0, offset, offset + L * W);
  const steps = state.seq.length > L ? state.seq.slice(state.seq.length - L) : state.seq;
  const pad = L - steps.length;
  for (let i = 0; i < steps.length; i++) {
    const s = unpackStep(steps[i]);
    const o = offset + (pad + i) * W;
    out[o] = s.category;
    out[o + 1] = s.click ? 1 : 0;
    out[o + 2] = s.completion;
    out[o + 3] = s.isNew ? 1 : 0;
    out[o + 4] = s.heated ? 1 : 0;
    out[o + 5] = 1;
  }
}
