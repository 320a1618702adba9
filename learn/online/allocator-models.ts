// The allocator's side of online learning (AllocatorModelPort): which scorer decides each tick.
// The live model changes only through MODEL control records read from the allocator's input log,
// and the record carries the weights, so adopting one is synchronous and a replay adopts the same
// weights at the same tick. After a restart the model the allocator's checkpoint names is loaded
// from the model store (exact seq) before the task processes anything.
//
// While a learned model is live, a keyed share of ticks (`ruleHoldout`) is still decided by the
// rule: those ticks are the running reward baseline the guard compares the learned model with.
import { keyedUniform } from '../../core/rng.js';
import { LOG_EVENTS, silentLogger, type Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { AllocatorModelPort, LiveModel } from '../../pipelines/allocator-control.js';
import type { AllocatorControl } from '../../schemas/types.js';
import { ALLOCATION_MODEL_NAME, allocationNet, type LearnedAllocationScorer } from '../allocation-model.js';
import { loadLatestWeights, type ModelStore } from '../model-store.js';
import { deserializeWeights, versionOf, type ModelHandle, type WeightSet } from '../network.js';
import { DecidingRuleScorer, SampledAllocationScorer, type DecidingScorer } from './scorers.js';

export interface AllocatorModelsOptions {
  /** The learned scorer over `handle` (in-thread or sharded over scoring threads). */
  learned: LearnedAllocationScorer;
  handle: ModelHandle;
  /** agents.system.scoreThreshold: an approval maps into [threshold, 1]. */
  threshold: number;
  seed: number;
  /** Share of ticks decided by the rule while a learned model is live (keyed by tick). */
  ruleHoldout: number;
  store?: ModelStore;
  log?: Logger;
  metrics?: Pick<Metrics, 'modelVersion' | 'modelLoadFailures'>;
}

/** Called when the live model changes (restore or adoption) with its weights (LEARNED) or null. */
export type LiveListener = (live: LiveModel | null, weights: WeightSet | null) => void;

const RESTORE_ATTEMPTS = 3;

export class OnlineAllocatorModels implements AllocatorModelPort {
  private liveModel: LiveModel | null = null;
  private readonly rule = new DecidingRuleScorer();
  private readonly sampled: SampledAllocationScorer;
  private readonly log: Logger;
  private readonly listeners: LiveListener[] = [];

  constructor(private readonly o: AllocatorModelsOptions) {
    this.sampled = new SampledAllocationScorer(o.learned, o.threshold, o.seed);
    this.log = o.log ?? silentLogger;
  }

  get live(): LiveModel | null {
    return this.liveModel;
  }

  onLive(listener: LiveListener): void {
    this.listeners.push(listener);
  }

  async restore(live: LiveModel | null): Promise<void> {
    let weights: WeightSet | null = null;
    if (live?.policy === 'LEARNED') {
      weights = await this.load(live.seq);
      if (weights) this.o.handle.reset(weights);
    }
    // A version the store no longer holds: the rule decides until the learner publishes again.
    this.set(live && (live.policy === 'RULE' || weights) ? { ...live } : null, weights);
  }

  private async load(seq: number): Promise<WeightSet | null> {
    const fail = (reason: 'restore_missing' | 'restore_failed', err?: unknown): null => {
      this.o.metrics?.modelLoadFailures.inc({ reason });
      this.log.error(
        { event: LOG_EVENTS.modelRestoreFailed, seq, reason, err },
        `model ${ALLOCATION_MODEL_NAME}@${seq} named by the allocator checkpoint cannot be loaded: the rule decides`,
      );
      return null;
    };
    if (!this.o.store) return fail('restore_missing');
    let lastErr: unknown;
    for (let i = 0; i < RESTORE_ATTEMPTS; i++) {
      try {
        const w = await loadLatestWeights(this.o.store, allocationNet, ALLOCATION_MODEL_NAME, seq);
        return w ?? fail('restore_missing');
      } catch (e) {
        lastErr = e;
        await new Promise((r) => setTimeout(r, 500 * (i + 1)));
      }
    }
    return fail('restore_failed', lastErr);
  }

  adopt(c: AllocatorControl): LiveModel | null {
    if (c.policy === 'RULE') {
      const live: LiveModel = { seq: c.seq, policy: 'RULE', version: this.rule.modelVersion, since: null };
      this.set(live, null);
      return { ...live };
    }
    let w: WeightSet;
    try {
      if (!c.model_blob) throw new Error('no model_blob');
      w = deserializeWeights(c.model_blob, allocationNet);
    } catch (e) {
      this.o.metrics?.modelLoadFailures.inc({ reason: 'blob_invalid' });
      this.log.error(
        { event: LOG_EVENTS.modelRejected, version: c.model_version, err: (e as Error).message },
        'model control record refused: its weights do not load',
      );
      return null;
    }
    this.o.handle.reset(w);
    const live: LiveModel = { seq: c.seq, policy: 'LEARNED', version: versionOf(w), since: null };
    this.set(live, w);
    return { ...live };
  }

  private set(live: LiveModel | null, weights: WeightSet | null): void {
    this.liveModel = live;
    this.o.metrics?.modelVersion.set(live?.policy === 'LEARNED' && weights ? weights.seq : 0);
    if (live)
      this.log.info(
        { event: LOG_EVENTS.modelSwapped, version: live.version, seq: live.seq, policy: live.policy },
        `allocator model ${live.version} live`,
      );
    for (const l of this.listeners) l(live, weights);
  }

  /** True when the rule decides `tick` as part of the baseline hold-out. */
  isHoldout(tick: number): boolean {
    return this.o.ruleHoldout > 0 && keyedUniform(this.o.seed, 'rule-holdout', tick) < this.o.ruleHoldout;
  }

  /** The scorer of `tick`; its decision reaches the learner in the tick report (TickReport.decision). */
  scorer(tick: number): DecidingScorer {
    const learned = this.liveModel?.policy === 'LEARNED' && !this.isHoldout(tick);
    return learned ? this.sampled : this.rule;
  }
}
