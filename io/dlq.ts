// Poison records never stop the job: decodeBatch splits a batch into decoded records and failures,
// and DlqWriter sends each failure to `<topic>.dlq` with the original key and value bytes plus
// headers saying why and where it came from. Header names are a public contract. A payload larger
// than the bound (kafka.maxRecordBytes) is truncated so the DLQ record always fits a producer's
// message size limit; its headers then carry the original size.
import { INPUT_BOUNDS } from '../core/config.js';
import { ThermostatError, isThermostatError, type ErrorReason } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import type { Clock } from '../core/clock.js';
import type { SchemaName } from '../schemas/types.js';
import type { SourceRecord } from './kafka.js';
import type { Decoded, Serde } from './serde.js';
import { dlqTopic } from './topics.js';
import { validate } from './validate.js';

export const DLQ_HEADERS = {
  reason: 'thermostat.dlq.reason',
  message: 'thermostat.dlq.message',
  topic: 'thermostat.dlq.topic',
  partition: 'thermostat.dlq.partition',
  offset: 'thermostat.dlq.offset',
  /** Offending field (VALIDATION only). */
  field: 'thermostat.dlq.field',
  /** Failure time, epoch milliseconds as a decimal string. */
  failedAt: 'thermostat.dlq.failed_at',
  /** Size of the original value in bytes (decimal). */
  size: 'thermostat.dlq.size',
  /** `true` when the payload (or the key) is a truncated prefix of the original. */
  truncated: 'thermostat.dlq.truncated',
} as const;

/** Longest key kept on a side-output record (characters); longer keys are cut. */
const MAX_SIDE_OUTPUT_KEY_CHARS = 1024;

/** Where a side-output record came from, and its original key and value. */
export interface SideOutputSource {
  topic: string;
  partition: number;
  offset: number | string;
  key: string | null;
  value: Buffer | null;
}

/**
 * A DLQ or late side-output record: the original key and value, cut to fit (`maxPayloadBytes`,
 * default kafka.maxRecordBytes), and headers naming the reason, the original size and the
 * source coordinates.
 */
export function sideOutputRecord(
  src: SideOutputSource,
  reason: string,
  message: string,
  failedAt: number,
  opts: { field?: string; maxPayloadBytes?: number } = {},
): { key: string | null; value: Buffer; headers: Record<string, string> } {
  const max = opts.maxPayloadBytes ?? INPUT_BOUNDS.maxRecordBytes;
  const original = src.value ?? Buffer.alloc(0);
  const value = original.length > max ? original.subarray(0, max) : original;
  const key =
    src.key !== null && src.key.length > MAX_SIDE_OUTPUT_KEY_CHARS
      ? src.key.slice(0, MAX_SIDE_OUTPUT_KEY_CHARS)
      : src.key;
  const headers: Record<string, string> = {
    [DLQ_HEADERS.reason]: reason,
    [DLQ_HEADERS.message]: message.slice(0, 1000),
    [DLQ_HEADERS.topic]: src.topic,
    [DLQ_HEADERS.partition]: String(src.partition),
    [DLQ_HEADERS.offset]: String(src.offset),
    [DLQ_HEADERS.failedAt]: String(failedAt),
    [DLQ_HEADERS.size]: String(original.length),
  };
  if (opts.field) headers[DLQ_HEADERS.field] = opts.field.slice(0, 200);
  if (value !== original || key !== src.key) headers[DLQ_HEADERS.truncated] = 'true';
  return { key, value, headers };
}

export type GoodRecord = Decoded & { record: SourceRecord };
export interface BadRecord {
  record: SourceRecord;
  error: ThermostatError;
}

export interface DecodeBatchOptions {
  /** Schema each topic must carry; another schema on that topic is SCHEMA_INCOMPATIBLE. */
  expected?: Record<string, SchemaName>;
  /** Range validation (default true). */
  validate?: boolean;
}

/** Decodes (and validates) a batch; never throws for a bad record. Order within each list is kept. */
export function decodeBatch(
  records: readonly SourceRecord[],
  serde: Serde,
  opts: DecodeBatchOptions = {},
): { good: GoodRecord[]; bad: BadRecord[] } {
  const good: GoodRecord[] = [];
  const bad: BadRecord[] = [];
  const check = opts.validate ?? true;
  for (const record of records) {
    try {
      if (record.value === null)
        throw new ThermostatError('WIRE_FORMAT', 'null value (tombstone) on an input topic');
      const d = serde.decode(record.value);
      const want = opts.expected?.[record.topic];
      if (want !== undefined && d.schema !== want)
        throw new ThermostatError(
          'SCHEMA_INCOMPATIBLE',
          `topic ${record.topic} carries ${want}, got ${d.schema}`,
        );
      if (check) validate(d);
      good.push({ ...d, record } as GoodRecord);
    } catch (e) {
      const err = isThermostatError(e)
        ? e
        : new ThermostatError('INTERNAL', String((e as Error)?.message ?? e), { cause: e });
      bad.push({ record, error: err });
    }
  }
  return { good, bad };
}

/** A DLQ record of a bad record: its (possibly truncated) value and headers saying why and where from. */
export function dlqRecord(
  bad: BadRecord,
  failedAt: number,
): { value: Buffer; headers: Record<string, string> } {
  const { record, error } = bad;
  const r = sideOutputRecord({ ...record, key: null }, error.reason, error.message, failedAt, {
    field: error.reason === 'VALIDATION' ? error.key : undefined,
  });
  return { value: r.value, headers: r.headers };
}

/** What the DLQ writer needs from a producer (KafkaSink fits; tests can pass a fake). */
export interface DlqProducer {
  send(
    topic: string,
    key: Buffer | null,
    value: Buffer | null,
    opts: { headers: Record<string, string> },
  ): Promise<unknown>;
}

export class DlqWriter {
  constructor(
    private readonly producer: DlqProducer,
    private readonly clock: Clock,
    private readonly metrics?: Pick<Metrics, 'dlqRecords'>,
  ) {}

  /** Sends every bad record to its topic's DLQ; resolves once all are acknowledged. */
  async write(bad: readonly BadRecord[]): Promise<void> {
    if (bad.length === 0) return;
    const now = this.clock.now();
    await Promise.all(
      bad.map((b) => {
        this.metrics?.dlqRecords.inc({ topic: b.record.topic, reason: b.error.reason as ErrorReason });
        const { value, headers } = dlqRecord(b, now);
        return this.producer.send(dlqTopic(b.record.topic), b.record.key, value, { headers });
      }),
    );
  }
}
