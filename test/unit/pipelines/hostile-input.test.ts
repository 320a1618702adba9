// Hostile input in the in-memory graph (the same tasks as on Kafka): the event-time bound (DLQ or
// clamp), partition mismatches (re-route or DLQ), oversized records, and the content stage's late
// output carrying the late record itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { loadRuntimeConfig } from '../../../core/config.js';
import { createMetrics } from '../../../core/metrics.js';
import { DLQ_HEADERS } from '../../../io/dlq.js';
import { assertOutputsFit } from '../../../core/config.js';
import { fastPartition } from '../../../pipelines/topology.js';
import type { ContentEvent } from '../../../schemas/types.js';
import { createDriver, interaction, publication, testSerde } from '../../support/driver.js';

const MIN = 60_000;
const NOW = 1_800_000_000_000;

test('an event time beyond maxAheadMs of processing time goes to the DLQ and moves no watermark', async () => {
  const d = await createDriver({ partitions: 1, tickMs: MIN, maxAheadMs: 60_000 });
  await d.pipeInput('content-published', [publication({ content_id: 'c1', published_at: NOW - MIN })]);
  await d.pipeInput(
    'user-interactions',
    [
      interaction({ user_id: 'u1', content_id: 'c1', event_time: NOW + 59_000 }), // within the bound: accepted
      interaction({ user_id: 'u1', content_id: 'c1', event_time: NOW + 61_000_000 }), // 17 h ahead
      interaction({ user_id: 'u1', content_id: 'c1', event_time: NOW + 60_000 }),
    ],
    { timestamp: NOW },
  );
  const dlq = d.deadLetters('user-interactions');
  assert.deepEqual(
    dlq.map((r) => r.reason),
    ['EVENT_TIME_AHEAD'],
  );
  assert.match(dlq[0].message, /maxAheadMs/);
  await d.advanceEventTime(NOW + 2 * MIN);
  assert.equal(d.lateRecords().length, 0, 'the record after it is not late');
  assert.equal(d.contentState('c1')?.exposure, 2);
});

test('clamp policy: the record counts at the bound instead', async () => {
  const d = await createDriver({ partitions: 1, tickMs: MIN, maxAheadMs: 60_000, aheadPolicy: 'clamp' });
  await d.pipeInput('content-published', [publication({ content_id: 'c1', published_at: NOW - MIN })]);
  await d.pipeInput(
    'user-interactions',
    [interaction({ user_id: 'u1', content_id: 'c1', event_time: NOW + 61_000_000 })],
    { timestamp: NOW },
  );
  assert.deepEqual(d.deadLetters('user-interactions'), []);
  assert.equal(d.userState('u1')?.updated_at, NOW + 60_000, 'clamped to timestamp + maxAheadMs');
});

test('without a timestamp nothing is bounded (a one-year jump in replayed history is not poison)', async () => {
  const d = await createDriver({ partitions: 1, tickMs: MIN, maxAheadMs: 60_000 });
  await d.pipeInput('user-interactions', [
    interaction({ user_id: 'u1', content_id: 'c1', event_time: 1000 }),
    interaction({ user_id: 'u1', content_id: 'c1', event_time: 365 * 86_400_000 }),
  ]);
  assert.deepEqual(d.deadLetters('user-interactions'), []);
  assert.equal(d.userState('u1')?.version, 1);
});

test('an interaction on a partition its user does not hash to is re-routed to the owner (default) or refused (dlq)', async () => {
  const user = 'u1';
  const owner = fastPartition(user, 3);
  for (const policy of ['reroute', 'dlq'] as const) {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    const d = await createDriver({ partitions: 3, tickMs: MIN, partitionMismatch: policy, metrics });
    await d.pipeInput(
      'user-interactions',
      [1, 2, 3].map((i) => interaction({ user_id: user, content_id: 'c1', event_time: i * 1000 })),
      { partition: (owner + 1) % 3 },
    );
    const misrouted = (await metrics.misroutedRecords.get()).values;
    assert.deepEqual(
      misrouted.map((v) => [v.labels.action, v.value]),
      [[policy, 3]],
    );
    if (policy === 'reroute') {
      assert.equal(d.userState(user)?.version, 2, 'three updates, in order, at the owner');
      assert.deepEqual(d.deadLetters('user-interactions'), []);
    } else {
      assert.equal(d.userState(user), undefined);
      assert.deepEqual(
        d.deadLetters('user-interactions').map((r) => r.reason),
        ['PARTITION_MISMATCH', 'PARTITION_MISMATCH', 'PARTITION_MISMATCH'],
      );
    }
  }
});

test('a record above maxRecordBytes goes to the DLQ with a truncated payload and its size', async () => {
  const d = await createDriver({ partitions: 1, tickMs: MIN, maxRecordBytes: 2048 });
  const big = interaction({ user_id: 'u1', content_id: 'c1', event_time: 1000, event_id: 'x'.repeat(5000) });
  await d.pipeInput('user-interactions', [big]);
  const bytes = testSerde().encode('UserInteraction', big);
  const dlq = d.broker.all('user-interactions.dlq');
  assert.equal(dlq.length, 1);
  assert.equal(dlq[0].headers?.[DLQ_HEADERS.reason], 'RECORD_TOO_LARGE');
  assert.equal(dlq[0].headers?.[DLQ_HEADERS.size], String(bytes.length));
  assert.equal(dlq[0].headers?.[DLQ_HEADERS.truncated], 'true');
  assert.deepEqual(dlq[0].value, bytes.subarray(0, 2048));
});

test('the content stage writes each late record itself to the late output, not the first of its batch', async () => {
  const d = await createDriver({ partitions: 2, tickMs: MIN, idleTimeoutMs: 1000 });
  const onOne = (u: string) => fastPartition(u, 2) === 1;
  const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
  const early = users.filter((u) => !onOne(u));
  const late = users.filter(onOne).slice(0, 3);
  await d.pipeInput('content-published', [publication({ content_id: 'c1' })]);
  // Partition 0 runs 5 minutes ahead while partition 1 has nothing; partition 1 then goes idle.
  await d.pipeInput(
    'user-interactions',
    early.map((u, i) => interaction({ user_id: u, content_id: 'c1', event_time: (i + 1) * 10_000 })),
  );
  await d.advanceTime(1000);
  await d.pipeInput(
    'user-interactions',
    late.map((u, i) =>
      interaction({ user_id: u, content_id: 'c1', event_time: 1000 + i, event_id: `late-${i}` }),
    ),
  );
  const out = d.lateRecords().filter((r) => r.message.startsWith('content stage'));
  const events = out.map(
    (r) => (testSerde().decode(d.names.contentEvents, r.value) as ContentEvent).interaction,
  );
  assert.deepEqual(
    events.map((e) => e?.event_id),
    ['late-0', 'late-1', 'late-2'],
  );
});

test('a producer limit below kafka.maxRecordBytes (plus room for headers) is refused at start, naming the key', () => {
  assert.doesNotThrow(() => assertOutputsFit(loadRuntimeConfig({ env: {} })));
  const env = { THERMOSTAT_KAFKA_RDKAFKA: '{"message.max.bytes": 300000}' };
  assert.throws(() => loadRuntimeConfig({ env }), /kafka\.maxRecordBytes.*message\.max\.bytes/);
});
