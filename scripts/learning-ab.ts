// Does online learning earn its place? thermostat-learned (the job's online learner, in-process)
// against thermostat-rule, same world and seed, over several seeds and worlds: paired differences
// with 95% confidence intervals (Student t over seeds), the acceptance checks, and the learner's
// stability per seed and over time (approval rate, entropy, reward, rollbacks per day).
//
//   npx tsx scripts/learning-ab.ts --seeds 1-8 --users 2000 --days 3 \
//     [--worlds today,today-noscore,engagement,engagement-noscore] [--out f.md] [--json f.json]
//
// --worlds takes world names (sim/config.ts WORLD_NAMES) or a JSON list of partial WorldConfigs
// merged over the defaults. Checks (docs/LEARNING.md, "Learning must earn its place"):
// watch time (engagement) +3% or more with the 95% CI above 0; heating cost not higher (mean
// difference ≤ 0); cold-start success not lower (CI upper bound ≥ 0); stable training (no seed
// with a day whose approval rate is ≤ 1% or ≥ 99%, no rollback).
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { defaultWorldConfig, parseWorldName, type WorldConfig } from '../sim/config.js';
import type { LearnedDayPoint, RunResult } from '../sim/metrics.js';
import { runPolicy } from '../sim/run.js';

interface Args {
  seeds: number[];
  users: number;
  days: number;
  worlds: Partial<WorldConfig>[];
  out?: string;
  json?: string;
}

function parseArgs(argv: string[]): Args {
  const get = (k: string): string | undefined => {
    const i = argv.indexOf(`--${k}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const range = (s: string): number[] => {
    const m = /^(\d+)-(\d+)$/.exec(s);
    if (m) return Array.from({ length: Number(m[2]) - Number(m[1]) + 1 }, (_, i) => Number(m[1]) + i);
    return s.split(',').map(Number);
  };
  return {
    seeds: range(get('seeds') ?? '1-8'),
    users: Number(get('users') ?? 2000),
    days: Number(get('days') ?? 3),
    worlds: worldsArg(get('worlds') ?? '[{}]'),
    out: get('out'),
    json: get('json'),
  };
}

/** A JSON list of partial WorldConfigs, or world names (sim/config.ts WORLD_NAMES), comma-separated. */
function worldsArg(s: string): Partial<WorldConfig>[] {
  if (s.trim().startsWith('[')) return JSON.parse(s) as Partial<WorldConfig>[];
  return s.split(',').map((w) => ({ world: parseWorldName(w.trim()) }));
}

/** Two-sided 95% Student t quantile for n − 1 degrees of freedom. */
function t975(df: number): number {
  const table = [0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179];
  return df < table.length ? table[df] : df < 20 ? 2.09 : df < 30 ? 2.045 : 1.96;
}

interface Ci {
  mean: number;
  lo: number;
  hi: number;
}

function ci(xs: number[]): Ci {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  const h = n > 1 ? (t975(n - 1) * sd) / Math.sqrt(n) : 0;
  return { mean, lo: mean - h, hi: mean + h };
}

const METRICS = [
  'engagement',
  'watch_minutes_per_active_user',
  'cold_start_success',
  'heating_cost',
  'heated_impressions',
  'retention',
  'heated_ctr',
  'satisfaction_std',
] as const;
type MetricName = (typeof METRICS)[number];

interface SeedResult {
  seed: number;
  rule: Record<MetricName, number>;
  learned: Record<MetricName, number>;
  curve: LearnedDayPoint[];
  seconds: { rule: number; learned: number };
}

const pick = (r: RunResult): Record<MetricName, number> =>
  Object.fromEntries(METRICS.map((m) => [m, r.metrics[m]])) as Record<MetricName, number>;

async function timed(p: string, cfg: WorldConfig): Promise<{ r: RunResult; s: number }> {
  const t0 = Date.now();
  const r = await runPolicy(p, cfg);
  return { r, s: (Date.now() - t0) / 1000 };
}

const fmt = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : String(x));
const pct = (c: Ci): string => `${fmt(100 * c.mean, 1)}% [${fmt(100 * c.lo, 1)}, ${fmt(100 * c.hi, 1)}]`;
const abs = (c: Ci, d = 3): string => `${fmt(c.mean, d)} [${fmt(c.lo, d)}, ${fmt(c.hi, d)}]`;

function worldReport(world: Partial<WorldConfig>, results: SeedResult[], days: number): string[] {
  const rel = (m: MetricName) => ci(results.map((s) => s.learned[m] / s.rule[m] - 1));
  const diff = (m: MetricName) => ci(results.map((s) => s.learned[m] - s.rule[m]));
  const mean = (m: MetricName, arm: 'rule' | 'learned') =>
    results.reduce((a, s) => a + s[arm][m], 0) / results.length;
  const watch = rel('engagement');
  const cost = diff('heating_cost');
  const cold = diff('cold_start_success');
  const unstable = results.filter((s) =>
    s.curve.some((p) => p.approvalRate <= 0.01 || p.approvalRate >= 0.99 || (p.rollbacks ?? 0) > 0),
  );
  const checks = [
    ['watch time (engagement) ≥ +3%, CI above 0', watch.mean >= 0.03 && watch.lo > 0, pct(watch)],
    ['heating cost not higher (mean difference ≤ 0)', cost.mean <= 0, abs(cost)],
    ['cold-start success not lower (CI upper bound ≥ 0)', cold.hi >= 0, abs(cold, 4)],
    [
      'stable training (no saturated approval day, no rollback)',
      unstable.length === 0,
      `${unstable.length} of ${results.length} seeds unstable${unstable.length ? ` (${unstable.map((s) => s.seed).join(', ')})` : ''}`,
    ],
  ] as const;
  const out = [
    `### World ${JSON.stringify(world)}`,
    '',
    `${results.length} seeds (${results.map((s) => s.seed).join(', ')}); learned − rule, paired by seed, mean [95% CI].`,
    '',
    '| metric | rule (mean) | learned (mean) | learned − rule | relative |',
    '| --- | --- | --- | --- | --- |',
    ...METRICS.map(
      (m) =>
        `| ${m} | ${fmt(mean(m, 'rule'), 4)} | ${fmt(mean(m, 'learned'), 4)} | ${abs(diff(m), 4)} | ${pct(rel(m))} |`,
    ),
    '',
    '| check | met | figure |',
    '| --- | --- | --- |',
    ...checks.map(([name, ok, fig]) => `| ${name} | ${ok ? 'yes' : '**no**'} | ${fig} |`),
    '',
    'Learner over time (mean ± sd across seeds, per simulated day):',
    '',
    '| day | approval rate | entropy (nats) | reward of heated grants | PPO updates | rollbacks | refused |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (let d = 1; d <= days; d++) {
    const pts = results.map((s) => s.curve.find((p) => p.day === d)).filter((p) => p !== undefined);
    const ms = (f: (p: LearnedDayPoint) => number): string => {
      const xs = pts.map(f);
      const m = xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
      const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, xs.length - 1));
      return `${fmt(m)} ± ${fmt(sd)}`;
    };
    out.push(
      `| ${d} | ${ms((p) => p.approvalRate)} | ${ms((p) => p.entropy)} | ${ms((p) => p.approvedReward)} | ${ms((p) => p.updates)} | ${ms((p) => p.rollbacks ?? 0)} | ${ms((p) => p.rejected ?? 0)} |`,
    );
  }
  out.push(
    '',
    'Per seed (engagement rule → learned, cold start, cost; last day approval rate, model version):',
    '',
    ...results.map((s) => {
      const last = s.curve.at(-1);
      return `- seed ${s.seed}: ${fmt(s.rule.engagement, 1)} → ${fmt(s.learned.engagement, 1)}, cold ${fmt(s.rule.cold_start_success, 4)} → ${fmt(s.learned.cold_start_success, 4)}, cost ${fmt(s.rule.heating_cost, 2)} → ${fmt(s.learned.heating_cost, 2)}; approval ${fmt(last?.approvalRate ?? NaN)}, ${last?.modelVersion ?? '-'} (${fmt(s.seconds.rule, 0)} s / ${fmt(s.seconds.learned, 0)} s)`;
    }),
    '',
  );
  return out;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const started = new Date().toISOString();
  const all: { world: Partial<WorldConfig>; results: SeedResult[] }[] = [];
  for (const world of a.worlds) {
    const results: SeedResult[] = [];
    for (const seed of a.seeds) {
      const cfg = defaultWorldConfig({ ...world, users: a.users, days: a.days, seed });
      const rule = await timed('thermostat-rule', cfg);
      const learned = await timed('thermostat-learned', cfg);
      results.push({
        seed,
        rule: pick(rule.r),
        learned: pick(learned.r),
        curve: learned.r.learning ?? [],
        seconds: { rule: rule.s, learned: learned.s },
      });
      process.stderr.write(
        `world ${JSON.stringify(world)} seed ${seed}: engagement ${fmt(rule.r.metrics.engagement, 1)} → ${fmt(learned.r.metrics.engagement, 1)} (${fmt(rule.s, 0)} s + ${fmt(learned.s, 0)} s)\n`,
      );
    }
    all.push({ world, results });
  }
  const lines = [
    `Command: \`npx tsx scripts/learning-ab.ts ${process.argv.slice(2).join(' ')}\``,
    `Started ${started}, finished ${new Date().toISOString()}; ${cpus().length} vCPUs, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' / ')} at the end; ${a.users} users × ${a.days} days per run.`,
    '',
    ...all.flatMap((w) => worldReport(w.world, w.results, a.days)),
  ];
  const text = lines.join('\n');
  if (a.out) writeFileSync(a.out, text + '\n');
  else console.log(text);
  if (a.json) writeFileSync(a.json, JSON.stringify(all, null, 1));
}

await main();
