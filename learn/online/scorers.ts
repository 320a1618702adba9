// The two scorers the allocator uses while learning is on, each keeping what it decided for the
// last batch so the learner can join it to the tick's allocations (row i ↔ the i-th request by
// content id, allocateTick's order):
//  - RecordingRuleScorer: the rule (warm-up, rule hold-out ticks, rollbacks to the rule); its rows
//    and scores are the warm start's imitation targets and its grants the reward baseline;
//  - SampledAllocationScorer: the allocation network as a stochastic policy. The action is sampled
//    with a draw keyed by (seed, model version, feature row), so a score stays a pure function of
//    its input and a replay samples identically.
import { RuleScorer } from '../../agents/rule-scorer.js';
import { ALLOCATION_FEATURE_COUNT, type AllocationScorer } from '../../agents/scorer.js';
import { keyedUniform } from '../../core/rng.js';
import type { LearnedAllocationScorer } from '../allocation-model.js';
import { sampleBernoulli } from '../network.js';

/** What a scorer decided for one tick's batch. */
export interface ScoredBatch {
  policy: 'RULE' | 'LEARNED';
  version: string;
  rows: number;
  /** rows × ALLOCATION_FEATURE_COUNT (a copy). */
  features: Float32Array;
  /** LEARNED: P(approve) per row; RULE: the rule's score. */
  scores: Float32Array;
  /** LEARNED: the sampled action and its log-probability. */
  actions?: Uint8Array;
  logProbs?: Float64Array;
}

export interface RecordingScorer extends AllocationScorer {
  /** The last batch scored (cleared by reading it). */
  take(): ScoredBatch | null;
}

const copyRows = (f: Float32Array, rows: number): Float32Array =>
  Float32Array.from(f.subarray(0, rows * ALLOCATION_FEATURE_COUNT));

export class RecordingRuleScorer implements RecordingScorer {
  private readonly rule = new RuleScorer();
  readonly policy = 'RULE' as const;
  private last: ScoredBatch | null = null;

  get modelVersion(): string {
    return this.rule.modelVersion;
  }

  score(features: Float32Array, rows: number): Float32Array {
    const out = this.rule.score(features, rows);
    this.last = {
      policy: 'RULE',
      version: this.rule.modelVersion,
      rows,
      features: copyRows(features, rows),
      scores: Float32Array.from(out),
    };
    return out;
  }

  take(): ScoredBatch | null {
    const b = this.last;
    this.last = null;
    return b;
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
export class SampledAllocationScorer implements RecordingScorer {
  readonly policy = 'LEARNED' as const;
  private last: ScoredBatch | null = null;

  constructor(
    private readonly inner: LearnedAllocationScorer,
    readonly threshold: number,
    private readonly seed: number,
  ) {}

  get modelVersion(): string {
    return this.inner.modelVersion;
  }

  score(features: Float32Array, rows: number): Float32Array {
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
    this.last = {
      policy: 'LEARNED',
      version: modelVersion,
      rows,
      features: copyRows(features, rows),
      scores: Float32Array.from(probs),
      actions,
      logProbs,
    };
    return out;
  }

  take(): ScoredBatch | null {
    const b = this.last;
    this.last = null;
    return b;
  }
}
