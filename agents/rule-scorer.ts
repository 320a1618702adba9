// Rule allocation scorer (SPEC §3): score = w_user·match + w_revenue·value + w_long_term·retention_boost,
// every term already normalised to [0,1] by the system agent and the weights summing to 1, so the
// score is in [0,1] and comparable with a threshold (the seed compared raw bids with 0.7). The
// revenue term is the engaged-quality draw (what a heated impression is worth in watch time), not
// the bid: the bid is a price from click-through (坑2/坑6: heat is judged by engagement, never clicks).
import { ALLOCATION_FEATURE_COUNT, featureIndex, type AllocationScorer } from './scorer.js';

const VALUE = featureIndex('engaged_quality');
const MATCH = featureIndex('match');
const RETENTION = featureIndex('retention_boost');
const W_USER = featureIndex('w_user');
const W_REVENUE = featureIndex('w_revenue');
const W_LONG = featureIndex('w_long_term');

export class RuleScorer implements AllocationScorer {
  readonly policy = 'RULE' as const;
  readonly modelVersion = 'rule-v2';

  score(features: Float32Array, rows: number): Float32Array {
    const W = ALLOCATION_FEATURE_COUNT;
    if (features.length < rows * W)
      throw new RangeError('features shorter than rows × ALLOCATION_FEATURE_COUNT');
    const out = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const o = r * W;
      const s =
        features[o + W_USER] * features[o + MATCH] +
        features[o + W_REVENUE] * features[o + VALUE] +
        features[o + W_LONG] * features[o + RETENTION];
      out[r] = s <= 0 ? 0 : s >= 1 ? 1 : s;
    }
    return out;
  }
}
