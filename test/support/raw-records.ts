// Raw Kafka records for job-level tests: produce hand-made records (any key, partition, timestamp
// or size, as a foreign producer would) and read a topic back with its headers and coordinates.
import assert from 'node:assert/strict';
import rdkafka from '@confluentinc/kafka-javascript';
import { KafkaSink } from '../../io/kafka.js';

export interface RawInput {
  topic: string;
  key: string | null;
  value: Buffer | null;
  /** Explicit partition (a producer with another partitioner); default murmur2(key). */
  partition?: number;
  timestamp?: number;
}

/** Produces records in order (one producer), accepting records up to the broker's 1 MiB default. */
export async function produceRaw(brokers: string, records: readonly RawInput[]): Promise<void> {
  await produceScheduled(brokers, [{ atMs: 0, records }]);
}

/**
 * Produces slices of records at given times (ms after the start) through one producer, so each
 * partition keeps the order of the slices whatever the timing.
 */
export async function produceScheduled(
  brokers: string,
  slices: readonly { atMs: number; records: readonly RawInput[] }[],
): Promise<void> {
  const sink = new KafkaSink({
    brokers,
    clientId: 'it-raw-input',
    rdkafka: { 'message.max.bytes': 2_000_000, 'compression.type': 'none' },
  });
  await sink.connect();
  try {
    const sends: Promise<unknown>[] = [];
    const start = Date.now();
    for (const slice of [...slices].sort((a, b) => a.atMs - b.atMs)) {
      const wait = start + slice.atMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      for (const r of slice.records)
        sends.push(sink.send(r.topic, r.key, r.value, { partition: r.partition, timestamp: r.timestamp }));
    }
    await Promise.all(sends);
    await sink.flush();
  } finally {
    await sink.disconnect();
  }
}

export interface ReadRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer | null;
  timestamp: number;
  headers: Record<string, string>;
}

/** Every record of `topic` (all its partitions, up to the end offsets read first), with headers. */
export async function readRaw(
  brokers: string,
  topic: string,
  partitions: number,
  group: string,
): Promise<ReadRecord[]> {
  const consumer = new rdkafka.KafkaConsumer(
    {
      'bootstrap.servers': brokers,
      'group.id': group,
      'enable.auto.commit': false,
      'fetch.message.max.bytes': 2_000_000,
      log_level: 3,
    } as never,
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((res, rej) => consumer.connect({ timeout: 30_000 }, (e) => (e ? rej(e) : res())));
  const out: ReadRecord[] = [];
  try {
    const highs: number[] = [];
    for (let p = 0; p < partitions; p++)
      highs.push(
        await new Promise<number>((res, rej) =>
          consumer.queryWatermarkOffsets(topic, p, 10_000, (e, w) => (e ? rej(e) : res(w.highOffset))),
        ),
      );
    const next = highs.map(() => 0);
    consumer.assign(highs.map((_h, partition) => ({ topic, partition, offset: 0 })));
    const deadline = Date.now() + 120_000;
    while (next.some((n, p) => n < highs[p])) {
      assert.ok(Date.now() < deadline, `reading ${topic} timed out`);
      const msgs = await new Promise<rdkafka.Message[]>((res, rej) =>
        consumer.consume(10_000, (e, m) => (e ? rej(e) : res(m))),
      );
      for (const m of msgs) {
        next[m.partition] = m.offset + 1;
        const headers: Record<string, string> = {};
        for (const h of m.headers ?? []) for (const [k, v] of Object.entries(h)) headers[k] = v.toString();
        out.push({
          partition: m.partition,
          offset: m.offset,
          key: m.key === null || m.key === undefined ? null : m.key.toString(),
          value: m.value,
          timestamp: m.timestamp ?? 0,
          headers,
        });
      }
    }
  } finally {
    await new Promise<void>((res) => consumer.disconnect(() => res()));
  }
  return out;
}
