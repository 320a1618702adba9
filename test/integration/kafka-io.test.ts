import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureStack } from '../support/stack.js';
import { consumeN, uniqueName } from '../support/kafka.js';
import { KafkaSink, KafkaSource, tpKey, type DeliveryReport, type SourceRecord } from '../../io/kafka.js';
import { dlqTopic, ensureTopics } from '../../io/topics.js';
import { Serde } from '../../io/serde.js';
import { DLQ_HEADERS } from '../../io/dlq.js';
import type { ThermostatError } from '../../core/errors.js';
import { decodeFetched, sideOutputs, type RawRecord } from '../../runtime/task-runner.js';
import type { InRecord } from '../../pipelines/task.js';
import { topologyNames } from '../../pipelines/topology.js';
import { wireSerde } from '../../pipelines/wire-serde.js';
import { SampleTraffic, CORRUPTIONS, type Corruption } from '../../io/sample-traffic.js';
import { partitionForKey } from '../../core/hash.js';
import type { UserInteraction } from '../../schemas/types.js';

const serde = Serde.local();
let brokers: string;
let sink: KafkaSink;

before(async () => {
  brokers = ensureStack().brokers;
  sink = new KafkaSink({ brokers, clientId: 'it-sink' });
  await sink.connect();
});
after(async () => {
  await sink.disconnect();
});

const plain = (v: unknown) => JSON.parse(JSON.stringify(v));

/** The job's decode step over consumed records, one partition at a time as the job runs it. */
function decodeAsTheJob(
  records: readonly SourceRecord[],
  dlq: (record: RawRecord, error: ThermostatError) => void,
): InRecord[] {
  const jobSerde = wireSerde(topologyNames('thermostat'), serde);
  const byPartition = new Map<string, SourceRecord[]>();
  for (const r of records) {
    const k = tpKey(r.topic, r.partition);
    byPartition.set(k, [...(byPartition.get(k) ?? []), r]);
  }
  return [...byPartition.values()].flatMap((rs) =>
    decodeFetched(
      jobSerde,
      rs[0].topic,
      rs[0].partition,
      rs.map((r) => ({
        offset: r.offset,
        key: r.key?.toString('utf8') ?? null,
        value: r.value,
        timestamp: r.timestamp,
      })),
      Infinity,
      dlq,
    ),
  );
}

test('10,000 Avro records produced are consumed and decoded in full; partitions follow murmur2', async () => {
  const topic = uniqueName('full');
  const partitions = 6;
  await ensureTopics([{ name: topic, partitions }], { brokers });
  // Idempotent: a second call with the same spec passes, a different partition count fails.
  await ensureTopics([{ name: topic, partitions }], { brokers });
  await assert.rejects(
    ensureTopics([{ name: topic, partitions: 3 }], { brokers }),
    /has 6 partitions, expected 3/,
  );

  const N = 10_000;
  const traffic = new SampleTraffic(serde, {
    seed: 11,
    users: 997,
    contents: 300,
    startTime: 1_700_000_000_000,
  });
  const sent = new Map<string, UserInteraction>();
  const reports: Promise<DeliveryReport>[] = [];
  for (let i = 0; i < N; i++) {
    const v = traffic.nextInteraction();
    sent.set(v.event_id, v);
    reports.push(sink.send(topic, v.user_id, serde.encode('UserInteraction', v)));
  }
  const delivered = await Promise.all(reports);
  const values = [...sent.values()];
  delivered.forEach((r, i) =>
    assert.equal(
      r.partition,
      partitionForKey(values[i].user_id, partitions),
      `record ${i} (key ${values[i].user_id})`,
    ),
  );

  const eofs = new Set<string>();
  const source = new KafkaSource({
    brokers,
    groupId: uniqueName('full-group'),
    topics: [topic],
    onEof: (tp) => eofs.add(tpKey(tp.topic, tp.partition)),
  });
  await source.connect();
  try {
    const records = await consumeN(source, N, 40_000);
    assert.equal(records.length, N);
    let bad = 0;
    const good = decodeAsTheJob(records, () => bad++);
    assert.equal(bad, 0);
    const seen = new Set<string>();
    for (const g of good) {
      const v = g.value as UserInteraction;
      assert.ok(!seen.has(v.event_id), `duplicate ${v.event_id}`);
      seen.add(v.event_id);
      assert.deepStrictEqual(plain(v), plain(sent.get(v.event_id)));
      assert.equal(g.key, v.user_id);
    }
    assert.equal(seen.size, N);
    // Nothing more arrives, every partition reports end-of-partition, and lag is zero.
    assert.equal((await source.poll(100, 500)).length, 0);
    assert.equal(eofs.size, partitions);
    const lag = source.lag();
    assert.equal(
      [...lag.values()].reduce((a, b) => a + b, 0),
      0,
    );
    // Manual commit of the next offsets is acknowledged and visible as the group's committed offsets.
    const positions = new Map<number, number>();
    for (const r of records)
      positions.set(r.partition, Math.max(positions.get(r.partition) ?? 0, r.offset + 1));
    const offsets = [...positions].map(([partition, offset]) => ({ topic, partition, offset }));
    await source.commit(offsets);
    const committed = await source.committed(
      offsets.map(({ topic: t, partition }) => ({ topic: t, partition })),
    );
    assert.deepEqual(
      committed.map((c) => [c.partition, c.offset]).sort((a, b) => a[0] - b[0]),
      offsets.map((o) => [o.partition, o.offset]).sort((a, b) => a[0] - b[0]),
    );
  } finally {
    await source.disconnect();
  }
});

test('a mixed stream delivers every good record and sends every corrupt one to <topic>.dlq with its reason', async () => {
  const topic = uniqueName('mixed');
  await ensureTopics(
    [
      { name: topic, partitions: 3 },
      { name: dlqTopic(topic), partitions: 1 },
    ],
    { brokers },
  );
  const traffic = new SampleTraffic(serde, {
    seed: 5,
    users: 40,
    contents: 30,
    startTime: 1_700_000_000_000,
  });
  const expectReason: Record<Corruption, string> = {
    'wrong-magic': 'WIRE_FORMAT',
    'unknown-schema': 'SCHEMA_UNKNOWN',
    truncated: 'AVRO_DECODE',
    'completion-out-of-range': 'VALIDATION',
    'negative-dwell': 'VALIDATION',
  };

  const goodIds = new Set<string>();
  const corrupt = new Map<string, { kind: Corruption; value: Buffer; key: string }>(); // by partition:offset
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 500; i++) {
    const kind = i % 10 === 3 ? CORRUPTIONS[((i / 10) % CORRUPTIONS.length) | 0] : undefined;
    const r = kind ? traffic.corruptInteraction(kind) : traffic.interactionRecord();
    if (!kind) goodIds.add((serde.decode(r.value).value as UserInteraction).event_id);
    sends.push(
      sink.send(topic, r.key, r.value).then((report) => {
        if (kind) corrupt.set(`${report.partition}:${report.offset}`, { kind, value: r.value, key: r.key! });
      }),
    );
  }
  await Promise.all(sends);
  assert.equal(corrupt.size, 50);

  const dlqSends: Promise<DeliveryReport>[] = [];
  const outputs = sideOutputs({
    lateTopic: uniqueName('late'),
    now: () => 42,
    write: (t, key, value, headers) => void dlqSends.push(sink.send(t, key, value, { headers })),
  });
  let counted = 0;
  const source = new KafkaSource({ brokers, groupId: uniqueName('mixed-group'), topics: [topic] });
  await source.connect();
  const delivered = new Set<string>();
  try {
    const records = await consumeN(source, 500, 30_000);
    assert.equal(records.length, 500);
    const good = decodeAsTheJob(records, (record, error) => {
      counted++;
      outputs.dlq(record, error);
    });
    for (const g of good) delivered.add((g.value as UserInteraction).event_id);
    await Promise.all(dlqSends);
  } finally {
    await source.disconnect();
  }
  assert.deepEqual([...delivered].sort(), [...goodIds].sort());

  const dlqSource = new KafkaSource({ brokers, groupId: uniqueName('dlq-group'), topics: [dlqTopic(topic)] });
  await dlqSource.connect();
  try {
    const dead = await consumeN(dlqSource, 50, 30_000);
    assert.equal(dead.length, 50);
    for (const d of dead) {
      const h = (k: string) => d.headers[k]?.toString();
      assert.equal(h(DLQ_HEADERS.topic), topic);
      const src = corrupt.get(`${h(DLQ_HEADERS.partition)}:${h(DLQ_HEADERS.offset)}`);
      assert.ok(
        src,
        `DLQ record points at an unknown source ${h(DLQ_HEADERS.partition)}:${h(DLQ_HEADERS.offset)}`,
      );
      assert.equal(h(DLQ_HEADERS.reason), expectReason[src.kind]);
      assert.equal(h(DLQ_HEADERS.failedAt), '42');
      assert.deepEqual(d.value, src.value, 'original bytes');
      assert.equal(d.key?.toString(), src.key, 'original key');
      if (src.kind === 'completion-out-of-range') assert.equal(h(DLQ_HEADERS.field), 'completion');
      if (src.kind === 'negative-dwell') assert.equal(h(DLQ_HEADERS.field), 'dwell_ms');
    }
  } finally {
    await dlqSource.disconnect();
  }
  assert.equal(counted, 50);
});

test('rebalance hooks set start offsets and see revocation; pause/resume and seek steer fetching', async () => {
  const topic = uniqueName('hooks');
  await ensureTopics([{ name: topic, partitions: 2 }], { brokers });
  const byPartition: string[][] = [[], []];
  await Promise.all(
    Array.from({ length: 100 }, (_, i) => {
      const partition = i % 2;
      return sink.send(topic, `k${i}`, Buffer.from(`v${i}`), { partition }).then(() => {});
    }),
  );
  // Offsets within a partition follow send order per partition.
  for (let i = 0; i < 100; i++) byPartition[i % 2].push(`v${i}`);

  const revoked: string[] = [];
  const source = new KafkaSource({
    brokers,
    groupId: uniqueName('hooks-group'),
    topics: [topic],
    onAssign: async () => new Map([[tpKey(topic, 0), 40]]),
    onRevoke: async (tps) => void revoked.push(...tps.map((t) => tpKey(t.topic, t.partition)).sort()),
  });
  await source.connect();
  try {
    // Wait for the assignment, then pause partition 1 before reading it.
    const first = await source.poll(1, 5000);
    assert.equal(source.assignment().length, 2);
    source.pause([{ topic, partition: 1 }]);
    const got = [...first, ...(await consumeN(source, 200, 3000))];
    const p0 = got.filter((r) => r.partition === 0);
    const p1 = got.filter((r) => r.partition === 1);
    assert.equal(p0[0].offset, 40, 'partition 0 starts at the offset returned by onAssign');
    assert.deepEqual(
      p0.map((r) => r.value?.toString()),
      byPartition[0].slice(40),
    );
    // Records the client had already fetched for partition 1 when it was paused may still come
    // (more of them on a loaded box); a pause that did not stop fetching delivers all 50 in 3 s.
    assert.ok(p1.length < byPartition[1].length, `a paused partition stops delivering (got ${p1.length})`);

    source.resume([{ topic, partition: 1 }]);
    const rest = await consumeN(source, 50 - p1.length, 10_000);
    assert.deepEqual(
      [...p1, ...rest].map((r) => r.value?.toString()),
      byPartition[1],
    );

    await source.seek({ topic, partition: 0 }, 10);
    const again = await consumeN(source, 40, 10_000);
    assert.deepEqual(
      again.map((r) => r.value?.toString()),
      byPartition[0].slice(10, 50),
    );
  } finally {
    await source.disconnect();
  }
  assert.deepEqual(revoked, [tpKey(topic, 0), tpKey(topic, 1)]);
});
