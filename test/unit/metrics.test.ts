// The metric set itself (core/metrics.ts, core/build-info.ts) and its generated reference
// (docs/METRICS.md), and the alert rules' links into docs/RUNBOOK.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { createMetrics } from '../../core/metrics.js';
import { readBuildInfo } from '../../core/build-info.js';
import { loadRuntimeConfig } from '../../core/config.js';
import {
  LINUX_ONLY,
  METRICS_DOC_PATH,
  alertMetrics,
  renderMetricsDoc,
} from '../../scripts/gen-metrics-doc.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

test('thermostat_build_info is 1, labelled with the package version, the revision and the Node.js version', async () => {
  const m = createMetrics(new Registry(), {
    build: { version: '1.2.3', revision: 'abc123', nodeVersion: '22.1.0' },
  });
  const values = (await m.buildInfo.get()).values;
  assert.deepEqual(values, [
    { value: 1, labels: { version: '1.2.3', revision: 'abc123', node_version: '22.1.0' } },
  ]);
  assert.match(
    await m.register.metrics(),
    /^thermostat_build_info\{version="1\.2\.3",revision="abc123",node_version="22\.1\.0"\} 1$/m,
  );
});

test('readBuildInfo: version from package.json, revision from config revision (THERMOSTAT_REVISION), else from git', () => {
  const fromEnv = readBuildInfo(loadRuntimeConfig({ env: { THERMOSTAT_REVISION: 'c0ffee' } }).revision);
  assert.deepEqual(fromEnv, { version: pkg.version, revision: 'c0ffee', nodeVersion: process.versions.node });
  // This checkout is a git work tree: the revision is the commit checked out.
  assert.match(readBuildInfo(loadRuntimeConfig({ env: {} }).revision).revision, /^[0-9a-f]{40}$/);
});

test("prom-client's default process metrics keep their stock names (no thermostat_ prefix)", async () => {
  const names = (await createMetrics(new Registry()).register.getMetricsAsJSON()).map((m) => m.name);
  for (const n of [
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes',
  ])
    assert.ok(names.includes(n), `${n} is exported`);
  assert.deepEqual(
    names.filter((n) => /^thermostat_(process|nodejs)_/.test(n)),
    [],
    'no prefixed default metric',
  );
  assert.deepEqual(
    names.filter((n) => !/^(thermostat|process|nodejs)_/.test(n)),
    [],
    'every other metric is the job’s own',
  );
});

/** Production sources: what `thermostat run` and the library are built from (no tests, no bench). */
function productionSources(): string[] {
  const out: string[] = [join(root, 'index.ts')];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const d of ['agents', 'cli', 'core', 'io', 'learn', 'operators', 'pipelines', 'runtime', 'state'])
    walk(join(root, d));
  return out.filter((p) => !p.endsWith(join('core', 'metrics.ts')));
}

/** Does `code` update the metric held in field `key` of createMetrics() (directly, or through its tally)? */
const writes = (code: string, key: string): boolean =>
  new RegExp(`\\.${key}(\\??\\.(inc|dec|set|observe|startTimer)|Tally)\\(`).test(code);

test('every metric createMetrics() declares is written by production code (none stays at its initial 0)', () => {
  const m = createMetrics(new Registry(), { defaultMetrics: false });
  const code = productionSources()
    .map((p) => readFileSync(p, 'utf8'))
    .join('\n');
  const unwritten = Object.entries(m)
    .filter(([k, v]) => k !== 'register' && k !== 'buildInfo' && typeof v !== 'function') // buildInfo is set by createMetrics itself
    .map(([k]) => k)
    .filter((k) => !writes(code, k));
  assert.deepEqual(unwritten, []);
});

test('the scan above catches a metric nothing writes', () => {
  const code = 'metrics.recordsIn.inc({ topic, stage }); metrics?.ready.set(1); metrics?.recordsOutTally(s);';
  assert.deepEqual(
    ['recordsIn', 'ready', 'recordsOut', 'exposureGini'].filter((k) => !writes(code, k)),
    ['exposureGini'],
  );
});

test('docs/METRICS.md is generated from the current metrics, dashboard and alert rules', async () => {
  assert.equal(
    readFileSync(METRICS_DOC_PATH, 'utf8'),
    await renderMetricsDoc(),
    'run `npm run gen:metrics-doc`',
  );
});

test('docs/METRICS.md has a row for every metric the job registers', async () => {
  const doc = readFileSync(METRICS_DOC_PATH, 'utf8');
  const rows = new Set([...doc.matchAll(/^\| `([a-z0-9_:]+)`/gm)].map((m) => m[1]));
  const registered = (await createMetrics(new Registry()).register.getMetricsAsJSON()).map((m) => m.name);
  const undocumented = registered.filter((n) => !rows.has(n) && !LINUX_ONLY.includes(n));
  assert.deepEqual(undocumented, []);
  for (const n of [
    'thermostat_records_in_total',
    'thermostat_clearing_score',
    'thermostat_scorer_fallback_total',
  ])
    assert.ok(rows.has(n), `${n} is documented`);
});

test('every alert reads metrics the job exports (or up), and has a runbook entry its runbook_url points to', async () => {
  const exported = new Set(
    (await createMetrics(new Registry()).register.getMetricsAsJSON()).map((m) => m.name),
  );
  const alerts = alertMetrics();
  assert.ok(alerts.size >= 9, `alerts: ${[...alerts.keys()].join(', ')}`);
  for (const [alert, names] of alerts)
    for (const n of names)
      assert.ok(n === 'up' || exported.has(n), `${alert} reads ${n}, which the job does not export`);
  const runbook = readFileSync(join(root, 'docs/RUNBOOK.md'), 'utf8');
  const sections = new Set([...runbook.matchAll(/^## (Thermostat\w+)$/gm)].map((m) => m[1]));
  assert.deepEqual(
    [...sections].sort(),
    [...alerts.keys()].filter((a) => a !== 'ThermostatConsumerGroupLagGrowing').sort(),
  );
  const template = readFileSync(join(root, 'helm/thermostat/templates/prometheusrule.yaml'), 'utf8');
  const anchors = [...template.matchAll(/runbook_url: \{\{ \$runbook \}\}#(\w+)/g)].map((m) => m[1]);
  assert.equal(anchors.length, alerts.size, 'one runbook_url per alert');
  for (const a of anchors)
    assert.ok(
      [...sections].some((s) => s.toLowerCase() === a),
      `runbook_url #${a} has no section in docs/RUNBOOK.md`,
    );
  // Each runbook entry says what it means, how to check and how to fix.
  for (const s of sections) {
    const body = runbook.split(`## ${s}\n`)[1].split(/^## /m)[0];
    for (const part of ['Meaning', 'Check', 'Fix'])
      assert.match(body, new RegExp(`^\\*\\*${part}\\.\\*\\*`, 'm'), `${s}: ${part}`);
  }
});
