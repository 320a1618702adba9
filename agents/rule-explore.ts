// Rule explore policy (SPEC §3): a fixed blend of the mind state, so the learned policy (learn/) has
// a baseline behind the same ExplorePolicy interface.
//   p = wE·(1 − exploitation) + wC·curiosity + wF·fatigue, clamped to [0,1]
// Less exploitation, more curiosity and more fatigue (boredom with one category) all push toward
// exploring. The weights sum to at most 1 (config refine), so p ∈ [0,1] without clipping; with the
// defaults (0.5, 0.3, 0.2) a fresh user (0.7, 0.5, 0.2) explores with p = 0.34.
// Exploration protection (坑5) is applied by the caller (agents/user.ts), not here.
import type { UserConfig } from './config.js';
import {
  BEHAVIOUR_SEQUENCE_LENGTH,
  BEHAVIOUR_STEP_FEATURE_COUNT,
  MIND_FEATURE_COUNT,
  type ExplorePolicy,
} from './scorer.js';

export type ExploreWeights = UserConfig['explore'];

export function ruleExploreProbability(
  exploitation: number,
  curiosity: number,
  fatigue: number,
  w: ExploreWeights,
): number {
  const p = w.exploitation * (1 - exploitation) + w.curiosity * curiosity + w.fatigue * fatigue;
  return p <= 0 ? 0 : p >= 1 ? 1 : p;
}

export class RuleExplorePolicy implements ExplorePolicy {
  readonly policy = 'RULE' as const;
  readonly modelVersion = 'rule-explore-v1';
  constructor(private readonly weights: ExploreWeights) {}

  /** Reads only the mind rows (MIND_FEATURES order); the behaviour sequence is for learned policies. */
  exploreProbabilities(mind: Float32Array, behaviour: Float32Array, rows: number): Float32Array {
    if (mind.length < rows * MIND_FEATURE_COUNT) throw new RangeError('mind features shorter than rows');
    if (behaviour.length < rows * BEHAVIOUR_SEQUENCE_LENGTH * BEHAVIOUR_STEP_FEATURE_COUNT)
      throw new RangeError('behaviour features shorter than rows');
    const out = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const o = r * MIND_FEATURE_COUNT;
      out[r] = ruleExploreProbability(mind[o], mind[o + 1], mind[o + 2], this.weights);
    }
    return out;
  }
}
