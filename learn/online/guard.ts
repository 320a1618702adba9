// The online learner's guard against a bad model:
//  - before publication (`checkCandidate`): non-finite weights, or a mean P(approve) over the
//    recently scored requests below `minApproval` / above `maxApproval` (a collapsed policy);
//    saturation counts only where the rule's own approval rate is not saturated the same way (a
//    rule that approves every request of a platform makes a clone that does too);
//  - while learned versions decide (`verdict`, per tick), over a sliding window of the learned
//    policy's recent decisions, whatever version made them (a grant settles after its validity
//    window, often under a later version): the sampled approval rate over at least `minRows`
//    scored rows outside [minApproval, maxApproval] (where the rule's is not), or the mean value
//    (engagement per delivered impression minus cost) of the last settled grants
//    (at least `minGrants`) below the rule's by more than `rewardZ` standard errors of the
//    difference. The rule's reward is a running baseline: the grants of rule-decided ticks (the
//    warm-up and the rule hold-out ticks).
//  - a version is good, the rollback target, once it decided at least `minRows` rows and
//    `goodGrants` of its own grants settled while both windows are full and healthy.
import type { SettledGrant, TickDecisions } from './reward-join.js';

export interface GuardConfig {
  minApproval: number;
  maxApproval: number;
  /** Learned rows in the approval window, and the least before it is judged. */
  minRows: number;
  /** Learned grants in the reward window, and the least before it is judged. */
  minGrants: number;
  /** A version's own settled grants before it can be good. */
  goodGrants: number;
  rewardZ: number;
  /** Rule grants kept as the baseline (the most recent). */
  baselineWindow: number;
}

export const DEFAULT_GUARD_CONFIG: GuardConfig = {
  minApproval: 0.01,
  maxApproval: 0.99,
  minRows: 500,
  minGrants: 50,
  goodGrants: 20,
  rewardZ: 2.5,
  baselineWindow: 500,
};

export type RejectReason = 'not_finite' | 'approval_low' | 'approval_high';
export type RollbackReason = 'approval_collapse' | 'reward_below_rule';

export type Verdict =
  | { kind: 'watching' }
  | { kind: 'good'; version: string }
  | { kind: 'rollback'; reason: RollbackReason; detail: string };

/** Mean and variance of a sample (Welford). */
export class RunningMean {
  n = 0;
  mean = 0;
  private m2 = 0;

  add(x: number): void {
    this.n++;
    const d = x - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (x - this.mean);
  }

  get variance(): number {
    return this.n > 1 ? this.m2 / (this.n - 1) : 0;
  }
}

/** The last `size` values. */
class Window {
  private xs: number[] = [];
  constructor(private readonly size: number) {}
  add(x: number): void {
    this.xs.push(x);
    if (this.xs.length > this.size) this.xs.shift();
  }
  clear(): void {
    this.xs = [];
  }
  stats(): RunningMean {
    const r = new RunningMean();
    for (const x of this.xs) r.add(x);
    return r;
  }
}

/** Rows and approvals of the last ticks, about `size` rows. */
export class RowWindow {
  private ticks: { rows: number; approvals: number }[] = [];
  rows = 0;
  approvals = 0;
  constructor(private readonly size: number) {}
  /** Adds a tick; returns the approval rate over the window. */
  add(rows: number, approvals: number): number {
    this.ticks.push({ rows, approvals });
    this.rows += rows;
    this.approvals += approvals;
    while (this.ticks.length > 1 && this.rows - this.ticks[0].rows >= this.size) {
      const t = this.ticks.shift()!;
      this.rows -= t.rows;
      this.approvals -= t.approvals;
    }
    return this.rows > 0 ? this.approvals / this.rows : 0;
  }
  clear(): void {
    this.ticks = [];
    this.rows = 0;
    this.approvals = 0;
  }
}

/** a is below b by more than z standard errors of the difference. */
const below = (a: RunningMean, b: RunningMean, z: number): boolean =>
  b.mean - a.mean > z * Math.sqrt(a.variance / Math.max(1, a.n) + b.variance / Math.max(1, b.n));

export class ModelGuard {
  private readonly baseline: Window;
  private readonly learned: Window;
  private readonly rows: RowWindow;
  /** The rule's decisions (warm-up, hold-out ticks): its own approval rate. */
  private readonly ruleRows: RowWindow;
  private lastGood: string | null = null;
  /** Rows decided and grants settled per recent version (insertion order: oldest first). */
  private readonly perVersion = new Map<string, { rows: number; grants: number }>();

  constructor(readonly cfg: GuardConfig = DEFAULT_GUARD_CONFIG) {
    this.baseline = new Window(cfg.baselineWindow);
    this.learned = new Window(cfg.minGrants);
    this.rows = new RowWindow(cfg.minRows);
    this.ruleRows = new RowWindow(cfg.baselineWindow);
  }

  /** A mean P(approve) over recent rows outside the bounds, or non-finite probabilities. */
  checkCandidate(probs: Float32Array): RejectReason | null {
    if (probs.length === 0) return null;
    let s = 0;
    for (const p of probs) {
      if (!Number.isFinite(p)) return 'not_finite';
      s += p;
    }
    const mean = s / probs.length;
    return this.saturated(mean);
  }

  private of(version: string): { rows: number; grants: number } {
    let v = this.perVersion.get(version);
    if (!v) {
      this.perVersion.set(version, (v = { rows: 0, grants: 0 }));
      if (this.perVersion.size > 32) this.perVersion.delete(this.perVersion.keys().next().value!);
    }
    return v;
  }

  /** An approval rate beyond the bounds where the rule's own (recent rows) is within them. */
  private saturated(rate: number): 'approval_low' | 'approval_high' | null {
    const c = this.cfg;
    const rule = this.ruleRows.rows > 0 ? this.ruleRows.approvals / this.ruleRows.rows : 0.5;
    if (rate < c.minApproval && rule >= c.minApproval) return 'approval_low';
    if (rate > c.maxApproval && rule <= c.maxApproval) return 'approval_high';
    return null;
  }

  onDecisions(d: TickDecisions): void {
    if (d.policy === 'RULE') this.ruleRows.add(d.rows, d.approvals);
    if (d.policy !== 'LEARNED') return;
    this.rows.add(d.rows, d.approvals);
    this.of(d.version).rows += d.rows;
  }

  onSettled(grants: readonly SettledGrant[]): void {
    for (const g of grants) {
      if (g.policy === 'RULE') {
        this.baseline.add(g.value);
        continue;
      }
      this.learned.add(g.value);
      this.of(g.version).grants++;
    }
  }

  /** The rule's running baseline: mean reward of its last settled grants. */
  baselineStats(): RunningMean {
    return this.baseline.stats();
  }

  /** After a rollback: what the rolled-back versions decided no longer counts. */
  reset(): void {
    this.learned.clear();
    this.rows.clear();
  }

  /** The verdict on the learned policy, `live` being the version deciding now. */
  verdict(live: string | null): Verdict {
    const c = this.cfg;
    if (this.rows.rows >= c.minRows) {
      const rate = this.rows.approvals / this.rows.rows;
      if (this.saturated(rate))
        return {
          kind: 'rollback',
          reason: 'approval_collapse',
          detail: `approval rate ${rate.toFixed(4)} over the last ${this.rows.rows} rows`,
        };
    }
    const base = this.baseline.stats();
    const recent = this.learned.stats();
    if (recent.n >= c.minGrants && base.n >= c.minGrants && below(recent, base, c.rewardZ))
      return {
        kind: 'rollback',
        reason: 'reward_below_rule',
        detail: `mean value ${recent.mean.toFixed(4)} over the last ${recent.n} grants vs the rule's ${base.mean.toFixed(4)} (${base.n})`,
      };
    // Both windows full and healthy (else it returned above), and enough of the live version in them.
    const own = live === null ? undefined : this.perVersion.get(live);
    if (
      live === null ||
      live === this.lastGood ||
      this.rows.rows < c.minRows ||
      recent.n < c.minGrants ||
      !own ||
      own.rows < c.minRows ||
      own.grants < c.goodGrants
    )
      return { kind: 'watching' };
    this.lastGood = live;
    return { kind: 'good', version: live };
  }
}
