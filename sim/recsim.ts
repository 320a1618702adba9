// RecSim's interest-evolution user model, for the 'recsim' worlds (docs/SIMULATOR.md §2). Pure
// functions over plain arrays; the World draws the randomness and keeps the state.
//
// Sources (google-research/recsim, Apache-2.0; reimplemented, not copied):
//   - recsim/environments/interest_evolution.py — UtilityModelVideoSampler (documents: one topic
//     each, 70% of topics "trashy" with quality means evenly spaced in [−3, 0], 30% "nutritious" in
//     [0, 3], quality N(topic mean, 0.1)), UtilityModelUserSampler (interests U(−1, 1) per topic,
//     a 200-minute time budget, step penalty 0.5 min, budget update alpha 0.9 / 3.4),
//     IEvUserModel.update_state (on a click the budget loses the watch time and gains
//     alpha × watch time × quality; without a click it loses the step penalty; the session ends
//     when the budget is spent), IEvVideoSampler (video length N(4.3, 1) minutes);
//   - recsim/choice_model.py — MultinomialLogitChoiceModel: one document of the slate, or none,
//     with p ∝ exp(score), the no-click option scoring no_click_mass (IEvUserModel default 1);
//     the score of a document is the dot product of the user's interests and its features
//     (IEvUserState.score_document; one-hot features: the interest in its topic);
//   - recsim_ng/applications/recsys_partially_observable_rl/user.py — InterestEvolutionUser:
//     after consuming a document the interests move toward its features by
//     interest_step_size (0.1) × its quality (away from them for negative quality), and are
//     squashed by 4M(sigmoid(x/M) − 0.5), M = max_user_affinity (10), to avoid blow-up.
// What RecSim leaves open and this model adds (each a config key): completion (RecSim watches the
// whole video; recsim_ng watches sigmoid(−quality), i.e. poor content is watched longer) here rises
// with quality, so engagement carries the quality signal the effectiveness issue describes; shares;
// a creator offset on quality (creators differ within a topic); next-day return from the day's
// watch-weighted utility (RecSim has no return model).

/** Constants of the RecSim user and document model, and what this model adds. */
export interface RecsimConfig {
  /** Topic quality means: trashyShare of the topics evenly spaced in [−range, 0], the rest in [0, range]. */
  topicQualityRange: number;
  trashyShare: number;
  /** Quality of a document: N(topic mean + creator offset, itemQualitySd). */
  itemQualitySd: number;
  /** Sd of a creator's quality offset (0 = RecSim's corpus). */
  creatorQualitySd: number;
  /** Quality is normalised to a utility in [−1, 1] by this (RecSim's 3.4). */
  utilityNorm: number;
  /** Logit of the no-click option in the multinomial logit choice. */
  noClickMass: number;
  /** Session time budget (RecSim: 200 minutes) and the time a page without a click costs (0.5 min). */
  sessionBudgetMs: number;
  stepPenaltyMs: number;
  /** On a click the budget gains budgetAlpha × utility × watch time (RecSim's alpha 0.9 over its utility range). */
  budgetAlpha: number;
  /** Interest step toward a consumed topic, scaled by the document's utility. */
  interestStep: number;
  /** Squash bound: interests stay within ±2·maxAffinity. */
  maxAffinity: number;
  videoLengthMeanMs: number;
  videoLengthSdMs: number;
  /** Completion of a click: clamp(completionBase + completionSlope·utility + N(0, completionSd), 0.02, 1). */
  completionBase: number;
  completionSlope: number;
  completionSd: number;
  /** p(share) = shareRate · completion · (1 + utility) / 2. */
  shareRate: number;
  /** Day satisfaction = clamp(0.5 + satSlope · watch-weighted mean utility of the day's clicks). */
  satSlope: number;
  /** Click rate of the pre-existing catalog's history (clicks carry no quality information). */
  priorCtr: number;
}

export const DEFAULT_RECSIM: Readonly<RecsimConfig> = Object.freeze({
  topicQualityRange: 3,
  trashyShare: 0.7,
  itemQualitySd: 0.1,
  creatorQualitySd: 0.5,
  utilityNorm: 3.4,
  noClickMass: 1,
  sessionBudgetMs: 200 * 60_000,
  stepPenaltyMs: 30_000,
  budgetAlpha: 0.9,
  interestStep: 0.1,
  maxAffinity: 10,
  videoLengthMeanMs: 4.3 * 60_000,
  videoLengthSdMs: 60_000,
  completionBase: 0.5,
  completionSlope: 0.4,
  completionSd: 0.15,
  shareRate: 0.1,
  satSlope: 1,
  priorCtr: 0.12,
});

const clamp = (x: number, lo: number, hi: number): number => (x < lo ? lo : x > hi ? hi : x);

/** Quality means per topic: a seeded permutation decides which topics are trashy (`perm[k]` gets the k-th mean). */
export function topicQualityMeans(perm: readonly number[], cfg: RecsimConfig): Float64Array {
  const n = perm.length;
  const trashy = Math.floor(n * cfg.trashyShare);
  const nutritious = n - trashy;
  const space = (lo: number, hi: number, k: number, i: number): number =>
    k <= 1 ? lo : lo + ((hi - lo) * i) / (k - 1);
  const out = new Float64Array(n);
  perm.forEach((topic, k) => {
    out[topic] =
      k < trashy
        ? space(-cfg.topicQualityRange, 0, trashy, k)
        : space(0, cfg.topicQualityRange, nutritious, k - trashy);
  });
  return out;
}

/** RecSim quality ↔ the simulator's latent quality in [0, 1] (utility u = q / norm in [−1, 1], quality = (u + 1) / 2). */
export const utilityOf = (quality: number): number => 2 * quality - 1;
export const qualityOfRecsim = (q: number, cfg: RecsimConfig): number =>
  clamp((q / cfg.utilityNorm + 1) / 2, 0.005, 0.995);

/**
 * Multinomial logit choice over a slate: the index chosen, or −1 for no click. `scores` are the
 * user's interests in the slate's topics; `u` a uniform draw.
 */
export function chooseMnl(scores: readonly number[], noClickMass: number, u: number): number {
  let total = Math.exp(noClickMass);
  const w = scores.map((s) => Math.exp(s));
  for (const x of w) total += x;
  let acc = u * total;
  for (let i = 0; i < w.length; i++) {
    acc -= w[i];
    if (acc < 0) return i;
  }
  return -1;
}

/** Budget left after a page: a click spends its watch time and gives back alpha × utility × watch; no click costs the step penalty. */
export function nextBudget(
  budget: number,
  watchMs: number | null,
  utility: number,
  cfg: RecsimConfig,
): number {
  if (watchMs === null) return budget - cfg.stepPenaltyMs;
  return budget - watchMs + cfg.budgetAlpha * utility * watchMs;
}

/**
 * Interest evolution after consuming a document of `topic` with `utility`: the linear state moves
 * toward the one-hot topic vector by interestStep × utility, and the interests are its squash.
 * `lin` and `interest` are updated in place.
 */
export function evolveInterests(
  lin: Float64Array,
  interest: Float64Array,
  topic: number,
  utility: number,
  cfg: RecsimConfig,
): void {
  const m = cfg.maxAffinity;
  const step = cfg.interestStep * utility;
  for (let c = 0; c < lin.length; c++) lin[c] += step * ((c === topic ? 1 : 0) - interest[c]);
  for (let c = 0; c < lin.length; c++) interest[c] = 4 * m * (1 / (1 + Math.exp(-lin[c] / m)) - 0.5);
}

/** The inverse of the squash (the linear state of given interests). */
export function unsquash(interest: number, cfg: RecsimConfig): number {
  const m = cfg.maxAffinity;
  const s = clamp(interest / (4 * m) + 0.5, 1e-9, 1 - 1e-9);
  return m * Math.log(s / (1 - s));
}

/** Completion of a click on content of `utility`, given a standard normal draw. */
export function completionOf(utility: number, z: number, cfg: RecsimConfig): number {
  return clamp(cfg.completionBase + cfg.completionSlope * utility + cfg.completionSd * z, 0.02, 1);
}
