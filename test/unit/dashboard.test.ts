import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createMetrics } from '../../core/metrics.js';
import {
  dashboardMetricNames,
  dashboardQueries,
  grafanaQueryToPromQL,
  labelNamesInPromQL,
  loadDashboard,
  metricNamesInPromQL,
  seriesFromRegistry,
  seriesNamesFromExposition,
} from '../../scripts/dashboard-metrics.js';

// Labels Prometheus adds to every scraped series (target labels), not exported by the job itself.
const TARGET_LABELS = new Set(['namespace', 'pod', 'instance', 'job', 'service', 'container', 'endpoint']);

async function exposed() {
  return seriesFromRegistry(createMetrics(new Registry()).register);
}

test('metricNamesInPromQL keeps metric names and drops functions, labels, strings, ranges and durations', () => {
  const cases: [string, string[]][] = [
    [
      'histogram_quantile(0.99, sum by (le, stage) (rate(thermostat_processing_latency_seconds_bucket{namespace=~"$namespace", pod=~"$pod"}[$__rate_interval])))',
      ['thermostat_processing_latency_seconds_bucket'],
    ],
    [
      'sum(rate(a_total[5m] offset 1h)) / clamp_min(sum(increase(b_total{x="y"}[1d])), 1)',
      ['a_total', 'b_total'],
    ],
    ['max by (pod, backend) (info_metric{stage="records_in_total"}) == 1', ['info_metric']],
    ['up and on(pod) group_left(version) build_info', ['build_info', 'up']],
    ['{__name__="via_name_matcher", job="x"}', ['via_name_matcher']],
    ['sum(x) without (stage) > bool 1e3', ['x']],
    ['label_replace(m1, "dst", "$1", "src", "(.*)")', ['m1']],
    ['vector(1)', []],
  ];
  for (const [expr, want] of cases) assert.deepEqual(metricNamesInPromQL(expr), want, expr);
});

test('labelNamesInPromQL finds matcher and grouping labels', () => {
  assert.deepEqual(labelNamesInPromQL('sum by (stage, topic) (rate(m{namespace=~"a", pod!="b"}[1m]))'), [
    'namespace',
    'pod',
    'stage',
    'topic',
  ]);
});

test('Grafana variable queries: label_values(selector, label) names the selector only', () => {
  assert.equal(grafanaQueryToPromQL('label_values(thermostat_ready, namespace)'), 'thermostat_ready');
  assert.equal(grafanaQueryToPromQL('label_values(m{a=~"$x", b="1,2"}, pod)'), 'm{a=~"$x", b="1,2"}');
  assert.equal(grafanaQueryToPromQL('label_values(namespace)'), '');
  assert.equal(grafanaQueryToPromQL('query_result(topk(3, m))'), 'topk(3, m)');
});

test('seriesNamesFromExposition reads sample lines and TYPE lines (histograms expanded)', () => {
  const text = [
    '# HELP thermostat_records_in_total Records consumed.',
    '# TYPE thermostat_records_in_total counter',
    'thermostat_records_in_total{topic="user-interactions",stage="user"} 12',
    '# TYPE thermostat_processing_latency_seconds histogram',
    '# TYPE thermostat_ready gauge',
    'thermostat_ready 1',
  ].join('\n');
  assert.deepEqual([...seriesNamesFromExposition(text)].sort(), [
    'thermostat_processing_latency_seconds_bucket',
    'thermostat_processing_latency_seconds_count',
    'thermostat_processing_latency_seconds_sum',
    'thermostat_ready',
    'thermostat_records_in_total',
  ]);
});

test('the dashboard is valid Grafana JSON: unique panel ids, every target on the datasource variable', () => {
  const dash = loadDashboard() as {
    uid: string;
    panels: {
      id: number;
      type: string;
      gridPos: { x: number; y: number; w: number; h: number };
      targets?: { expr: string; datasource: { uid: string } }[];
    }[];
  };
  assert.equal(typeof dash.uid, 'string');
  const ids = dash.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const queryPanels = dash.panels.filter((p) => p.type !== 'row');
  assert.ok(queryPanels.length >= 20, `expected the full dashboard, got ${queryPanels.length} panels`);
  // Grafana's 24-column grid: every panel inside it, no two panels on the same cell.
  const cells = new Set<string>();
  for (const p of dash.panels) {
    const g = p.gridPos;
    assert.ok(
      g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0,
      `panel ${p.id} gridPos ${JSON.stringify(g)}`,
    );
    for (let x = g.x; x < g.x + g.w; x++) {
      for (let y = g.y; y < g.y + g.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `panel ${p.id} overlaps another at ${x},${y}`);
        cells.add(`${x},${y}`);
      }
    }
  }
  for (const p of queryPanels) {
    assert.ok(p.targets && p.targets.length > 0, `panel ${p.id} has no query`);
    for (const t of p.targets) assert.equal(t.datasource.uid, '${datasource}', `panel ${p.id}`);
  }
});

test('every metric the dashboard queries is exported by createMetrics() (default metrics included)', async () => {
  const { names } = await exposed();
  const used = dashboardMetricNames(loadDashboard());
  assert.ok(used.length >= 25, `expected the dashboard to query many metrics, got ${used.length}`);
  const missing = used.filter((n) => !names.has(n));
  assert.deepEqual(missing, [], `dashboard queries metrics the job does not export: ${missing.join(', ')}`);
});

test('the exported-name check catches a metric the job does not export', async () => {
  const { names } = await exposed();
  const dash = {
    panels: [
      { title: 'ok', targets: [{ expr: 'sum(rate(thermostat_records_in_total[1m]))' }] },
      { title: 'typo', targets: [{ expr: 'sum(rate(thermostat_record_in_total[1m]))' }] },
      { title: 'default metric, stock name', targets: [{ expr: 'process_resident_memory_bytes' }] },
      { title: 'default metric, prefixed', targets: [{ expr: 'thermostat_process_resident_memory_bytes' }] },
    ],
  };
  const missing = dashboardMetricNames(dash).filter((n) => !names.has(n));
  assert.deepEqual(missing, ['thermostat_process_resident_memory_bytes', 'thermostat_record_in_total']);
});

test('every label a dashboard query uses exists on its metrics or is a scrape target label', async () => {
  const { labels } = await exposed();
  const problems: string[] = [];
  for (const q of dashboardQueries(loadDashboard())) {
    const allowed = new Set(TARGET_LABELS);
    for (const n of metricNamesInPromQL(q.expr)) for (const l of labels.get(n) ?? []) allowed.add(l);
    for (const l of labelNamesInPromQL(q.expr))
      if (!allowed.has(l)) problems.push(`${q.where}: label "${l}" in ${q.expr}`);
  }
  assert.deepEqual(problems, []);
});

test('the dashboard covers what SREs watch', () => {
  const used = new Set(dashboardMetricNames(loadDashboard()));
  const required: Record<string, string[]> = {
    'throughput per stage': ['thermostat_records_in_total', 'thermostat_records_out_total'],
    'consumer lag': ['thermostat_consumer_lag_records'],
    'processing latency p50/p99': ['thermostat_processing_latency_seconds_bucket'],
    'DLQ and late records': ['thermostat_dlq_records_total', 'thermostat_late_records_total'],
    'heated share vs cap': ['thermostat_heated_share_ratio', 'thermostat_heating_cap_ratio'],
    'cap binding and clearing score': ['thermostat_heating_cap_binding', 'thermostat_clearing_score'],
    'budget pool': ['thermostat_budget_pool_remaining_impressions'],
    'allocations per tick': ['thermostat_allocations_total', 'thermostat_allocation_ticks_total'],
    'new-content CTR': ['thermostat_new_content_ctr_ratio'],
    'checkpoint age and Redis errors': ['thermostat_checkpoint_age_seconds', 'thermostat_redis_errors_total'],
    'backend in use': ['thermostat_tfjs_backend_info'],
    build: ['thermostat_build_info'],
    'event-loop lag': ['nodejs_eventloop_lag_p99_seconds'],
    memory: ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes'],
  };
  for (const [what, names] of Object.entries(required)) {
    for (const n of names) assert.ok(used.has(n), `${what}: the dashboard does not query ${n}`);
  }
  const latency = dashboardQueries(loadDashboard())
    .map((q) => q.expr)
    .filter((e) => e.includes('thermostat_processing_latency_seconds_bucket'));
  for (const qtl of ['0.5', '0.99']) {
    assert.ok(
      latency.some((e) => e.startsWith(`histogram_quantile(${qtl},`) && /by \([^)]*\ble\b/.test(e)),
      `no p${Number(qtl) * 100} latency query aggregated by le`,
    );
  }
});

test("stock Node.js metrics are limited to this job's pods (their names are shared with every Node.js app)", () => {
  const problems = dashboardQueries(loadDashboard())
    .filter((q) => metricNamesInPromQL(q.expr).some((n) => !n.startsWith('thermostat_')))
    .filter((q) => !q.expr.includes('and on (namespace, pod) thermostat_build_info'))
    .map((q) => `${q.where}: ${q.expr}`);
  assert.deepEqual(problems, []);
});
