import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Serde } from '../../../io/serde.js';
import { findIssue } from '../../../io/validate.js';
import { DLQ_HEADERS } from '../../../io/dlq.js';
import type { ThermostatError } from '../../../core/errors.js';
import {
  decodeFetched,
  sideOutputs,
  type FetchedRecord,
  type RawRecord,
} from '../../../runtime/task-runner.js';
import { topologyNames } from '../../../pipelines/topology.js';
import { wireSerde } from '../../../pipelines/wire-serde.js';
import { createMetrics } from '../../../core/metrics.js';
import { startOpsServer } from '../../../io/http.js';
import { SampleTraffic, CORRUPTIONS } from '../../../io/sample-traffic.js';
import type { BusinessObjectives, ContentPublished, UserInteraction } from '../../../schemas/types.js';

const serde = Serde.local();
const ui: UserInteraction = {
  event_id: 'e1',
  user_id: 'u1',
  content_id: 'c1',
  category: 'tech',
  event_time: 1000,
  click: true,
  dwell_ms: 10,
  completion: 0.5,
  shared: false,
  is_new_content: false,
  heated: false,
  allocation_id: null,
  user_registered_at: null,
};
const cp: ContentPublished = {
  content_id: 'c1',
  creator_id: 'cr1',
  category: 'tech',
  quality_score: 0.5,
  published_at: 1,
  creator_followers: null,
};
const bo: BusinessObjectives = {
  objective_id: 'o',
  effective_from: 1,
  gmv_target: 1,
  retention_target: 0.5,
  diversity_target: 0.5,
  heating_budget_pool: 10,
  heating_cap_ratio: 0.2,
  weights: null,
};

test('validation names the offending field', () => {
  assert.equal(findIssue({ schema: 'UserInteraction', value: ui }), null);
  assert.equal(
    findIssue({ schema: 'UserInteraction', value: { ...ui, completion: 7 } })?.field,
    'completion',
  );
  assert.equal(
    findIssue({ schema: 'UserInteraction', value: { ...ui, completion: -0.01 } })?.field,
    'completion',
  );
  assert.equal(
    findIssue({ schema: 'UserInteraction', value: { ...ui, completion: NaN } })?.field,
    'completion',
  );
  assert.equal(findIssue({ schema: 'UserInteraction', value: { ...ui, dwell_ms: -1 } })?.field, 'dwell_ms');
  assert.equal(findIssue({ schema: 'UserInteraction', value: { ...ui, user_id: '' } })?.field, 'user_id');
  assert.equal(
    findIssue({ schema: 'UserInteraction', value: { ...ui, event_time: Infinity } })?.field,
    'event_time',
  );
  assert.equal(findIssue({ schema: 'ContentPublished', value: cp }), null);
  assert.equal(
    findIssue({ schema: 'ContentPublished', value: { ...cp, quality_score: 1.5 } })?.field,
    'quality_score',
  );
  assert.equal(findIssue({ schema: 'BusinessObjectives', value: bo }), null);
  assert.equal(findIssue({ schema: 'BusinessObjectives', value: { ...bo, heating_cap_ratio: 1 } }), null);
  assert.equal(
    findIssue({ schema: 'BusinessObjectives', value: { ...bo, heating_cap_ratio: 0 } })?.field,
    'heating_cap_ratio',
  );
  assert.equal(
    findIssue({ schema: 'BusinessObjectives', value: { ...bo, heating_cap_ratio: 1.2 } })?.field,
    'heating_cap_ratio',
  );
  assert.equal(
    findIssue({
      schema: 'BusinessObjectives',
      value: { ...bo, weights: { user_satisfaction: -1, platform_revenue: 0, long_term: 0 } },
    })?.field,
    'weights.user_satisfaction',
  );
});

const rec = (value: Buffer | null, offset: number): FetchedRecord => ({
  offset,
  key: 'u1',
  value,
  timestamp: 0,
  headers: {},
});

/** The job's decode step on partition 3 of user-interactions: good records, and the DLQ's (record, error) pairs. */
function decodeAsTheJob(records: FetchedRecord[]): {
  good: ReturnType<typeof decodeFetched>;
  bad: { record: RawRecord; error: ThermostatError }[];
} {
  const bad: { record: RawRecord; error: ThermostatError }[] = [];
  const good = decodeFetched(jobSerde, 'user-interactions', 3, records, Infinity, (record, error) =>
    bad.push({ record, error }),
  );
  return { good, bad };
}
const jobSerde = wireSerde(topologyNames('thermostat'), serde);

test('the job keeps good records flowing and reports each bad one with its reason', () => {
  const good = serde.encode('UserInteraction', ui);
  const records = [
    rec(good, 0),
    rec(Buffer.from([1, 0, 0, 0, 1, 2]), 1),
    rec(serde.encode('UserInteraction', { ...ui, completion: 7 }), 2),
    rec(null, 3),
    rec(serde.encode('ContentPublished', cp), 4),
    rec(good, 5),
  ];
  const { good: ok, bad } = decodeAsTheJob(records);
  assert.deepEqual(
    ok.map((g) => g.offset),
    [0, 5],
  );
  assert.equal((ok[1].value as UserInteraction).event_id, 'e1');
  assert.deepEqual(
    bad.map((b) => [b.record.offset, b.error.reason]),
    [
      [1, 'WIRE_FORMAT'],
      [2, 'VALIDATION'],
      [3, 'WIRE_FORMAT'],
      [4, 'SCHEMA_INCOMPATIBLE'],
    ],
  );
});

test('a DLQ record carries the original bytes with reason and source headers', () => {
  const sent: { topic: string; key: string | null; value: Buffer; headers: Record<string, string> }[] = [];
  const outputs = sideOutputs({
    lateTopic: 'late',
    now: () => 1234,
    write: (topic, key, value, headers) => sent.push({ topic, key, value, headers }),
  });
  const bad = serde.encode('UserInteraction', { ...ui, dwell_ms: -5 });
  for (const b of decodeAsTheJob([rec(bad, 42)]).bad) outputs.dlq(b.record, b.error);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].topic, 'user-interactions.dlq');
  assert.equal(sent[0].key, 'u1');
  assert.deepEqual(sent[0].value, bad);
  assert.equal(sent[0].headers[DLQ_HEADERS.reason], 'VALIDATION');
  assert.equal(sent[0].headers[DLQ_HEADERS.field], 'dwell_ms');
  assert.equal(sent[0].headers[DLQ_HEADERS.topic], 'user-interactions');
  assert.equal(sent[0].headers[DLQ_HEADERS.partition], '3');
  assert.equal(sent[0].headers[DLQ_HEADERS.offset], '42');
  assert.equal(sent[0].headers[DLQ_HEADERS.failedAt], '1234');
  assert.match(sent[0].headers[DLQ_HEADERS.message], /dwell_ms/);
});

test('sample traffic is deterministic and every corruption kind is caught with its reason', () => {
  const a = new SampleTraffic(serde, { seed: 7, users: 50, contents: 20, startTime: 1_000 });
  const b = new SampleTraffic(serde, { seed: 7, users: 50, contents: 20, startTime: 1_000 });
  for (let i = 0; i < 50; i++) assert.deepEqual(a.next(0.2), b.next(0.2));
  const t = new SampleTraffic(serde, { seed: 1, users: 5, contents: 5, startTime: 0 });
  const want = {
    'wrong-magic': 'WIRE_FORMAT',
    'unknown-schema': 'SCHEMA_UNKNOWN',
    truncated: 'AVRO_DECODE',
    'completion-out-of-range': 'VALIDATION',
    'negative-dwell': 'VALIDATION',
  };
  const records = CORRUPTIONS.map((k, i) => rec(t.corruptInteraction(k).value, i));
  const { good, bad } = decodeAsTheJob(records);
  assert.equal(good.length, 0);
  assert.deepEqual(
    bad.map((x) => x.error.reason),
    CORRUPTIONS.map((k) => want[k]),
  );
});

test('ops server: /healthz 200, /readyz follows the readiness callback, /metrics serves the registry', async () => {
  const metrics = createMetrics(undefined, { defaultMetrics: false });
  metrics.dlqRecords.inc({ topic: 't', reason: 'WIRE_FORMAT' }, 2);
  let readiness = { ready: false, reason: 'restoring state' } as {
    ready: boolean;
    reason?: string;
    degraded?: boolean;
  };
  const ops = await startOpsServer({
    port: 0,
    host: '127.0.0.1',
    register: metrics.register,
    readiness: () => readiness,
  });
  try {
    assert.equal((await fetch(`${ops.url}/healthz`)).status, 200);
    let r = await fetch(`${ops.url}/readyz`);
    assert.equal(r.status, 503);
    assert.equal(await r.text(), 'not ready: restoring state\n');
    readiness = { ready: true, degraded: true, reason: 'redis down' };
    r = await fetch(`${ops.url}/readyz`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'ready (degraded: redis down)\n');
    const body = await (await fetch(`${ops.url}/metrics`)).text();
    assert.match(body, /thermostat_dlq_records_total\{topic="t",reason="WIRE_FORMAT"\} 2/);
    assert.equal((await fetch(`${ops.url}/nope`)).status, 404);
  } finally {
    await ops.close();
  }
});
