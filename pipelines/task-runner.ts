// Feeds one fetched batch of raw records to a task: decode (poison → DLQ, never a crash), load
// the batch's keys into the task's cache in one round trip, process, and move the resume position
// past every record of the batch. Shared by the in-memory driver and the Kafka runtime.
import { ThermostatError } from '../core/errors.js';
import { DLQ_HEADERS } from '../io/dlq.js';
import type { Metrics } from '../core/metrics.js';
import type { SchemaName } from '../schemas/types.js';
import type { OwnedTask } from './task-factory.js';
import type { InRecord, OutRecord } from './task.js';

export interface RawRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer | null;
  timestamp: number;
  /** Already decoded (in-process hand-over between stages): used instead of decoding `value`. */
  decoded?: unknown;
}

/** Bytes ↔ records on the wire (Confluent wire format + Avro in production). */
export interface RecordSerde {
  encode(schema: SchemaName, value: unknown): Buffer;
  /** Decodes and validates; throws ThermostatError with a reason code on bad input. */
  decode(topic: string, bytes: Buffer): unknown;
  /** Fetches writer schemas the batch needs (an HTTP registry) before the synchronous decodes. */
  prefetch?(values: Iterable<Buffer | null>): Promise<void>;
}

/** Where a task's outputs go. */
export interface OutputSink {
  send(record: OutRecord, bytes: Buffer): void;
  dlq(record: RawRecord, error: ThermostatError): void;
  late(record: RawRecord, reason: string): void;
}

/** Headers of a DLQ or late side-output record (io/dlq's public header names). */
export function sideOutputHeaders(
  r: RawRecord,
  reason: string,
  message: string,
  failedAt: number,
  field?: string,
): Record<string, string> {
  const h: Record<string, string> = {
    [DLQ_HEADERS.reason]: reason,
    [DLQ_HEADERS.message]: message,
    [DLQ_HEADERS.topic]: r.topic,
    [DLQ_HEADERS.partition]: String(r.partition),
    [DLQ_HEADERS.offset]: String(r.offset),
    [DLQ_HEADERS.failedAt]: String(failedAt),
  };
  if (field) h[DLQ_HEADERS.field] = field;
  return h;
}

export function asThermostatError(e: unknown, r: RawRecord): ThermostatError {
  if (e instanceof ThermostatError) return e;
  return new ThermostatError('INTERNAL', `unexpected decode failure: ${(e as Error)?.message ?? String(e)}`, {
    cause: e,
    topic: r.topic,
    partition: r.partition,
    offset: String(r.offset),
  });
}

export function makeCollector(
  serde: RecordSerde,
  sink: OutputSink,
  metrics: Metrics | undefined,
  stage: string,
) {
  return {
    send(record: OutRecord): void {
      sink.send(record, serde.encode(record.schema, record.value));
      metrics?.recordsOut.inc({ topic: record.topic, stage });
    },
    late(record: InRecord, reason: string): void {
      sink.late(
        {
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          key: record.key,
          value: record.raw ?? null,
          timestamp: record.timestamp,
          decoded: record.value,
        },
        reason,
      );
      metrics?.lateRecords.inc({ stage });
    },
  };
}

/** A record of one topic partition as fetched: a RawRecord without its (batch-wide) topic and partition. */
export type FetchedRecord = Omit<RawRecord, 'topic' | 'partition'>;

export async function runBatch(
  owned: OwnedTask,
  raw: readonly RawRecord[],
  serde: RecordSerde,
  sink: OutputSink,
  metrics?: Metrics,
): Promise<void> {
  if (raw.length === 0) return;
  await runFetched(owned, raw[0].topic, raw[0].partition, raw, serde, sink, metrics);
}

/**
 * runBatch for records fetched from one topic partition, without a per-record RawRecord copy (the
 * in-process transport passes its stored records as they are); a RawRecord is built only for the DLQ.
 */
export async function runFetched(
  owned: OwnedTask,
  topic: string,
  partition: number,
  raw: readonly FetchedRecord[],
  serde: RecordSerde,
  sink: OutputSink,
  metrics?: Metrics,
): Promise<void> {
  if (raw.length === 0) return;
  const { task } = owned;
  const stage = task.id.stage;
  const decoded: InRecord[] = [];
  // Writer schemas of new ids. Ids the registry does not know then fail per record (DLQ); a registry
  // that cannot be asked (down, refusing the credentials) fails the batch before anything ran: it
  // is retried, or ends the job, instead of sending good records to the DLQ as SCHEMA_UNKNOWN.
  if (serde.prefetch)
    await serde.prefetch(raw.map((r) => r.value)).catch((e: unknown) => {
      if (e instanceof ThermostatError && e.reason === 'DEPENDENCY') throw e;
    });
  for (const r of raw) {
    try {
      if (r.value === null)
        throw new ThermostatError('WIRE_FORMAT', 'record has no value (tombstone)', {
          topic,
          partition,
          offset: String(r.offset),
        });
      const value = r.decoded !== undefined ? r.decoded : serde.decode(topic, r.value);
      decoded.push({
        topic,
        partition,
        offset: r.offset,
        key: r.key,
        value,
        timestamp: r.timestamp,
        raw: r.value,
      });
    } catch (e) {
      const rec: RawRecord = {
        topic,
        partition,
        offset: r.offset,
        key: r.key,
        value: r.value,
        timestamp: r.timestamp,
      };
      const err = asThermostatError(e, rec);
      sink.dlq(rec, err);
      metrics?.dlqRecords.inc({ topic, reason: err.reason });
    }
  }
  metrics?.recordsIn.inc({ topic, stage }, raw.length);
  if (decoded.length > 0) {
    if (task.keysFor && owned.caches.length > 0) {
      const keys = task.keysFor(decoded);
      if (keys.length > 0) for (const c of owned.caches) await c.ensureLoaded(keys);
    }
    task.process(decoded, makeCollector(serde, sink, metrics, stage));
  }
  task.consumed(topic, partition, raw[raw.length - 1].offset + 1);
}
