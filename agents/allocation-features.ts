// One feature row per heating request, every column normalised to [0,1] in ALLOCATION_FEATURES
// order (agents/scorer.ts), so rule and learned scorers see the same, comparable inputs.
import type { RewardWeights } from '../schemas/types.js';
import { audienceMatch, targetCategories, type AudienceAggregate } from './audience.js';
import type { AgentConfig } from './config.js';
import type { HeatingRequest } from './content.js';
import { ALLOCATION_FEATURE_COUNT, featureIndex } from './scorer.js';

const clamp01 = (x: number): number => (x > 0 ? (x < 1 ? x : 1) : 0);

export interface FeatureContext {
  tick: number;
  audience: AudienceAggregate;
  weights: RewardWeights;
  /** (heated in window + outstanding) / (cap × total in window); 1 when the window is empty. */
  capPressure: number;
  /** Per request (same order): engaged-quality draw / platform baseline (agents/evidence.ts); absent = 1. */
  ratios?: readonly number[];
  /** Per request: in its fair trial; absent = false. */
  trial?: readonly boolean[];
}

export const isSmallCreator = (r: HeatingRequest, cfg: AgentConfig): boolean =>
  r.creator_followers == null || r.creator_followers < cfg.system.smallCreatorFollowers;

/**
 * retention_boost: expected long-term value of heating this content — newness (1 − age share),
 * small creator (坑7) and under-exposure (share of the cold-start exposure still missing).
 */
export function retentionBoost(r: HeatingRequest, tick: number, cfg: AgentConfig): number {
  const w = cfg.system.retention;
  const newness = 1 - clamp01((tick - r.published_at) / cfg.content.maxHeatingAgeMs);
  const under = 1 - clamp01(r.exposure / cfg.content.coldExposure);
  return clamp01(
    w.newness * newness + w.smallCreator * (isSmallCreator(r, cfg) ? 1 : 0) + w.underExposure * under,
  );
}

/** Fills rows × ALLOCATION_FEATURE_COUNT for `requests` (in the given order). */
export function buildFeatures(
  requests: readonly HeatingRequest[],
  ctx: FeatureContext,
  cfg: AgentConfig,
): Float32Array {
  const W = ALLOCATION_FEATURE_COUNT;
  const sys = cfg.system;
  const out = new Float32Array(requests.length * W);
  let maxBid = 0;
  for (const r of requests) if (r.bid_price > maxBid) maxBid = r.bid_price;
  const logCeil = Math.log1p(sys.exposureCeiling);
  const k = sys.ctrPriorImpressions;
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i];
    const o = i * W;
    const smoothedCtr = (r.ctr * r.exposure + cfg.content.defaultExpectedCtr * k) / (r.exposure + k);
    out[o + featureIndex('bid')] = maxBid > 0 ? clamp01(r.bid_price / maxBid) : 0;
    out[o + featureIndex('match')] = audienceMatch(
      ctx.audience,
      targetCategories(r.category, sys.adjacency),
      sys.matchPriorWeight,
    );
    out[o + featureIndex('quality')] = clamp01(r.quality);
    out[o + featureIndex('ctr')] = clamp01(smoothedCtr / sys.ctrCeiling);
    out[o + featureIndex('exposure')] = clamp01(Math.log1p(r.exposure) / logCeil);
    out[o + featureIndex('age')] = clamp01((ctx.tick - r.published_at) / cfg.content.maxHeatingAgeMs);
    out[o + featureIndex('budget')] =
      cfg.content.maxBudget > 0 ? clamp01(r.budget / cfg.content.maxBudget) : 0;
    out[o + featureIndex('cap_pressure')] = clamp01(ctx.capPressure);
    out[o + featureIndex('retention_boost')] = retentionBoost(r, ctx.tick, cfg);
    out[o + featureIndex('w_user')] = clamp01(ctx.weights.user_satisfaction);
    out[o + featureIndex('w_revenue')] = clamp01(ctx.weights.platform_revenue);
    out[o + featureIndex('w_long_term')] = clamp01(ctx.weights.long_term);
    const ratio = Math.max(0, ctx.ratios?.[i] ?? 1);
    out[o + featureIndex('engaged_quality')] = Number.isFinite(ratio) ? ratio / (1 + ratio) : 1;
    out[o + featureIndex('trial')] = ctx.trial?.[i] ? 1 : 0;
  }
  return out;
}
