// The online learner's guard against a bad model:
//  - before publication (`checkCandidate`): non-finite weights, or a mean P(approve) over the
//    recently scored requests below `minApproval` / above `maxApproval` (a collapsed policy);
//  - after adoption (`verdict`, per tick): the live version's sampled approval rate over at least
//    `minRows` scored rows outside [minApproval, maxApproval], or the mean reward of its settled
//    grants below the rule's (the grants of rule-decided ticks, a running baseline) by more than
//    `rewardZ` standard errors of the difference once it has `minGrants` of them. A version that
//    passes with `goodGrants` settled grants becomes the last good version, the rollback target.
import type { SettledGrant, TickDecisions } from './reward-join.js';

export interface GuardConfig {
  minApproval: number;
  maxApproval: number;
  minRows: number;
  minGrants: number;
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
  goodGrants: 200,
  rewardZ: 2.5,
  baselineWindow: 2000,
};

export type RejectReason = 'not_finite' | 'approval_low' | 'approval_high';
export type RollbackReason = 'approval_collapse' | 'reward_below_rule';

export type Verdict =
  { kind: 'watching' } | { kind: 'good' } | { kind: 'rollback'; reason: RollbackReason; detail: string };

/** Mean and standard error of a sample (Welford). */
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

/** Mean and variance of the last `size` values. */
class Window {
  private readonly xs: number[] = [];
  constructor(private readonly size: number) {}
  add(x: number): void {
    this.xs.push(x);
    if (this.xs.length > this.size) this.xs.shift();
  }
  stats(): RunningMean {
    const r = new RunningMean();
    for (const x of this.xs) r.add(x);
    return r;
  }
}

export class ModelGuard {
  private watched: string | null = null;
  private rows = 0;
  private approvals = 0;
  private rewards = new RunningMean();
  private good = false;
  private readonly baseline: Window;

  constructor(readonly cfg: GuardConfig = DEFAULT_GUARD_CONFIG) {
    this.baseline = new Window(cfg.baselineWindow);
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
    if (mean < this.cfg.minApproval) return 'approval_low';
    if (mean > this.cfg.maxApproval) return 'approval_high';
    return null;
  }

  /** Starts judging `version` (null: nothing learned is live). */
  watch(version: string | null): void {
    if (version === this.watched) return;
    this.watched = version;
    this.rows = 0;
    this.approvals = 0;
    this.rewards = new RunningMean();
    this.good = false;
  }

  get watching(): string | null {
    return this.watched;
  }

  onDecisions(d: TickDecisions): void {
    if (d.policy !== 'LEARNED' || d.version !== this.watched) return;
    this.rows += d.rows;
    this.approvals += d.approvals;
  }

  onSettled(grants: readonly SettledGrant[]): void {
    for (const g of grants) {
      if (g.policy === 'RULE') this.baseline.add(g.reward);
      else if (g.version === this.watched) this.rewards.add(g.reward);
    }
  }

  /** The rule's running baseline: mean reward of its last settled grants. */
  baselineStats(): RunningMean {
    return this.baseline.stats();
  }

  verdict(): Verdict {
    if (this.watched === null || this.good) return { kind: 'watching' };
    const c = this.cfg;
    if (this.rows >= c.minRows) {
      const rate = this.approvals / this.rows;
      if (rate < c.minApproval || rate > c.maxApproval)
        return {
          kind: 'rollback',
          reason: 'approval_collapse',
          detail: `approval rate ${rate.toFixed(4)} over ${this.rows} rows`,
        };
    }
    const base = this.baseline.stats();
    const r = this.rewards;
    if (r.n >= c.minGrants && base.n >= c.minGrants) {
      const se = Math.sqrt(r.variance / r.n + base.variance / base.n);
      if (base.mean - r.mean > c.rewardZ * se)
        return {
          kind: 'rollback',
          reason: 'reward_below_rule',
          detail: `mean reward ${r.mean.toFixed(4)} (${r.n} grants) vs rule ${base.mean.toFixed(4)} (${base.n}), se ${se.toFixed(4)}`,
        };
    }
    if (r.n >= c.goodGrants && this.rows >= c.minRows) {
      this.good = true;
      return { kind: 'good' };
    }
    return { kind: 'watching' };
  }
}
