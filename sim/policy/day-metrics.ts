// The learning curves of 'thermostat-learned', per simulated day: what the online learner decided
// and earned (from its events), and what the explore learner did (from its decisions and its
// tick-boundary updates). Pure accounting: no graph, no model.
import { RuleScorer } from '../../agents/rule-scorer.js';
import type { ExploreDecisionEvent } from '../../learn/explore-sampling.js';
import type { LearnerEvent } from '../../learn/online/index.js';
import { DAY_MS } from '../config.js';
import type { ExploreLearningPoint, LearnedDayPoint } from '../metrics.js';

interface DayAcc {
  rows: number;
  approvals: number;
  entropy: number;
  rewardSum: number;
  rewardN: number;
  approvedSum: number;
  approvedN: number;
  updates: number;
  rollbacks: number;
  rejected: number;
  modelVersion: string | null;
}

interface ExploreDayAcc {
  decisions: number;
  probabilitySum: number;
  rewardSum: number;
  rewardN: number;
  updates: number;
  std: number;
}

const emptyDay = (): DayAcc => ({
  rows: 0,
  approvals: 0,
  entropy: 0,
  rewardSum: 0,
  rewardN: 0,
  approvedSum: 0,
  approvedN: 0,
  updates: 0,
  rollbacks: 0,
  rejected: 0,
  modelVersion: null,
});

const emptyExploreDay = (): ExploreDayAcc => ({
  decisions: 0,
  probabilitySum: 0,
  rewardSum: 0,
  rewardN: 0,
  updates: 0,
  std: 0,
});

/** The value of `key`, made and added first when absent. */
function entry<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = make()));
  return v;
}

const mean = (sum: number, n: number): number => (n > 0 ? sum / n : 0);

export class LearnedDayMetrics {
  private readonly days = new Map<number, DayAcc>();
  private readonly exploreDays = new Map<number, ExploreDayAcc>();
  /** Every learner event other than decisions and settled grants (versions, rollbacks, rejections). */
  readonly events: LearnerEvent[] = [];

  constructor(
    private readonly startMs: number,
    private readonly dayCount: number,
  ) {}

  private dayOf(t: number): number {
    return Math.floor((t - this.startMs) / DAY_MS);
  }

  private day(t: number): DayAcc {
    return entry(this.days, this.dayOf(t), emptyDay);
  }

  private exploreDay(t: number): ExploreDayAcc {
    return entry(this.exploreDays, this.dayOf(t), emptyExploreDay);
  }

  /** One event of the allocation learner; only the learned policy's decisions and grants count. */
  learnerEvent(e: LearnerEvent): void {
    if (e.type === 'decisions') {
      if (e.d.policy !== 'LEARNED') return;
      const a = this.day(e.d.tick);
      a.rows += e.d.rows;
      a.approvals += e.d.approvals;
      a.entropy += e.d.entropy;
      a.rewardN += e.d.recordedDenials; // reward 0
      a.modelVersion = e.d.version;
      return;
    }
    if (e.type === 'settled') {
      const a = this.day(e.tick);
      for (const g of e.grants) {
        if (g.policy !== 'LEARNED') continue;
        a.approvedSum += g.reward;
        a.approvedN++;
        a.rewardSum += g.reward;
        a.rewardN++;
      }
      return;
    }
    this.events.push(e);
    if (e.type === 'published' && e.reason === 'ppo_update') this.day(e.tick).updates++;
    if (e.type === 'rollback') this.day(e.tick).rollbacks++;
    if (e.type === 'rejected') this.day(e.tick).rejected++;
  }

  /** One explore decision made at event time `t` (the tick boundary being processed). */
  exploreDecision(t: number, e: ExploreDecisionEvent): void {
    const acc = this.exploreDay(t);
    acc.decisions++;
    acc.probabilitySum += e.probability;
    if (e.closed) {
      acc.rewardSum += e.closed.reward;
      acc.rewardN++;
    }
  }

  /** After the explore learner's boundary at `t`: whether it updated, and its σ now. */
  exploreBoundary(t: number, updated: boolean, std: number): void {
    const acc = this.exploreDay(Math.max(this.startMs, t - 1));
    if (updated) acc.updates++;
    acc.std = std;
  }

  /** The explore learner's day `d`; `exploreVersion` null when it is not trained (no curve). */
  private exploreCurve(d: number, exploreVersion: string | null): ExploreLearningPoint | undefined {
    if (exploreVersion === null) return undefined;
    const a = this.exploreDays.get(d);
    if (!a) return undefined;
    return {
      decisions: a.decisions,
      meanProbability: mean(a.probabilitySum, a.decisions),
      reward: mean(a.rewardSum, a.rewardN),
      rewarded: a.rewardN,
      std: a.std,
      entropy: a.std > 0 ? 0.5 * Math.log(2 * Math.PI * Math.E) + Math.log(a.std) : 0,
      updates: a.updates,
      modelVersion: exploreVersion,
    };
  }

  /** One point per simulated day the learned policy decided on. */
  curve(exploreVersion: string | null): LearnedDayPoint[] {
    const out: LearnedDayPoint[] = [];
    let version = new RuleScorer().modelVersion;
    for (const [d, a] of [...this.days].sort((x, y) => x[0] - y[0])) {
      version = a.modelVersion ?? version;
      if (d < 0 || d >= this.dayCount) continue;
      out.push({
        day: d + 1,
        reward: mean(a.rewardSum, a.rewardN),
        approvedReward: mean(a.approvedSum, a.approvedN),
        entropy: mean(a.entropy, a.rows),
        approvalRate: mean(a.approvals, a.rows),
        updates: a.updates,
        modelVersion: version,
        rollbacks: a.rollbacks,
        rejected: a.rejected,
        explore: this.exploreCurve(d, exploreVersion),
      });
    }
    return out;
  }
}
