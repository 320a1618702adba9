// Configuration of the simulated world. Every modelling constant lives here with its default and
// is documented in docs/SIMULATOR.md; nothing in sim/ hard-codes a behavioural number elsewhere.

import { DEFAULT_RECSIM, type RecsimConfig } from './recsim.js';

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

/** Category taxonomy (public knowledge: the ranker and the policies may use it). */
export const CATEGORIES = [
  'tech',
  'gaming',
  'food',
  'molecular_gastronomy',
  'fitness',
  'diet',
  'lowcal_snacks',
  'travel',
  'music',
  'movies',
  'fashion',
  'beauty',
  'pets',
  'parenting',
  'finance',
  'cars',
  'sports',
  'comedy',
  'science',
  'diy',
] as const;

/** Undirected adjacency of the taxonomy: "you may also like" edges. Includes the seed's cases:
 * diet ↔ lowcal_snacks (the dieter who would enjoy low-cal snacks) and tech ↔ molecular_gastronomy
 * (tech fans who enjoy molecular gastronomy). */
export const ADJACENT_PAIRS: readonly (readonly [string, string])[] = [
  ['tech', 'molecular_gastronomy'],
  ['tech', 'science'],
  ['tech', 'gaming'],
  ['food', 'molecular_gastronomy'],
  ['food', 'lowcal_snacks'],
  ['diet', 'lowcal_snacks'],
  ['diet', 'fitness'],
  ['fitness', 'sports'],
  ['travel', 'food'],
  ['music', 'movies'],
  ['movies', 'comedy'],
  ['fashion', 'beauty'],
  ['pets', 'parenting'],
  ['parenting', 'diy'],
  ['finance', 'cars'],
  ['cars', 'sports'],
  ['science', 'diy'],
  ['gaming', 'comedy'],
  ['beauty', 'diet'],
  ['finance', 'tech'],
  ['travel', 'music'],
];

export function adjacencyMap(): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const c of CATEGORIES) m.set(c, []);
  for (const [a, b] of ADJACENT_PAIRS) {
    m.get(a)!.push(b);
    m.get(b)!.push(a);
  }
  return m;
}

export interface WorldConfig {
  seed: number;
  users: number;
  days: number;
  /** Simulation start (UTC midnight), ms. */
  startMs: number;
  /** Event-time tick at which policies advance and publish allocations. */
  tickMs: number;

  // --- users
  /** Share of users who register during the run (uniformly over its days). */
  newUserShare: number;
  strongInterests: [number, number];
  latentInterests: [number, number];
  /** Probability that a latent interest is adjacent to a strong one. */
  latentAdjacentProb: number;
  /** Named world (worldPreset): which family member this config came from. */
  world: WorldName;
  /**
   * User model. 'affinity': every impression gets its own click / skip from the user's category
   * affinity (today, engagement). 'recsim': RecSim's interest-evolution user (sim/recsim.ts): one
   * choice per page (multinomial logit with a no-click option), a time budget per session that
   * quality extends or drains, interests that evolve toward what was consumed, scaled by quality.
   */
  userModel: 'affinity' | 'recsim';
  recsim: RecsimConfig;
  /** Page (slate) size and the positions of its heated slots (what the ranker serves per request). */
  pageSize: number;
  heatedSlots: number[];
  /** Click model: p = ctrScale · appeal · (qualityFloor + (1-qualityFloor)·q) · (1 - fatigueClickPenalty·fatigue);
   * without clickQuality the quality factor is 1 (clicks carry no quality information). */
  ctrScale: number;
  clickQuality: boolean;
  qualityFloor: number;
  fatigueClickPenalty: number;
  /** An undiscovered latent interest appeals with affinity · (latentBase + (1-latentBase)·curiosity). */
  latentBase: number;
  /** Completion ≥ this counts as an engaged view (used for discovery, satisfaction, metrics). */
  engagedCompletion: number;
  fatigueRepeatStep: number;
  fatigueRecoverStep: number;
  fatigueOvernight: number;
  /** Continue probability after each impression: base + bonus·engaged − penalty·fatigue. */
  continueBase: number;
  continueEngagedBonus: number;
  continueFatiguePenalty: number;
  maxImpressionsPerSession: number;
  maxSessionsPerDay: number;
  /**
   * Time-budget sessions (null: sessions end with the continue probability). A session starts
   * with sessionBudgetMs × (0.5 + activity) × U(0.5, 1.5); every impression spends its dwell and
   * scroll time; a click gives back timeBonus × (quality − 0.5) × duration, so good content extends
   * a session and poor content drains it; the session ends when the budget is spent.
   */
  sessionBudgetMs: number | null;
  timeBonus: number;
  /** Interests drift with what users watch: an engaged view moves the category's affinity this share
   * toward 1, a click abandoned below 0.3 completion this share toward 0. */
  interestDrift: number;
  /** Publish the (noisy) quality score; false: every item is published with quality_score 0.5. */
  publishQualityScore: boolean;
  /** Day satisfaction = clamp(satBase + satEngaged·engagedRate + satDiscovery·discoveries − satFatigue·meanFatigue). */
  satBase: number;
  satEngaged: number;
  satDiscovery: number;
  satFatigue: number;
  /** p(active on a day) = clamp(activity · (returnBase + returnSat·satisfaction)). */
  returnBase: number;
  returnSat: number;

  // --- content and creators
  initialItems: number;
  newItemsPerDay: number;
  creators: number;
  bigCreatorShare: number;
  bigCreatorWeight: number;
  /** Age under which content is "new" (is_new_content, new-content CTR, cold start window). */
  newContentAgeMs: number;
  /** Cold-start success: within newContentAgeMs, ≥ coldStartImpressions impressions and ≥ coldStartEngaged engaged views. */
  coldStartImpressions: number;
  coldStartEngaged: number;
  /** trial_share: a new item got a trial when it had this many impressions within a day of publication. */
  trialImpressions: number;
  /** A small creator whose content of the last days stayed under this many impressions may leave. */
  creatorUnseenImpressions: number;
  creatorLeaveProb: number;

  // --- cheaters
  cheatShare: number;
  botClicksPerDay: number;
  bots: number;
  collusionGroups: number;
  colludersPerGroup: number;
  collusionItemsPerGroup: number;

  // --- metrics
  topK: number;
  heatedShareWindowMs: number;
  heatedShareMinImpressions: number;
}

/**
 * The family of worlds. 'today': clicks depend on quality and sessions end with a continue
 * probability. 'engagement': clicks carry no quality information (interest only); quality shows
 * only in completion, shares and session length (users have a time budget that good content
 * extends and poor content drains), and interests drift with what users watch. 'recsim': RecSim's
 * interest-evolution users (sim/recsim.ts) on topic-dependent quality, one choice per page of 5 with
 * one heated slot, a creator supply side. '-noscore': the same world without a platform quality
 * score (every item published with 0.5).
 */
export const WORLD_NAMES = [
  'today',
  'today-noscore',
  'engagement',
  'engagement-noscore',
  'recsim',
  'recsim-noscore',
] as const;
export type WorldName = (typeof WORLD_NAMES)[number];

export function worldPreset(name: WorldName, users: number): Partial<WorldConfig> {
  const engagement: Partial<WorldConfig> = {
    clickQuality: false,
    sessionBudgetMs: 5 * 60_000,
    timeBonus: 2.5,
    interestDrift: 0.02,
    maxImpressionsPerSession: 200,
    // Users watch ~10× more than in 'today': a catalog that lasts them the run.
    initialItems: Math.max(3000, 5 * users),
  };
  const recsim: Partial<WorldConfig> = {
    userModel: 'recsim',
    clickQuality: false,
    // One session a day (a RecSim episode), ended by its time budget.
    maxSessionsPerDay: 1,
    maxImpressionsPerSession: 5000,
    pageSize: 5,
    heatedSlots: [1],
    // Users see ~500 items a day and never one twice: a catalog that lasts them the run, and a
    // supply of new items from many creators.
    initialItems: Math.max(10_000, 10 * users),
    newItemsPerDay: Math.max(100, Math.round(0.4 * users)),
    creators: Math.max(200, Math.round(0.1 * users)),
  };
  switch (name) {
    case 'recsim':
      return { world: name, ...recsim };
    case 'recsim-noscore':
      return { world: name, ...recsim, publishQualityScore: false };
    case 'today':
      return { world: name };
    case 'today-noscore':
      return { world: name, publishQualityScore: false };
    case 'engagement':
      return { world: name, ...engagement };
    case 'engagement-noscore':
      return { world: name, ...engagement, publishQualityScore: false };
  }
}

export function parseWorldName(v: string): WorldName {
  if ((WORLD_NAMES as readonly string[]).includes(v)) return v as WorldName;
  throw new Error(`unknown world '${v}' (known: ${WORLD_NAMES.join(', ')})`);
}

/** Defaults scaled to the population so that a 1k-user test and a 10k-user run look alike. */
export function defaultWorldConfig(over: Partial<WorldConfig> & { users?: number } = {}): WorldConfig {
  const users = over.users ?? 2000;
  const base: WorldConfig = {
    world: 'today',
    userModel: 'affinity',
    recsim: { ...DEFAULT_RECSIM },
    pageSize: 8,
    heatedSlots: [1, 5],
    seed: 1,
    users,
    days: 7,
    startMs: Date.UTC(2026, 0, 5),
    tickMs: 15 * 60_000,
    newUserShare: 0.1,
    strongInterests: [2, 3],
    latentInterests: [1, 2],
    latentAdjacentProb: 0.75,
    ctrScale: 0.15,
    clickQuality: true,
    qualityFloor: 0.3,
    fatigueClickPenalty: 0.7,
    latentBase: 0.3,
    engagedCompletion: 0.5,
    fatigueRepeatStep: 0.06,
    fatigueRecoverStep: 0.03,
    fatigueOvernight: 0.3,
    continueBase: 0.95,
    continueEngagedBonus: 0.06,
    continueFatiguePenalty: 0.35,
    maxImpressionsPerSession: 40,
    maxSessionsPerDay: 4,
    sessionBudgetMs: null,
    timeBonus: 0,
    interestDrift: 0,
    publishQualityScore: true,
    satBase: 0.25,
    satEngaged: 6,
    satDiscovery: 0.15,
    satFatigue: 0.4,
    returnBase: 0.55,
    returnSat: 0.6,
    initialItems: Math.max(1000, Math.round(users * 0.3)),
    newItemsPerDay: Math.max(100, Math.round(users * 0.03)),
    creators: Math.max(200, Math.round(users * 0.05)),
    bigCreatorShare: 0.05,
    bigCreatorWeight: 10,
    newContentAgeMs: 3 * DAY_MS,
    coldStartImpressions: Math.max(20, Math.round(users * 0.01)),
    coldStartEngaged: 2,
    trialImpressions: 20,
    creatorUnseenImpressions: Math.max(5, Math.round(users * 0.002)),
    creatorLeaveProb: 0.1,
    cheatShare: 0.02,
    botClicksPerDay: Math.max(5, Math.round(users * 0.0015)),
    bots: 50,
    collusionGroups: Math.max(1, Math.round(users / 2000)),
    colludersPerGroup: 6,
    collusionItemsPerGroup: 4,
    topK: 100,
    heatedShareWindowMs: HOUR_MS,
    heatedShareMinImpressions: 100,
  };
  return { ...base, ...(over.world ? worldPreset(over.world, users) : {}), ...over, users };
}
