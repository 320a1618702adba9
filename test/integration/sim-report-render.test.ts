// The simulator report drawn by a real browser: headless Chromium (Debian's, installed by
// scripts/bootstrap.sh) loads the self-contained HTML from disk with the network off, runs the
// inlined Vega, and the DOM it dumps must hold every chart as SVG with its marks, integer day
// ticks and distinct axis labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runAb } from '../../sim/ab.js';
import { defaultWorldConfig } from '../../sim/config.js';
import type { RunResult } from '../../sim/metrics.js';
import { htmlReport } from '../../sim/report.js';
import { METRICS } from '../../sim/report-charts.js';
import { runPolicy } from '../../sim/run.js';

const CHROMIUM = '/usr/bin/chromium';

/** The DOM after the page's scripts ran (virtual time: no waiting on the wall clock). */
function renderedDom(file: string): string {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/bootstrap.sh installs Debian's chromium`);
  const profile = mkdtempSync(join(tmpdir(), 'chromium-'));
  const r = spawnSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${profile}`,
      '--virtual-time-budget=20000',
      '--dump-dom',
      pathToFileURL(file).href,
    ],
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
  );
  assert.equal(r.status, 0, `chromium failed: ${r.stderr?.slice(-2000)}`);
  return r.stdout;
}

/** Each chart's container, by id, with what the browser put in it. */
function charts(dom: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of dom.split('<div class="chart" id="').slice(1)) {
    const id = part.slice(0, part.indexOf('"'));
    out.set(id, part);
  }
  return out;
}

const count = (s: string, re: RegExp): number => s.match(re)?.length ?? 0;

/** Data marks of a kind: the paths inside `<g class="mark-<kind> role-mark ...">` groups. */
function marks(chart: string, kind: 'symbol' | 'line' | 'area' | 'rule' | 'text'): number {
  let n = 0;
  for (const g of chart.matchAll(new RegExp(`<g class="mark-${kind} role-mark[^"]*"[^>]*>(.*?)</g>`, 'gs')))
    n += count(g[1], kind === 'rule' ? /<(line|path)\b/g : kind === 'text' ? /<text\b/g : /<path\b/g);
  return n;
}

/** Labels of the axis whose aria-label starts with `X-axis` or `Y-axis`. */
function axisLabels(chart: string, axis: 'X' | 'Y'): string[] {
  const start = chart.indexOf(`aria-label="${axis}-axis`);
  if (start < 0) return [];
  const rest = chart.slice(start);
  const labels = /<g class="mark-text role-axis-label"[^>]*>(.*?)<\/g>/s.exec(rest)?.[1] ?? '';
  return [...labels.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

test('the HTML report renders in headless Chromium: every chart as SVG with its marks, readable ticks', async () => {
  const seeds = [1, 2];
  const policies = ['popularity', 'manual'];
  const world = (seed: number) => defaultWorldConfig({ users: 150, days: 3, seed });
  const runs: Record<string, RunResult[]> = {};
  for (const p of policies) {
    runs[p] = [];
    for (const seed of seeds) runs[p].push(await runPolicy(p, world(seed)));
  }
  const ab = await runAb(policies, { world: world(1), bootstrap: 50 });
  const html = htmlReport({
    config: world(1),
    policies: {},
    runs,
    seeds,
    ab,
    provenance: { commit: 'test', command: 'thermostat simulate', generatedAt: new Date(0).toISOString() },
  });
  const dir = mkdtempSync(join(tmpdir(), 'report-'));
  writeFileSync(join(dir, 'report.html'), html);

  const dom = renderedDom(join(dir, 'report.html'));
  assert.doesNotMatch(dom, /<div class="chart" id="[^"]*">chart failed/, 'no chart failed to render');
  const found = charts(dom);
  const expected = [
    'forest-seeds',
    'forest-ab',
    'series-new_content_ctr',
    'series-interest_diversity',
    'series-heated_share',
    'series-retention',
    'lorenz',
    'metric-new_content_ctr',
    'metric-engagement',
    'metric-creators_left',
  ];
  for (const id of expected) {
    const chart = found.get(id);
    assert.ok(chart, `chart ${id} is on the page`);
    assert.ok(chart.includes('<svg'), `${id} was drawn as SVG`);
  }
  assert.equal(
    [...found.keys()].filter((id) => id.startsWith('metric-')).length,
    METRICS.length,
    'one chart per metric',
  );

  // Per day: a line and a band per policy (two seeds give intervals), integer day ticks.
  for (const id of ['series-new_content_ctr', 'series-interest_diversity', 'series-heated_share']) {
    const chart = found.get(id) as string;
    assert.equal(marks(chart, 'line'), policies.length, `${id}: one line per policy`);
    assert.equal(marks(chart, 'area'), policies.length, `${id}: one band per policy`);
    assert.equal(marks(chart, 'symbol'), policies.length * 3, `${id}: a point per policy and day`);
    assert.deepEqual(axisLabels(chart, 'X'), ['0', '1', '2'], `${id}: integer day ticks`);
    const y = axisLabels(chart, 'Y');
    assert.ok(y.length >= 3 && new Set(y).size === y.length, `${id}: distinct y labels ${y.join(' ')}`);
    assert.ok(
      y.every((l) => /^\d+(\.\d+)?%$/.test(l)),
      `${id}: y labels are percentages: ${y.join(' ')}`,
    );
  }
  // Retention has no next day after the last one.
  assert.deepEqual(axisLabels(found.get('series-retention') as string, 'X'), ['0', '1']);

  // Every metric: a point per policy, an interval per policy.
  for (const id of ['metric-new_content_ctr', 'metric-engagement']) {
    const chart = found.get(id) as string;
    assert.equal(marks(chart, 'symbol'), policies.length, `${id}: a point per policy`);
    assert.equal(marks(chart, 'rule'), policies.length, `${id}: an interval per policy`);
    assert.match(chart, /higher is better/);
  }
  assert.match(found.get('metric-creators_left') as string, /lower is better/);

  // Forest plots: one point per metric compared (lifts over seeds; A/B diffs over users).
  const seedForest = found.get('forest-seeds') as string;
  const lifts = new Set(
    Object.keys(runs.manual[0].metrics).filter((m) =>
      runs.popularity.every((r) => r.metrics[m as never] !== 0),
    ),
  );
  assert.equal(marks(seedForest, 'symbol'), lifts.size, 'a lift per metric with a non-zero baseline');
  assert.ok(marks(seedForest, 'rule') >= lifts.size, 'intervals (plus the zero line)');
  const abForest = found.get('forest-ab') as string;
  const abRows = ab.diffs.manual.filter((d) => d.control !== 0 && Number.isFinite(d.diff));
  assert.equal(marks(abForest, 'symbol'), abRows.length);
  assert.equal(
    marks(abForest, 'rule') - 1,
    abRows.filter((d) => d.ci).length,
    'bootstrap intervals where the metric decomposes over users (and the zero line)',
  );
});
