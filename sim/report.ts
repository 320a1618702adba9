// Reports: text tables for the terminal, and a self-contained HTML page whose charts are
// Vega-Lite specs (sim/report-charts.ts) compiled to Vega here and drawn as SVG by Vega's own
// minified bundle, inlined from node_modules: no network, no CDN, one file to send around.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from 'vega-lite';
import type { AbResult } from './ab.js';
import { estimate, summarize, type Estimate, type Summary } from './aggregate.js';
import type { WorldConfig } from './config.js';
import type { Metrics, RunResult } from './metrics.js';
import {
  abForest,
  directionLabel,
  feasible,
  learningCharts,
  lorenzChart,
  liftForest,
  metricCharts,
  METRICS,
  policyColour,
  seriesCharts,
  type ChartSpec,
  type Kind,
} from './report-charts.js';

/** Metrics shown in tables, in order, with their display format. */
export const TABLE_METRICS: [keyof Metrics, Kind][] = METRICS.map((m) => [m.metric, m.kind]);

export function fmt(v: number, kind: Kind): string {
  if (!Number.isFinite(v)) return String(v);
  if (kind === 'pct') return `${(v * 100).toFixed(2)}%`;
  if (kind === 'int') return Math.round(v).toLocaleString('en-US');
  return v.toFixed(3);
}

const kindOf = (m: string): Kind => TABLE_METRICS.find(([k]) => k === m)?.[1] ?? 'num';

/** "mean", or "mean [lo, hi]" (cut at the metric's feasible range) when it has an interval. */
export function fmtEstimate(e: Estimate, kind: Kind): string {
  const { lo, hi } = feasible(e, kind);
  return lo === null || hi === null
    ? fmt(e.mean, kind)
    : `${fmt(e.mean, kind)} [${fmt(lo, kind)}, ${fmt(hi, kind)}]`;
}

function alignRows(rows: string[][]): string {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map(
      (r, i) =>
        r.map((cell, c) => (c === 0 ? cell.padEnd(w[c]) : cell.padStart(w[c]))).join('  ') +
        (i === 0 ? '\n' + w.map((x) => '-'.repeat(x)).join('  ') : ''),
    )
    .join('\n');
}

/** Plain-text table: one row per metric, one column per policy. */
export function textTable(policies: Record<string, { metrics: Metrics }>): string {
  const names = Object.keys(policies);
  return alignRows([
    ['metric', ...names],
    ...TABLE_METRICS.map(([m, kind]) => [m, ...names.map((n) => fmt(policies[n].metrics[m], kind))]),
  ]);
}

/** Plain-text table across seeds: mean [95% CI] per metric and policy. */
export function textSummaryTable(s: Summary): string {
  return alignRows([
    ['metric', ...s.policies],
    ...TABLE_METRICS.map(([m, kind]) => [m, ...s.policies.map((p) => fmtEstimate(s.metrics[p][m], kind))]),
  ]);
}

export function abTextTable(ab: AbResult): string {
  const out: string[] = [];
  for (const [arm, table] of Object.entries(ab.diffs)) {
    out.push(
      `A/B: ${arm} vs ${ab.arms[0].name} (users ${ab.arms.map((a) => `${a.name}=${a.users}`).join(', ')}; 95% CI, bootstrap over users, B=${ab.bootstrap})`,
    );
    out.push(alignRows(abRows(ab, arm, table)));
  }
  return out.join('\n\n');
}

function abRows(ab: AbResult, arm: string, table: AbResult['diffs'][string]): string[][] {
  return [
    ['metric', ab.arms[0].name, arm, 'diff', '95% CI'],
    ...table.map((d) => {
      const k = kindOf(d.metric);
      return [
        d.metric,
        fmt(d.control, k),
        fmt(d.treatment, k),
        fmt(d.diff, k),
        d.ci ? `[${fmt(d.ci[0], k)}, ${fmt(d.ci[1], k)}]` : 'n/a',
      ];
    }),
  ];
}

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function htmlTable(rows: string[][]): string {
  return `<table><thead><tr>${rows[0].map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows
    .slice(1)
    .map(
      (r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

/** Who made the report: the commit and command line (the configuration is in the input). */
export interface Provenance {
  commit: string;
  command: string;
  generatedAt: string;
}

export interface ReportInput {
  config: WorldConfig;
  /** One run per policy (a single seed), or use `runs`. */
  policies: Record<string, RunResult>;
  /** Runs per policy, one per seed of `seeds`; takes precedence over `policies`. */
  runs?: Record<string, RunResult[]>;
  seeds?: number[];
  ab?: AbResult;
  provenance?: Provenance;
}

/** Vega's minified browser bundle, from the installed package. */
function vegaBundle(): string {
  const main = fileURLToPath(import.meta.resolve('vega'));
  return readFileSync(join(dirname(main), 'vega.min.js'), 'utf8');
}

// JSON inside <script>: `<` escaped so no string in the data can close the element.
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');

const RENDER = `
const specs = JSON.parse(document.getElementById('vega-specs').textContent);
for (const { id, spec } of specs) {
  new vega.View(vega.parse(spec), { renderer: 'svg', container: '#' + id, hover: true })
    .runAsync()
    .catch((e) => { document.getElementById(id).textContent = 'chart failed: ' + e.message; });
}`;

const STYLE =
  'body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}table{border-collapse:collapse;margin:12px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}code{background:#f4f4f4;padding:1px 4px}.swatch{display:inline-block;width:10px;height:10px;margin-right:4px}details pre{background:#f8f8f8;padding:8px;font-size:12px;overflow:auto}';

/** A self-contained HTML report: tables, Vega charts (inlined), provenance and configuration. */
export function htmlReport(r: ReportInput): string {
  const runs = r.runs ?? Object.fromEntries(Object.entries(r.policies).map(([p, run]) => [p, [run]]));
  const seeds = r.seeds ?? [r.config.seed];
  const s = summarize(seeds, runs);
  const c = r.config;
  const charts: ChartSpec[] = [];
  const section = (title: string, intro: string, specs: (ChartSpec | null)[]): string => {
    const present = specs.filter((x): x is ChartSpec => x !== null);
    charts.push(...present);
    return present.length
      ? `<h2>${esc(title)}</h2>${intro}<div class="grid">${present.map((x) => `<div class="chart" id="${x.id}"></div>`).join('')}</div>`
      : '';
  };
  const parts: string[] = [];
  parts.push(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Thermostat simulation report</title><style>${STYLE}</style></head><body>`,
  );
  parts.push('<h1>Thermostat simulation report</h1>');
  const prov = r.provenance;
  parts.push(
    `<p id="provenance">${prov ? `commit <code>${esc(prov.commit)}</code>, command <code>${esc(prov.command)}</code>, generated ${esc(prov.generatedAt)}. ` : ''}users <code>${c.users}</code>, days <code>${c.days}</code>, seeds <code>${esc(seeds.join(', '))}</code>, start <code>${new Date(c.startMs).toISOString()}</code>, tick <code>${c.tickMs / 60000} min</code>. Metric definitions: docs/SIMULATOR.md.</p>`,
  );
  parts.push(
    `<p>Policies: ${s.policies.map((p) => `<span class="swatch" style="background:${policyColour(p)}"></span>${esc(p)}`).join(' &nbsp; ')}. ${seeds.length > 1 ? `Each figure is the mean over ${seeds.length} seeds with its 95% confidence interval (Student t over the seeds).` : 'One seed: point estimates (run several seeds, e.g. --seeds 1-5, for intervals).'}</p>`,
  );
  parts.push('<h2>Side by side (separate full-population runs, same seeds)</h2>');
  parts.push(
    htmlTable([
      ['metric', 'better', ...s.policies],
      ...TABLE_METRICS.map(([m, k]) => [
        m,
        directionLabel(m) || '–',
        ...s.policies.map((p) => fmtEstimate(s.metrics[p][m], k)),
      ]),
    ]),
  );
  parts.push(
    section('Lifts', '', [liftForest(s), r.ab ? abForest(r.ab) : null]),
    section('Per day', '', [...seriesCharts(s), lorenzChart(s)]),
  );
  const learning = learningCharts(runs, estimate);
  parts.push(
    section(
      'Learning curves (learned policies, per day)',
      '<p>reward: mean reward of the decisions settled that day (heated allocations: engagement of their heated impressions weighted by the reward weights, minus cost; recorded denials: 0); approved reward: heated allocations only; entropy: mean Bernoulli entropy of P(approve) over the requests scored; approval rate: sampled approvals / requests scored. docs/LEARNING.md.</p>',
      learning.allocation,
    ),
    section(
      'User explore learner (per day)',
      '<p>One decision per user per user-stage micro-batch: u = z + σ·ε around the shared network’s logit, explore probability sigmoid(u); reward: mean reward of the decisions closed that day; σ at the end of the day. docs/LEARNING.md.</p>',
      learning.explore,
    ),
    section('Per-policy metrics (mean, 95% CI across seeds)', '', metricCharts(s)),
  );
  if (r.ab) {
    parts.push(
      `<h2>A/B (one population, users split by fnv1a32(user_id:salt), salt <code>${esc(r.ab.salt)}</code>)</h2>`,
      `<p>Arms: ${r.ab.arms.map((a) => `${esc(a.name)} (${a.users} users)`).join(', ')}. 95% confidence intervals from a percentile bootstrap over users (B=${r.ab.bootstrap}); n/a for metrics that do not decompose over users.</p>`,
    );
    for (const [arm, table] of Object.entries(r.ab.diffs))
      parts.push(`<h3>${esc(arm)} vs ${esc(r.ab.arms[0].name)}</h3>`, htmlTable(abRows(r.ab, arm, table)));
  }
  parts.push(
    `<details><summary>Configuration of the simulated world</summary><pre>${esc(JSON.stringify(c, null, 2))}</pre></details>`,
  );
  // The $schema URL is documentation only: dropped, so the page names no address at all.
  const compiled = charts.map((x) => {
    const { $schema: _schema, ...spec } = compile(x.spec).spec;
    return { id: x.id, spec };
  });
  parts.push(`<script>${vegaBundle()}</script>`);
  parts.push(`<script type="application/json" id="vega-specs">${scriptJson(compiled)}</script>`);
  parts.push(`<script>${RENDER}</script>`);
  parts.push('</body></html>');
  return parts.join('\n');
}
