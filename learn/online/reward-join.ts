// The online learner's reward join, fed only with what the allocator saw (its tick reports): the
// scorer's decision in the report (features, sampled action, log-prob, with each row's content id)
// is matched to the tick's allocations by content id; each granted allocation stays open until its
// validity window plus a grace period has passed in event time (the delayed-reward window), while
// the allocator's outcome records (delivered heated impressions, clicks, completion, shares per
// allocation_id, drained by the content stage at each tick) are added to it; then it settles with
// its reward:
//   marginal (default): n·value(delivered engagement)/ḡ − costWeight·min(1, cost/maxCost)
//   bandit:             value per delivered impression − the same cost term
// (learn/credit.ts, learn/experience.ts). A learned denial settles at once with reward 0 (at most
// `maxDenialsPerTick` a tick, keyed subsample); an approval the cap or pool overrode has no outcome
// and is not recorded. The rule's grants (warm-up, hold-out ticks) are joined and settled the same
// way but never trained on: their rewards are the baseline the guard compares with.
import { keyedUniform } from '../../core/rng.js';
import { ALLOCATION_FEATURE_COUNT, type TickDecision } from '../../agents/scorer.js';
import type { TickReport } from '../../pipelines/allocator-task.js';
import { MarginalCredit } from '../credit.js';
import { ExperienceBuffer, computeReward, type ExperienceBufferConfig, type Pending } from '../experience.js';

export interface RewardJoinConfig {
  reward: Partial<ExperienceBufferConfig>;
  credit: 'marginal' | 'bandit';
  maxDenialsPerTick: number;
  seed: number;
  /** agents.system.scoreThreshold: a rule score at or above it is the rule's approval. */
  threshold: number;
}

/** What one tick's scorer decided, for the guard and the gauges. */
export interface TickDecisions {
  tick: number;
  policy: 'RULE' | 'LEARNED';
  version: string;
  rows: number;
  /** LEARNED: sampled approvals; RULE: scores at or above the threshold (before cap and pool). */
  approvals: number;
  /** Σ Bernoulli entropy (nats) over the rows (LEARNED). */
  entropy: number;
  /** Denials recorded as experiences (reward 0), after the keyed subsample. */
  recordedDenials: number;
}

/** A granted allocation settled with its reward. */
export interface SettledGrant {
  policy: 'RULE' | 'LEARNED';
  version: string;
  /** The training reward (credit rule). */
  reward: number;
  /**
   * What the guard compares: engagement value per delivered impression minus the cost term (the
   * bandit reward). Unlike the marginal credit it depends on no running estimate (ḡ), so grants
   * settled hours apart are comparable.
   */
  value: number;
}

/** Bernoulli entropy in nats. */
export const bernoulliEntropyOf = (p: number): number => {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return -(q * Math.log(q) + (1 - q) * Math.log(1 - q));
};

export class RewardJoin {
  readonly buffer: ExperienceBuffer;
  private readonly credit: MarginalCredit | null;
  /** Who decided each open allocation (by allocation id). */
  private readonly deciders = new Map<string, { policy: 'RULE' | 'LEARNED'; version: string }>();

  constructor(private readonly cfg: RewardJoinConfig) {
    this.buffer = new ExperienceBuffer({ ...cfg.reward, settleDenialsAtOnce: true });
    this.credit =
      cfg.credit === 'marginal'
        ? new MarginalCredit(this.buffer.cfg, { coldStartBonus: 0, alpha: 0.2, opportunityCost: false })
        : null;
  }

  /** Records the tick's decision (TickReport.decision); null when the tick has none. */
  record(r: TickReport): TickDecisions | null {
    const d = r.decision;
    if (!d) return null;
    const W = ALLOCATION_FEATURE_COUNT;
    const rows = d.contentIds.length;
    const granted = new Map(r.allocations.map((a) => [a.content_id, a]));
    const out: TickDecisions = {
      tick: r.tick,
      policy: d.policy,
      version: d.version,
      rows,
      approvals: 0,
      entropy: 0,
      recordedDenials: 0,
    };
    const learned = d.policy === 'LEARNED' && d.actions && d.logProbs;
    let denials = 0;
    if (learned) for (let i = 0; i < rows; i++) if (d.actions![i] === 0) denials++;
    const keep = Math.min(1, this.cfg.maxDenialsPerTick / Math.max(1, denials));
    for (let i = 0; i < rows; i++) {
      const id = d.contentIds[i];
      const a = granted.get(id);
      const obs = d.features.subarray(i * W, (i + 1) * W);
      if (!learned) {
        if (d.scores[i] >= this.cfg.threshold) out.approvals++;
        if (!a) continue;
        this.open(a.allocation_id, d, { obs, action: 1, logProb: 0, train: false }, a);
        continue;
      }
      out.entropy += bernoulliEntropyOf(d.scores[i]);
      const logProb = d.logProbs![i];
      if (d.actions![i] === 1) {
        out.approvals++;
        // An approval the cap / pool / demand overrode has no observable outcome: not recorded.
        if (a) this.open(a.allocation_id, d, { obs, action: 1, logProb, train: true }, a);
      } else if (keyedUniform(this.cfg.seed, 'deny', id, r.tick) < keep) {
        out.recordedDenials++;
        this.buffer.record({
          allocationId: `deny:${id}@${r.tick}`,
          obs,
          action: 0,
          logProb,
          weights: r.weights,
          cost: 0,
          validUntil: r.tick,
        });
      }
    }
    return out;
  }

  private open(
    allocationId: string,
    by: Pick<TickDecision, 'policy' | 'version'>,
    d: { obs: Float32Array; action: 0 | 1; logProb: number; train: boolean },
    a: TickReport['allocations'][number],
  ): void {
    this.buffer.record({
      allocationId,
      ...d,
      weights: a.reward_weights,
      cost: a.cost,
      validUntil: a.valid_until,
      granted: a.impressions,
    });
    this.deciders.set(allocationId, { policy: by.policy, version: by.version });
  }

  /** Adds the tick's delivered outcomes (the allocator's outcome records) to open allocations. */
  observe(r: TickReport): void {
    for (const o of r.outcomes)
      this.buffer.observeAggregate(o.allocation_id, {
        impressions: o.impressions,
        clicks: o.clicks,
        completion: o.completion_sum,
        shares: o.shares,
      });
  }

  /** Settles every allocation whose window closed by `tick`; returns the settled grants. */
  settle(tick: number): SettledGrant[] {
    const settled: SettledGrant[] = [];
    const rewardsOf = (due: readonly Pending[]): number[] =>
      this.credit
        ? this.credit.settle(
            due.map((p) => ({
              agg: p.agg,
              weights: p.d.weights,
              cost: p.d.cost,
              granted: p.d.granted ?? p.agg.impressions,
              coldStart: false,
            })),
          )
        : due.map((p) => computeReward(p.agg, p.d.weights, p.d.cost, this.buffer.cfg));
    this.buffer.advance(tick, rewardsOf, (p, reward) => {
      const who = this.deciders.get(p.d.allocationId);
      this.deciders.delete(p.d.allocationId);
      if (who)
        settled.push({ ...who, reward, value: computeReward(p.agg, p.d.weights, p.d.cost, this.buffer.cfg) });
    });
    // Decisions evicted from the buffer (capacity) never settle: forget who made them.
    if (this.deciders.size > this.buffer.stats().pending) this.pruneDeciders();
    return settled;
  }

  private pruneDeciders(): void {
    const open = this.buffer.openIds();
    for (const id of this.deciders.keys()) if (!open.has(id)) this.deciders.delete(id);
  }
}
