// Poison records never stop the job: decodeBatch splits a batch into decoded records and failures,
// and DlqWriter sends each failure to `<topic>.dlq` with the ORIGINAL key and value bytes plus
// headers saying why and where it came from. Header names are a public contract.
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
} as const;

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

/** Headers of a DLQ record: why it failed and where it came from. */
export function dlqHeaders(bad: BadRecord, failedAt: number): Record<string, string> {
  const { record, error } = bad;
  const h: Record<string, string> = {
    [DLQ_HEADERS.reason]: error.reason,
    [DLQ_HEADERS.message]: error.message.slice(0, 1000),
    [DLQ_HEADERS.topic]: record.topic,
    [DLQ_HEADERS.partition]: String(record.partition),
    [DLQ_HEADERS.offset]: String(record.offset),
    [DLQ_HEADERS.failedAt]: String(failedAt),
  };
  if (error.reason === 'VALIDATION' && error.key) h[DLQ_HEADERS.field] = error.key;
  return h;
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
        return this.producer.send(dlqTopic(b.record.topic), b.record.key, b.record.value, {
          headers: dlqHeaders(b, now),
        });
      }),
    );
  }
}
