// Decode a batch of raw records; records that fail go to a dead-letter side output with their
// reason and source coordinates. The stream never errors because of its input (SPEC §5).
import type { OperatorFunction } from 'rxjs';
import { batchOperator } from './internal/coreOperator.js';
import { type ErrorReason, isThermostatError, ThermostatError } from '../core/errors.js';
import { type Sink, type SourceCoordinates, sinkFn } from './types.js';

/** One rejected record, ready for the `<topic>.dlq` writer (headers come from these fields). */
export interface DlqEntry<Raw> {
  /** The original record, bytes untouched. */
  readonly record: Raw;
  readonly reason: ErrorReason;
  readonly message: string;
  readonly topic: string;
  readonly partition: number;
  /** Offset as a decimal string (Kafka's own representation). */
  readonly offset: string;
  /** The decoder's error; anything but a ThermostatError is wrapped as INTERNAL (original as cause). */
  readonly error: ThermostatError;
}

/**
 * Decodes `batch` into a new array of good values, sending every failure to `dlq`.
 * A thrown `ThermostatError` keeps its reason; anything else (a bug in the decoder) becomes
 * `INTERNAL`. The order of good values is the order of the batch. This is the core the pipelines
 * call directly; `decodeWithDlq` wraps it for Observables.
 *
 * If `dlq` itself throws, that error propagates: losing a poison record silently is not an option.
 */
export function decodeBatch<Raw extends SourceCoordinates, Out>(
  batch: readonly Raw[],
  decode: (raw: Raw) => Out,
  dlq: (entry: DlqEntry<Raw>) => void,
): Out[];
/**
 * The same for records that do not carry their coordinates (a fetched batch of one topic
 * partition): `at` gives them, for failures only, so a good record costs no extra object.
 */
export function decodeBatch<Raw, Out>(
  batch: readonly Raw[],
  decode: (raw: Raw) => Out,
  dlq: (entry: DlqEntry<Raw>) => void,
  at: (raw: Raw) => SourceCoordinates,
): Out[];
export function decodeBatch<Raw, Out>(
  batch: readonly Raw[],
  decode: (raw: Raw) => Out,
  dlq: (entry: DlqEntry<Raw>) => void,
  at: (raw: Raw) => SourceCoordinates = (raw) => raw as SourceCoordinates,
): Out[] {
  const out: Out[] = [];
  for (let i = 0; i < batch.length; i++) {
    const raw = batch[i];
    let value: Out;
    try {
      value = decode(raw);
    } catch (error) {
      dlq(toDlqEntry(raw, at(raw), error));
      continue;
    }
    out.push(value);
  }
  return out;
}

/**
 * The error a rejected record carries: the decoder's own ThermostatError, or INTERNAL for anything
 * else (a bug in the decoder), with the record's coordinates.
 */
export function decodeError(error: unknown, at: SourceCoordinates): ThermostatError {
  if (isThermostatError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ThermostatError('INTERNAL', `unexpected decode failure: ${message}`, {
    cause: error,
    topic: at.topic,
    partition: at.partition,
    offset: String(at.offset),
  });
}

function toDlqEntry<Raw>(raw: Raw, at: SourceCoordinates, error: unknown): DlqEntry<Raw> {
  const wrapped = decodeError(error, at);
  return {
    record: raw,
    reason: wrapped.reason,
    message: error instanceof Error ? error.message : String(error),
    topic: at.topic,
    partition: at.partition,
    offset: String(at.offset),
    error: wrapped,
  };
}

/**
 * Decodes each batch of raw records; failures go to the `dlq` side output.
 *
 * `--[r1 r2 bad]--[bad]--[r3]--|` becomes `--[v1 v2]--------[v3]--|` with one DLQ entry per bad
 * record. A batch whose records all fail emits nothing. Errors from upstream, and errors thrown by
 * the DLQ sink itself, are forwarded as errors (they are fatal, not input problems).
 *
 * @param decode turns one raw record into a value; throws (preferably a `ThermostatError`) when it cannot.
 * @param dlq receives one `DlqEntry` per rejected record (a callback or a Subject).
 * @return an operator from batches of raw records to batches of decoded values.
 */
export function decodeWithDlq<Raw extends SourceCoordinates, Out>(
  decode: (raw: Raw) => Out,
  dlq: Sink<DlqEntry<Raw>>,
): OperatorFunction<readonly Raw[], Out[]> {
  const toDlq = sinkFn(dlq);
  return batchOperator(() => ({ step: (batch: readonly Raw[]) => decodeBatch(batch, decode, toDlq) }));
}
