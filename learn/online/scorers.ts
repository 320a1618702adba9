// The two scorers the allocator uses while learning is on. Each answers decide() with what it
// decided next to the scores, and allocateTick hands that on in the tick report with the content
// id of every row (agents/scorer.ts TickDecision): the learner joins it to the tick's allocations
// by content id, and nothing is kept between ticks.
//  - DecidingRuleScorer: the rule (warm-up, rule hold-out ticks, rollbacks to the rule); its rows
//    and scores are the warm start's imitation targets and its grants the reward baseline;
//  - SampledAllocationScorer: the allocation network as a stochastic policy. The action is sampled
//    with a draw keyed by (seed, model version, feature row), so a score stays a pure function of
//    its input and a replay samples identically.
import { RuleScorer } from '../../agents/rule-scorer.js';
import { ALLOCATION_FEATURE_COUNT, type AllocationScorer, type ScoredDecision } from '../../agents/scorer.js';
import { keyedUniform } from '../../core/rng.js';
import type { LearnedAllocationScorer } from '../allocation-model.js';
import { sampleBernoulli } from '../network.js';

/** A scorer whose every batch comes with its decision. */
export interface DecidingScorer extends AllocationScorer {
  decide(features: Float32Array, rows: number): ScoredDecision;
}

export class DecidingRuleScorer implements DecidingScorer {
  private readonly rule = new RuleScorer();
  readonly policy = 'RULE' as const;

  get modelVersion(): string {
    return this.rule.modelVersion;
  }

  score(features: Float32Array, rows: number): Float32Array {
    return this.rule.score(features, rows);
  }

  decide(features: Float32Array, rows: number): ScoredDecision {
    const scores = this.rule.score(features, rows);
    return { scores, decision: { policy: 'RULE', version: this.rule.modelVersion, scores } };
  }
}

/** Hash of one feature row (its float32 bits): the keyed draw depends on the row only. */
function rowKey(f: Float32Array, off: number, width: number): number {
  const u = new Uint32Array(f.buffer, f.byteOffset + off * 4, width);
  let h = 0x811c9dc5;
  for (let i = 0; i < width; i++) h = Math.imul(h ^ u[i], 0x01000193) >>> 0;
  return h;
}

/**
 * An approval is returned to the system agent as threshold + (1 − threshold)·P(approve) (it passes
 * the threshold and keeps the order for clearing), a denial as 0.
 */
export class SampledAllocationScorer implements DecidingScorer {
  readonly policy = 'LEARNED' as const;

  constructor(
    private readonly inner: LearnedAllocationScorer,
    readonly threshold: number,
    private readonly seed: number,
  ) {}

  get modelVersion(): string {
    return this.inner.modelVersion;
  }

  score(features: Float32Array, rows: number): Float32Array {
    return this.decide(features, rows).scores;
  }

  decide(features: Float32Array, rows: number): ScoredDecision {
    const W = ALLOCATION_FEATURE_COUNT;
    const { scores: probs, modelVersion } = this.inner.scoreWithVersion(features, rows);
    const out = new Float32Array(rows);
    const actions = new Uint8Array(rows);
    const logProbs = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      const u = keyedUniform(this.seed, 'alloc-sample', modelVersion, rowKey(features, i * W, W));
      const s = sampleBernoulli(probs[i], u);
      actions[i] = s.action;
      logProbs[i] = s.logProb;
      out[i] = s.action === 1 ? this.threshold + (1 - this.threshold) * probs[i] : 0;
    }
    return {
      scores: out,
      decision: { policy: 'LEARNED', version: modelVersion, scores: probs, actions, logProbs },
    };
  }
}
