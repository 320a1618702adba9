// Reports: a text side-by-side table for the terminal and a self-contained HTML page with inline
// SVG plots (no scripts, no CDN): Lorenz curves of exposure, new-content CTR and interest
// diversity per day, per-policy metric bars, and the A/B table with confidence intervals.
import type { AbResult } from './ab.js';
import type { Metrics, RunResult } from './metrics.js';
import type { WorldConfig } from './config.js';

/** Metrics shown in tables, in order, with their display format. */
export const TABLE_METRICS: [keyof Metrics, 'pct' | 'num' | 'int'][] = [
  ['new_content_ctr', 'pct'],
  ['interest_diversity', 'pct'],
  ['cold_start_success', 'pct'],
  ['cold_start_success_top', 'pct'],
  ['trial_share', 'pct'],
  ['top100_share', 'pct'],
  ['exposure_gini', 'num'],
  ['retention', 'pct'],
  ['heating_cost', 'int'],
  ['heated_impressions', 'int'],
  ['engagement', 'int'],
  ['watch_minutes_per_active_user', 'num'],
  ['watch_minutes_per_user_day', 'num'],
  ['satisfaction_std', 'num'],
  ['cheat_precision', 'pct'],
  ['cheat_recall', 'pct'],
  ['heated_share', 'pct'],
  ['heated_share_max', 'pct'],
  ['heated_ctr', 'pct'],
  ['ctr', 'pct'],
  ['impressions', 'int'],
  ['active_user_days', 'int'],
  ['new_content_impression_share', 'pct'],
  ['cheat_impression_share', 'pct'],
  ['creators_left', 'int'],
  ['creator_retention', 'pct'],
  ['heated_items', 'int'],
];

export function fmt(v: number, kind: 'pct' | 'num' | 'int'): string {
  if (!Number.isFinite(v)) return String(v);
  if (kind === 'pct') return `${(v * 100).toFixed(2)}%`;
  if (kind === 'int') return Math.round(v).toLocaleString('en-US');
  return v.toFixed(3);
}

const kindOf = (m: string): 'pct' | 'num' | 'int' => TABLE_METRICS.find(([k]) => k === m)?.[1] ?? 'num';

/** Plain-text table: one row per metric, one column per policy. */
export function textTable(policies: Record<string, { metrics: Metrics }>): string {
  const names = Object.keys(policies);
  const rows: string[][] = [['metric', ...names]];
  for (const [m, kind] of TABLE_METRICS)
    rows.push([m, ...names.map((n) => fmt(policies[n].metrics[m], kind))]);
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map(
      (r, i) =>
        r.map((cell, c) => (c === 0 ? cell.padEnd(w[c]) : cell.padStart(w[c]))).join('  ') +
        (i === 0 ? '\n' + w.map((x) => '-'.repeat(x)).join('  ') : ''),
    )
    .join('\n');
}

export function abTextTable(ab: AbResult): string {
  const out: string[] = [];
  for (const [arm, table] of Object.entries(ab.diffs)) {
    out.push(
      `A/B: ${arm} vs ${ab.arms[0].name} (users ${ab.arms.map((a) => `${a.name}=${a.users}`).join(', ')}; 95% CI, bootstrap over users, B=${ab.bootstrap})`,
    );
    const rows = [['metric', ab.arms[0].name, arm, 'diff', '95% CI']];
    for (const d of table) {
      const k = kindOf(d.metric);
      rows.push([
        d.metric,
        fmt(d.control, k),
        fmt(d.treatment, k),
        fmt(d.diff, k),
        d.ci ? `[${fmt(d.ci[0], k)}, ${fmt(d.ci[1], k)}]` : 'n/a',
      ]);
    }
    const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    out.push(
      rows
        .map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(w[c]) : cell.padStart(w[c]))).join('  '))
        .join('\n'),
    );
  }
  return out.join('\n\n');
}

const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function lineChart(
  title: string,
  series: { name: string; pts: [number, number][] }[],
  xLabel: string,
  yLabel: string,
  diagonal = false,
): string {
  const W = 460,
    H = 300,
    L = 50,
    B = 40,
    T = 30,
    R = 110;
  const xs = series.flatMap((s) => s.pts.map((p) => p[0]));
  const ys = series.flatMap((s) => s.pts.map((p) => p[1]));
  const x0 = Math.min(0, ...xs),
    x1 = Math.max(1e-9, ...xs);
  const y0 = 0,
    y1 = Math.max(1e-9, ...ys) * (diagonal ? 1 : 1.1);
  const X = (x: number): number => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const Y = (y: number): number => H - B - ((y - y0) / (y1 - y0 || 1)) * (H - B - T);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img"><title>${esc(title)}</title>`,
  ];
  parts.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  parts.push(
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>`,
  );
  for (let k = 0; k <= 4; k++) {
    const yv = y0 + ((y1 - y0) * k) / 4;
    parts.push(
      `<text x="${L - 4}" y="${Y(yv) + 4}" text-anchor="end" font-size="10">${yv < 1.5 && y1 <= 1.5 ? yv.toFixed(2) : Math.round(yv)}</text>`,
    );
    const xv = x0 + ((x1 - x0) * k) / 4;
    parts.push(
      `<text x="${X(xv)}" y="${H - B + 14}" text-anchor="middle" font-size="10">${Number.isInteger(xv) ? xv : xv.toFixed(2)}</text>`,
    );
  }
  parts.push(
    `<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle" font-size="11">${esc(xLabel)}</text>`,
  );
  parts.push(
    `<text x="12" y="${(T + H - B) / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 12 ${(T + H - B) / 2})">${esc(yLabel)}</text>`,
  );
  if (diagonal)
    parts.push(
      `<line x1="${X(0)}" y1="${Y(0)}" x2="${X(1)}" y2="${Y(1)}" stroke="#aaa" stroke-dasharray="4 3"/>`,
    );
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    parts.push(
      `<polyline fill="none" stroke="${c}" stroke-width="2" points="${s.pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`,
    );
    parts.push(
      `<rect x="${W - R + 8}" y="${T + i * 16}" width="10" height="10" fill="${c}"/><text x="${W - R + 22}" y="${T + i * 16 + 9}" font-size="11">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

function barChart(
  title: string,
  bars: { name: string; value: number }[],
  kind: 'pct' | 'num' | 'int',
): string {
  const W = 300,
    rowH = 22,
    L = 100,
    H = 30 + bars.length * rowH;
  const max = Math.max(1e-12, ...bars.map((b) => Math.abs(b.value)));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img"><title>${esc(title)}</title>`,
  ];
  parts.push(`<text x="4" y="16" font-size="13">${esc(title)}</text>`);
  bars.forEach((b, i) => {
    const y = 26 + i * rowH;
    const w = (Math.abs(b.value) / max) * (W - L - 70);
    parts.push(`<text x="${L - 4}" y="${y + 13}" text-anchor="end" font-size="11">${esc(b.name)}</text>`);
    parts.push(
      `<rect x="${L}" y="${y}" width="${w.toFixed(1)}" height="16" fill="${COLORS[i % COLORS.length]}"/>`,
    );
    parts.push(`<text x="${L + w + 4}" y="${y + 13}" font-size="11">${esc(fmt(b.value, kind))}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function htmlTable(rows: string[][]): string {
  return `<table><thead><tr>${rows[0].map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows
    .slice(1)
    .map(
      (r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

export interface ReportInput {
  config: WorldConfig;
  policies: Record<string, RunResult>;
  ab?: AbResult;
}

/** A self-contained HTML report (inline CSS + SVG only). */
export function htmlReport(r: ReportInput): string {
  const names = Object.keys(r.policies);
  const c = r.config;
  const parts: string[] = [];
  parts.push(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Thermostat simulation report</title><style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:16px}code{background:#f4f4f4;padding:1px 4px}</style></head><body>`,
  );
  parts.push(`<h1>Thermostat simulation report</h1>`);
  parts.push(
    `<p>users <code>${c.users}</code>, days <code>${c.days}</code>, seed <code>${c.seed}</code>, start <code>${new Date(c.startMs).toISOString()}</code>, tick <code>${c.tickMs / 60000} min</code>. Metric definitions: docs/SIMULATOR.md.</p>`,
  );
  parts.push('<h2>Side by side (separate full-population runs, same seed)</h2>');
  parts.push(
    htmlTable([
      ['metric', ...names],
      ...TABLE_METRICS.map(([m, k]) => [m, ...names.map((n) => fmt(r.policies[n].metrics[m], k))]),
    ]),
  );
  parts.push('<h2>Plots</h2><div class="grid">');
  parts.push(
    lineChart(
      'Exposure Lorenz curve (items)',
      names.map((n) => ({ name: n, pts: r.policies[n].lorenz })),
      'share of items (least exposed first)',
      'share of impressions',
      true,
    ),
  );
  parts.push(
    lineChart(
      'New-content CTR per day',
      names.map((n) => ({
        name: n,
        pts: r.policies[n].series.days.map(
          (d, i) => [d, r.policies[n].series.new_content_ctr[i]] as [number, number],
        ),
      })),
      'day',
      'CTR',
    ),
  );
  parts.push(
    lineChart(
      'Interest diversity per day',
      names.map((n) => ({
        name: n,
        pts: r.policies[n].series.days.map(
          (d, i) => [d, r.policies[n].series.interest_diversity[i]] as [number, number],
        ),
      })),
      'day',
      'share of interests engaged',
    ),
  );
  parts.push(
    lineChart(
      'Heated share per day',
      names.map((n) => ({
        name: n,
        pts: r.policies[n].series.days.map(
          (d, i) => [d, r.policies[n].series.heated_share[i]] as [number, number],
        ),
      })),
      'day',
      'heated / all impressions',
    ),
  );
  parts.push('</div>');
  const learned = names.filter((n) => (r.policies[n].learning?.length ?? 0) > 0);
  if (learned.length > 0) {
    parts.push(
      '<h2>Learning curves (learned policies, per day)</h2><p>reward: mean reward of the decisions settled that day (heated allocations: engagement of their heated impressions weighted by the reward weights, minus cost; recorded denials: 0); approved reward: heated allocations only; entropy: mean Bernoulli entropy of P(approve) over the requests scored; approval rate: sampled approvals / requests scored. docs/LEARNING.md.</p><div class="grid">',
    );
    const curve = (
      title: string,
      key: 'reward' | 'approvedReward' | 'entropy' | 'approvalRate',
      y: string,
    ): string =>
      lineChart(
        title,
        learned.map((n) => ({
          name: n,
          pts: (r.policies[n].learning ?? []).map((p) => [p.day, p[key]] as [number, number]),
        })),
        'day',
        y,
      );
    parts.push(curve('Reward per day', 'reward', 'mean reward'));
    parts.push(curve('Reward of heated allocations per day', 'approvedReward', 'mean reward'));
    parts.push(curve('Policy entropy per day', 'entropy', 'nats'));
    parts.push(curve('Approval rate per day', 'approvalRate', 'approved / scored'));
    parts.push(
      htmlTable([
        ['policy', 'day', 'reward', 'approved reward', 'entropy', 'approval rate', 'PPO updates'],
        ...learned.flatMap((n) =>
          (r.policies[n].learning ?? []).map((p) => [
            n,
            String(p.day),
            p.reward.toFixed(4),
            p.approvedReward.toFixed(4),
            p.entropy.toFixed(4),
            (100 * p.approvalRate).toFixed(2) + '%',
            String(p.updates),
          ]),
        ),
      ]),
    );
    parts.push('</div>');
  }
  const exploring = names.filter((n) => (r.policies[n].learning ?? []).some((p) => p.explore));
  if (exploring.length > 0) {
    parts.push(
      '<h2>User explore learner (per day)</h2><p>One decision per user per user-stage micro-batch: u = z + σ·ε around the shared network’s logit, explore probability sigmoid(u). reward: mean reward of the decisions closed that day (the window score of what was served under a decision — engaged rate, discoveries, engaged new content, repetition — minus the swing from the user’s running mean); σ and entropy of the Gaussian at the end of the day; Gaussian PPO updates. docs/LEARNING.md.</p><div class="grid">',
    );
    const ecurve = (title: string, key: 'reward' | 'std' | 'meanProbability', y: string): string =>
      lineChart(
        title,
        exploring.map((n) => ({
          name: n,
          pts: (r.policies[n].learning ?? []).flatMap((p) =>
            p.explore ? [[p.day, p.explore[key]] as [number, number]] : [],
          ),
        })),
        'day',
        y,
      );
    parts.push(ecurve('Explore reward per day', 'reward', 'mean reward'));
    parts.push(ecurve('Explore σ (logit noise) per day', 'std', 'σ'));
    parts.push(ecurve('Mean explore probability per day', 'meanProbability', 'P(explore)'));
    parts.push(
      htmlTable([
        [
          'policy',
          'day',
          'decisions',
          'rewarded',
          'reward',
          'mean P(explore)',
          'σ',
          'entropy',
          'PPO updates',
        ],
        ...exploring.flatMap((n) =>
          (r.policies[n].learning ?? []).flatMap((p) =>
            p.explore
              ? [
                  [
                    n,
                    String(p.day),
                    String(p.explore.decisions),
                    String(p.explore.rewarded),
                    p.explore.reward.toFixed(4),
                    p.explore.meanProbability.toFixed(4),
                    p.explore.std.toFixed(4),
                    p.explore.entropy.toFixed(4),
                    String(p.explore.updates),
                  ],
                ]
              : [],
          ),
        ),
      ]),
    );
    parts.push('</div>');
  }
  parts.push('<h2>Per-policy metrics</h2><div class="grid">');
  for (const [m, k] of TABLE_METRICS)
    parts.push(
      barChart(
        m,
        names.map((n) => ({ name: n, value: r.policies[n].metrics[m] })),
        k,
      ),
    );
  parts.push('</div>');
  if (r.ab) {
    parts.push(
      `<h2>A/B (one population, users split by fnv1a32(user_id:salt), salt <code>${esc(r.ab.salt)}</code>)</h2>`,
    );
    parts.push(
      `<p>Arms: ${r.ab.arms.map((a) => `${esc(a.name)} (${a.users} users)`).join(', ')}. 95% confidence intervals from a percentile bootstrap over users (B=${r.ab.bootstrap}); n/a for metrics that do not decompose over users.</p>`,
    );
    for (const [arm, table] of Object.entries(r.ab.diffs)) {
      parts.push(`<h3>${esc(arm)} vs ${esc(r.ab.arms[0].name)}</h3>`);
      parts.push(
        htmlTable([
          ['metric', r.ab.arms[0].name, arm, 'diff', '95% CI'],
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
        ]),
      );
    }
  }
  parts.push('</body></html>');
  return parts.join('\n');
}
