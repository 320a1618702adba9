import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createMetrics } from '../../../core/metrics.js';
import type { RecordSerde } from '../../../pipelines/task.js';
import { makeCollector, type OutputSink } from '../../../runtime/task-runner.js';

const serde = { encode: () => Buffer.from('x') } as unknown as RecordSerde;
const sink: OutputSink = { send: () => undefined, dlq: () => undefined, late: () => undefined };
const out = (topic: string) => ({ topic, schema: 'ContentEvent' as const, key: 'k', value: {} });

test('records produced are counted per stage and topic, exactly at every read of the counter', async () => {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const user = makeCollector(serde, sink, metrics, 'user');
  const content = makeCollector(serde, sink, metrics, 'content');
  const counts = async () =>
    Object.fromEntries(
      (await metrics.recordsOut.get()).values.map((v) => [`${v.labels.stage}/${v.labels.topic}`, v.value]),
    );

  for (let i = 0; i < 3; i++) user.send(out('events'));
  user.send(out('changelog'));
  content.send(out('events'));
  assert.deepEqual(await counts(), { 'user/events': 3, 'user/changelog': 1, 'content/events': 1 });

  user.send(out('events'));
  assert.deepEqual(await counts(), { 'user/events': 4, 'user/changelog': 1, 'content/events': 1 });
  assert.match(
    await metrics.register.metrics(),
    /thermostat_records_out_total\{topic="events",stage="user"\} 4/,
  );
});
