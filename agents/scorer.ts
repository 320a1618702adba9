// The seam between the system agent (pure rules, agents/) and learned models (learn/).
// The system agent builds one feature row per heating request, every column already normalised
// to [0,1] (SPEC §3: never compare raw bids with a threshold), and asks a scorer for all rows of a
// tick in one batch. RuleScorer lives in agents/; TF.js scorers live in learn/.

/** Column order of an allocation feature row. Append only: trained weights depend on it. */
export const ALLOCATION_FEATURES = [
  'bid', // bid / max bid of the tick
  'match', // share of active users with high curiosity in target + adjacent categories
  'quality', // content quality score
  'ctr', // smoothed ctr, scaled by a configured ceiling
  'exposure', // log-scaled exposure
  'age', // content age / max heating age
  'budget', // content heating budget / configured max
  'cap_pressure', // heated share in the rolling window / cap
  'retention_boost', // expected long-term value (new, small-creator, under-exposed content)
  'w_user', // reward weight: user satisfaction
  'w_revenue', // reward weight: platform revenue
  'w_long_term', // reward weight: long term
  'engaged_quality', // Thompson draw of engaged value per impression / platform baseline, r/(1+r): 0.5 = average
  'trial', // 1 while the item is in its fair trial (坑7)
] as const;
export const ALLOCATION_FEATURE_COUNT = ALLOCATION_FEATURES.length;
export type AllocationFeature = (typeof ALLOCATION_FEATURES)[number];
export const featureIndex = (f: AllocationFeature): number => ALLOCATION_FEATURES.indexOf(f);

export interface AllocationScorer {
  readonly policy: 'RULE' | 'LEARNED';
  /** Identifies the weights that produced a score; copied into HeatingAllocation.model_version. */
  readonly modelVersion: string;
  /**
   * Scores `rows` requests at once. `features` is row-major, rows × ALLOCATION_FEATURE_COUNT,
   * values in [0,1]. Returns one score in [0,1] per row, in a new array (the caller may keep it).
   * Must be a pure function of its input (same input, same output) so replays allocate identically.
   */
  score(features: Float32Array, rows: number): Float32Array;
  /**
   * Optional, for scorers a learner learns from: scores like score() and also returns what was
   * decided (allocateTick hands it on with the tick's features and content ids, see TickDecision).
   */
  decide?(features: Float32Array, rows: number): ScoredDecision;
}

/** What a learning scorer decided for one batch; parallel arrays, one entry per row. */
export interface ScorerDecision {
  policy: 'RULE' | 'LEARNED';
  /** The weights that decided (the allocations' model_version). */
  version: string;
  /** LEARNED: P(approve) per row; RULE: the rule's score. */
  scores: Float32Array;
  /** LEARNED: the sampled action (1 = approve) and its log-probability. */
  actions?: Uint8Array;
  logProbs?: Float64Array;
}

/** decide()'s answer: the scores the allocator ranks by, and the decision behind them. */
export interface ScoredDecision {
  scores: Float32Array;
  decision: ScorerDecision;
}

/**
 * One tick's decision as the allocator hands it to a learner: row i is the request for
 * contentIds[i], scored from features row i (rows × ALLOCATION_FEATURE_COUNT, owned by the tick).
 */
export interface TickDecision extends ScorerDecision {
  contentIds: readonly string[];
  features: Float32Array;
}

/** Mind-state inputs of the user explore policy, one row per user (see agents/user.ts). */
export const MIND_FEATURES = ['exploitation', 'curiosity', 'fatigue', 'satisfaction'] as const;
export const MIND_FEATURE_COUNT = MIND_FEATURES.length;
/** Length of the bounded behaviour sequence kept per user (坑1). */
export const BEHAVIOUR_SEQUENCE_LENGTH = 20;
/**
 * Per-step features of the behaviour sequence fed to the encoder: category code (scaled to [0,1]),
 * click, completion, is_new_content, heated. Rows are padded with zeros when a user has fewer
 * than BEHAVIOUR_SEQUENCE_LENGTH interactions (a mask column marks real steps).
 */
export const BEHAVIOUR_STEP_FEATURES = [
  'category',
  'click',
  'completion',
  'is_new',
  'heated',
  'mask',
] as const;
export const BEHAVIOUR_STEP_FEATURE_COUNT = BEHAVIOUR_STEP_FEATURES.length;

export interface ExplorePolicy {
  readonly policy: 'RULE' | 'LEARNED';
  readonly modelVersion: string;
  /**
   * Explore probability per user, batched. `mind` is rows × MIND_FEATURE_COUNT; `behaviour` is
   * rows × BEHAVIOUR_SEQUENCE_LENGTH × BEHAVIOUR_STEP_FEATURE_COUNT (oldest step first).
   * Returns rows probabilities in [0,1]. Exploration protection (坑5) is applied by the caller.
   */
  exploreProbabilities(mind: Float32Array, behaviour: Float32Array, rows: number): Float32Array;
}
