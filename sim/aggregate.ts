// Across-seed summaries of simulator runs: each metric's mean with a 95% confidence interval
// (Student t over the seeds), per day of a series and per point of the Lorenz curve, and each
// policy's relative lift over a baseline, paired by seed (same seed, same world). Pure functions.
import type { Metrics, RunResult, Series } from './metrics.js';

/** A mean over seeds with its 95% CI; lo/hi are null with fewer than two finite values. */
export interface Estimate {
  mean: number;
  lo: number | null;
  hi: number | null;
  /** Seeds that contributed a finite value. */
  n: number;
}

// Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom.
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The t quantile of a two-sided 95% interval; beyond 30 degrees of freedom, a close approximation. */
export function t975(df: number): number {
  if (df < 1) return NaN;
  if (df <= T975.length) return T975[df - 1];
  return 1.96 + 2.4 / df; // within 0.002 of the exact value for df > 30
}

export function estimate(values: readonly number[]): Estimate {
  const xs = values.filter(Number.isFinite);
  const n = xs.length;
  if (n === 0) return { mean: NaN, lo: null, hi: null, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, lo: null, hi: null, n };
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = (t975(n - 1) * sd) / Math.sqrt(n);
  return { mean, lo: mean - half, hi: mean + half, n };
}

export type SeriesMetric = Exclude<keyof Series, 'days'>;
export const SERIES_METRICS: SeriesMetric[] = [
  'new_content_ctr',
  'interest_diversity',
  'heated_share',
  'retention',
  'impressions',
];

export interface Lift {
  policy: string;
  metric: keyof Metrics;
  /** (policy − baseline) / |baseline| per seed, then estimated over the seeds. */
  lift: Estimate;
}

export interface Summary {
  seeds: number[];
  policies: string[];
  metrics: Record<string, Record<keyof Metrics, Estimate>>;
  series: Record<string, { day: number; metric: SeriesMetric; value: Estimate }[]>;
  /** Mean Lorenz curve over the seeds (same x grid in every run). */
  lorenz: Record<string, [number, number][]>;
  baseline: string;
  /** Lifts of every other policy over `baseline`; metrics where the baseline is 0 are left out. */
  lifts: Lift[];
}

/**
 * `runs[policy][i]` is the run of `policy` with `seeds[i]`. The first policy is the baseline of
 * the lifts, as the control of an A/B run.
 */
export function summarize(seeds: readonly number[], runs: Record<string, RunResult[]>): Summary {
  const policies = Object.keys(runs);
  const metricNames = Object.keys(runs[policies[0]][0].metrics) as (keyof Metrics)[];
  const metrics: Summary['metrics'] = {};
  const series: Summary['series'] = {};
  const lorenz: Summary['lorenz'] = {};
  for (const p of policies) {
    const rs = runs[p];
    metrics[p] = Object.fromEntries(
      metricNames.map((m) => [m, estimate(rs.map((r) => r.metrics[m]))]),
    ) as Record<keyof Metrics, Estimate>;
    series[p] = rs[0].series.days.flatMap((day, i) =>
      SERIES_METRICS.map((metric) => ({ day, metric, value: estimate(rs.map((r) => r.series[metric][i])) })),
    );
    lorenz[p] = rs[0].lorenz.map(([x], i) => [x, rs.reduce((a, r) => a + r.lorenz[i][1], 0) / rs.length]);
  }
  const baseline = policies[0];
  const lifts: Lift[] = [];
  for (const p of policies.slice(1))
    for (const m of metricNames) {
      const perSeed = runs[p].map((r, i) => {
        const b = runs[baseline][i].metrics[m];
        return b === 0 ? NaN : (r.metrics[m] - b) / Math.abs(b);
      });
      const lift = estimate(perSeed);
      if (lift.n > 0) lifts.push({ policy: p, metric: m, lift });
    }
  return { seeds: [...seeds], policies, metrics, series, lorenz, baseline, lifts };
}
