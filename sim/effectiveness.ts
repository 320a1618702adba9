// The effectiveness evaluation: in each world of the family and for each seed, the same protocol
// an outside team would follow —
//   1. popularity (no heating) and manual heating (10% of slots, random fresh items);
//   2. Thermostat with the job's shipped defaults and only its budget set: budgetShare × manual's
//      heated impressions per day;
//   3. the uniform-random and quality-greedy (best of k by quality score) heaters at Thermostat's
//      heated share, i.e. at equal heated impressions;
// then means with 95% confidence intervals over seeds (Student t, sim/aggregate.ts), ratios
// paired by seed, and the goals checked per world. Pure orchestration over runPolicy; docs/results/effectiveness.md.
import { estimate, type Estimate } from './aggregate.js';
import { defaultWorldConfig, type WorldName } from './config.js';
import type { Metrics } from './metrics.js';
import { runPolicy } from './run.js';

export const EFFECTIVENESS_POLICIES = ['popularity', 'manual', 'thermostat', 'uniform', 'greedy'] as const;
export type EffectivenessPolicy = (typeof EFFECTIVENESS_POLICIES)[number];

export interface EffectivenessOptions {
  worlds: WorldName[];
  seeds: number[];
  users: number;
  days: number;
  /** Thermostat's pool = budgetShare × manual's heated impressions per day (rounded down: a bound). */
  budgetShare: number;
  /** Manual heating's share of slots. */
  manualShare: number;
  /** Draws of the quality-greedy heater. */
  greedyK: number;
  onRun?: (world: WorldName, seed: number, policy: EffectivenessPolicy, seconds: number) => void;
  /** Called after each world and seed with every run so far (a long evaluation keeps what it did). */
  onSeed?: (runs: readonly SeedRun[]) => void;
}

export interface SeedRun {
  world: WorldName;
  seed: number;
  /** Thermostat's pool, impressions per day. */
  budget: number;
  metrics: Record<EffectivenessPolicy, Metrics>;
}

/** Runs one world and seed through the protocol. */
export async function runSeed(world: WorldName, seed: number, o: EffectivenessOptions): Promise<SeedRun> {
  const cfg = defaultWorldConfig({ users: o.users, days: o.days, seed, world });
  const metrics = {} as Record<EffectivenessPolicy, Metrics>;
  const run = async (policy: EffectivenessPolicy, options: Record<string, unknown>): Promise<Metrics> => {
    const t0 = Date.now();
    const m = (await runPolicy(policy, cfg, { options })).metrics;
    o.onRun?.(world, seed, policy, (Date.now() - t0) / 1000);
    return m;
  };
  metrics.popularity = await run('popularity', {});
  metrics.manual = await run('manual', { manual: { share: o.manualShare } });
  const budget = Math.max(1, Math.floor((o.budgetShare * metrics.manual.heated_impressions) / o.days));
  metrics.thermostat = await run('thermostat', { agents: { system: { budgetPool: budget } } });
  const share = metrics.thermostat.heated_share;
  metrics.uniform = await run('uniform', { uniform: { share } });
  metrics.greedy = await run('greedy', { greedy: { share, k: o.greedyK } });
  return { world, seed, budget, metrics };
}

export async function runEffectiveness(o: EffectivenessOptions): Promise<SeedRun[]> {
  const out: SeedRun[] = [];
  for (const w of o.worlds)
    for (const s of o.seeds) {
      out.push(await runSeed(w, s, o));
      o.onSeed?.(out);
    }
  return out;
}

/** A goal of the evaluation: a per-seed value (a ratio or a level) and the bound it must reach. */
export interface Goal {
  id: string;
  text: string;
  /** Per-seed value; the goal is met when the mean reaches `min`. */
  value: (r: SeedRun) => number;
  min: number;
  /** Only in worlds without a platform quality score. */
  noScoreOnly?: boolean;
}

const ratio = (a: number, b: number): number => (b === 0 ? (a === 0 ? 1 : Infinity) : a / b);

/** A goal on Thermostat's `metric` relative to `other`'s (paired by seed). */
const versus = (
  id: string,
  text: string,
  metric: keyof Metrics,
  other: EffectivenessPolicy,
  min: number,
  noScoreOnly = false,
): Goal => ({
  id,
  text,
  value: (r) => ratio(r.metrics.thermostat[metric], r.metrics[other][metric]),
  min,
  noScoreOnly,
});

/** A goal on the level of Thermostat's `metric`. */
const level = (id: string, text: string, metric: keyof Metrics, min: number): Goal => ({
  id,
  text,
  value: (r) => r.metrics.thermostat[metric],
  min,
});

export const GOALS: Goal[] = [
  {
    id: 'cost',
    text: 'heated impressions ≤ 0.4× manual (shown as 0.4 − ratio ≥ 0)',
    value: (r) => 0.4 - ratio(r.metrics.thermostat.heated_impressions, r.metrics.manual.heated_impressions),
    min: 0,
  },
  versus('watch', 'watch time ≥ 1.23× manual', 'engagement', 'manual', 1.23),
  versus('retention', 'retention ≥ manual (ratio)', 'retention', 'manual', 1),
  level('creators', 'creator retention ≥ 0.95', 'creator_retention', 0.95),
  level('trial', '≥ 80% of new items get ≥ 20 impressions in their first day', 'trial_share', 0.8),
  versus(
    'cold_top',
    'cold start of above-median-quality items ≥ manual (ratio)',
    'cold_start_success_top',
    'manual',
    1,
  ),
  versus(
    'vs_greedy',
    'watch time ≥ quality-greedy heater at equal heated impressions (ratio)',
    'engagement',
    'greedy',
    1,
  ),
  versus(
    'vs_uniform',
    'cold start ≥ uniform heater at equal heated impressions (ratio)',
    'cold_start_success',
    'uniform',
    1,
  ),
  versus('noscore_watch', 'no quality score: watch time ≥ manual (ratio)', 'engagement', 'manual', 1, true),
  versus(
    'noscore_cold',
    'no quality score: cold start ≥ 0.9× manual (ratio)',
    'cold_start_success',
    'manual',
    0.9,
    true,
  ),
];

/** Metrics in the per-world tables, with their format. */
export const EFFECTIVENESS_METRICS: [keyof Metrics, string, 'pct' | 'num' | 'int'][] = [
  ['watch_minutes_per_user_day', 'watch min / user-day', 'num'],
  ['retention', 'next-day retention', 'pct'],
  ['creator_retention', 'creator retention', 'pct'],
  ['trial_share', 'new items with ≥ 20 impressions on day 1', 'pct'],
  ['cold_start_success', 'cold-start success', 'pct'],
  ['cold_start_success_top', 'cold-start success, above-median quality', 'pct'],
  ['heated_impressions', 'heated impressions', 'int'],
  ['heated_items', 'distinct items heated', 'int'],
  ['heated_ctr', 'heated CTR', 'pct'],
  ['new_content_ctr', 'new-content CTR', 'pct'],
  ['top100_share', 'top-100 share', 'pct'],
];

export interface WorldSummary {
  world: WorldName;
  seeds: number[];
  budget: Estimate;
  metrics: Record<EffectivenessPolicy, Partial<Record<keyof Metrics, Estimate>>>;
  goals: { id: string; text: string; min: number; value: Estimate; met: boolean }[];
}

export function summarise(runs: readonly SeedRun[]): WorldSummary[] {
  const worlds = [...new Set(runs.map((r) => r.world))];
  return worlds.map((world) => {
    const rs = runs.filter((r) => r.world === world);
    const metrics = {} as WorldSummary['metrics'];
    for (const p of EFFECTIVENESS_POLICIES) {
      metrics[p] = {};
      for (const [m] of EFFECTIVENESS_METRICS) metrics[p][m] = estimate(rs.map((r) => r.metrics[p][m]));
    }
    const noScore = world.endsWith('-noscore');
    const goals = GOALS.filter((g) => !g.noScoreOnly || noScore).map((g) => {
      const value = estimate(rs.map(g.value));
      return { id: g.id, text: g.text, min: g.min, value, met: value.mean >= g.min };
    });
    return {
      world,
      seeds: rs.map((r) => r.seed),
      budget: estimate(rs.map((r) => r.budget)),
      metrics,
      goals,
    };
  });
}

function fmt(v: number, kind: 'pct' | 'num' | 'int'): string {
  if (!Number.isFinite(v)) return String(v);
  if (kind === 'pct') return `${(v * 100).toFixed(1)}%`;
  if (kind === 'int') return Math.round(v).toLocaleString('en-US');
  return v.toFixed(2);
}

const ci = (e: Estimate, kind: 'pct' | 'num' | 'int'): string =>
  e.lo === null || e.hi === null
    ? fmt(e.mean, kind)
    : `${fmt(e.mean, kind)} [${fmt(e.lo, kind)}, ${fmt(e.hi, kind)}]`;

/** Markdown: per world, a metrics table (mean [95% CI]) and the goals; then the one-line-per-world summary. */
export function markdown(summaries: readonly WorldSummary[]): string {
  const out: string[] = [];
  for (const s of summaries) {
    out.push(
      `### World \`${s.world}\` (seeds ${s.seeds.join(', ')}; Thermostat budget ${fmt(s.budget.mean, 'int')} impressions/day)`,
      '',
      `| metric | ${EFFECTIVENESS_POLICIES.join(' | ')} |`,
      `| --- | ${EFFECTIVENESS_POLICIES.map(() => '---').join(' | ')} |`,
    );
    for (const [m, label, kind] of EFFECTIVENESS_METRICS)
      out.push(`| ${label} | ${EFFECTIVENESS_POLICIES.map((p) => ci(s.metrics[p][m]!, kind)).join(' | ')} |`);
    out.push('', '| goal | value (mean [95% CI]) | met |', '| --- | --- | --- |');
    for (const g of s.goals) out.push(`| ${g.text} | ${ci(g.value, 'num')} | ${g.met ? 'yes' : '**no**'} |`);
    out.push('');
  }
  return out.join('\n');
}

/** The short table for the README: per world, Thermostat's main ratios and levels. */
export function summaryTable(summaries: readonly WorldSummary[]): string {
  const goal = (s: WorldSummary, id: string): string => {
    const g = s.goals.find((x) => x.id === id);
    return g ? `${fmt(g.value.mean, 'num')}${g.met ? '' : ' ✗'}` : '–';
  };
  const lines = [
    '| world | watch vs manual | vs greedy | retention vs manual | creator retention | trials ≥ 20 on day 1 | cold start top vs manual | cold start vs uniform | heat vs manual |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const s of summaries) {
    const heat = s.metrics.thermostat.heated_impressions!.mean / s.metrics.manual.heated_impressions!.mean;
    lines.push(
      `| ${s.world} | ${goal(s, 'watch')} | ${goal(s, 'vs_greedy')} | ${goal(s, 'retention')} | ${fmt(s.metrics.thermostat.creator_retention!.mean, 'pct')} | ${fmt(s.metrics.thermostat.trial_share!.mean, 'pct')} | ${goal(s, 'cold_top')} | ${goal(s, 'vs_uniform')} | ${fmt(heat, 'num')} |`,
    );
  }
  return lines.join('\n');
}
