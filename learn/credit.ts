// Marginal credit for heating decisions. The per-allocation bandit reward of
// experience.ts scores a grant by the engagement of ITS impressions only, so under a binding cap or
// pool approving looks free: a grant to an item that would have done fine anyway still earns a
// positive reward while it uses slots another request needed. Here a granted allocation is
// charged for the slots it held at their shadow price, and credited for the cold start it caused:
//
//   V      = n · value(agg) − μ·(n − clicks)  (+ coldStartBonus when the item crossed the cold-start
//            bar while this allocation was delivering)
//   λ      = shadow price of one granted impression = what the budget bought per granted impression
//            on average, over recently settled grants (EMA per settle batch, i.e. per tick)
//   reward = (V − λ·granted) / ḡ − costWeight·min(1, cost/maxCost)     (ḡ: mean grant size, EMA)
//
// A grant then earns > 0 only when it beats what an average grant would have bought with the same
// slots; a denial stays 0. The estimates use settled outcomes only (event-time driven), so a replay
// computes the same rewards. `opportunityCost: false` drops the λ term (value + cold-start credit
// only): in the simulator that measured better on cold start (docs/results/learning.md), because grants to
// cold items deliver a smaller share of what they hold and λ penalised exactly those.
// μ (`dissatisfactionPenalty`, default 0): value(agg) ≥ 0, so a grant whose heated impressions went
// unclicked still earned a little, though in the simulator each disappointing heated impression
// lowers that user's day (it raises satisfaction_std). μ charges every unclicked delivered impression.
// Measured (docs/results/learning.md): it cuts heating cost steeply and leaves satisfaction_std where it
// was, so the default stays 0.
import type { RewardWeights } from '../schemas/types.js';
import { computeReward, type EngagementAggregate, type RewardConfig } from './experience.js';

export interface MarginalCreditConfig {
  /** Value units (one = one perfectly engaging impression) credited for a caused cold start. */
  coldStartBonus: number;
  /** EMA weight of a new settle batch in λ and ḡ. */
  alpha: number;
  /** false: λ = 0 (no opportunity cost; value and cold-start credit only), for comparison. */
  opportunityCost?: boolean;
  /** μ ≥ 0: value units charged per delivered impression that was not clicked (0: no charge). */
  dissatisfactionPenalty?: number;
}

export const DEFAULT_MARGINAL_CREDIT: MarginalCreditConfig = { coldStartBonus: 10, alpha: 0.2 };

/** One granted allocation at settlement. */
export interface SettledGrant {
  agg: EngagementAggregate;
  weights: RewardWeights;
  cost: number;
  /** Impressions granted (held against the cap and pool until delivered or expired). */
  granted: number;
  /** The item crossed the cold-start bar while this allocation was delivering. */
  coldStart: boolean;
}

export class MarginalCredit {
  /** Shadow price of a granted impression, in value units; null before the first settled grant. */
  lambda: number | null = null;
  meanGranted: number | null = null;

  constructor(
    private readonly reward: RewardConfig,
    readonly cfg: MarginalCreditConfig = DEFAULT_MARGINAL_CREDIT,
  ) {}

  /** Engagement value bought by a grant (cost excluded), less the unclicked charge, plus the cold-start credit. */
  value(g: SettledGrant): number {
    const perImpression = g.agg.impressions > 0 ? computeReward(g.agg, g.weights, 0, this.reward) : 0;
    const mu = this.cfg.dissatisfactionPenalty ?? 0;
    const unclicked = Math.max(0, g.agg.impressions - g.agg.clicks);
    return g.agg.impressions * perImpression - mu * unclicked + (g.coldStart ? this.cfg.coldStartBonus : 0);
  }

  /**
   * Rewards for the grants settled in one batch (one tick boundary), in order. λ and ḡ are the
   * estimates from EARLIER batches (a grant is compared with what the budget bought before it);
   * the batch then updates them.
   */
  settle(batch: readonly SettledGrant[]): number[] {
    if (batch.length === 0) return [];
    const values = batch.map((g) => this.value(g));
    let vSum = 0;
    let gSum = 0;
    for (let i = 0; i < batch.length; i++) {
      vSum += values[i];
      gSum += batch[i].granted;
    }
    const batchLambda = gSum > 0 ? vSum / gSum : 0;
    const batchMean = gSum / batch.length;
    // First batch: its own averages are the only estimate there is.
    const lambda = this.cfg.opportunityCost === false ? 0 : (this.lambda ?? batchLambda);
    const mean = Math.max(1, this.meanGranted ?? batchMean);
    const out = batch.map((g, i) => {
      const costTerm = this.reward.costWeight * Math.min(1, Math.max(0, g.cost) / this.reward.maxCost);
      return (values[i] - lambda * g.granted) / mean - costTerm;
    });
    const a = this.cfg.alpha;
    this.lambda = this.lambda === null ? batchLambda : (1 - a) * this.lambda + a * batchLambda;
    this.meanGranted = this.meanGranted === null ? batchMean : (1 - a) * this.meanGranted + a * batchMean;
    return out;
  }
}
