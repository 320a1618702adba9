// Poison records never stop the job: the job's decode step (runtime/task-runner.ts) sends each
// record it cannot take to `<topic>.dlq` (and late records to the late topic) as the side-output
// record built here: the original key and value bytes plus headers saying why and where it came
// from. Header names are a public contract. A payload larger than the bound (kafka.maxRecordBytes)
// is truncated so the record always fits a producer's message size limit; its headers then carry
// the original size.
import { INPUT_BOUNDS } from '../core/config.js';

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
