// Types shared by the operators in this folder. Records travel in micro-batches (arrays): an
// operator receives one array per emission and emits at most one array per input emission, so the
// per-record cost is a loop iteration, never an Observable emission or a closure.

/**
 * The watermark before any source has reported one, everywhere in the job (operators, tasks,
 * markers on the wire). A finite number (not -Infinity) so that every snapshot stays
 * JSON-serialisable (`JSON.stringify(-Infinity)` is `null`), and one an Avro long carries
 * exactly (longs decoded as doubles stop short of MIN_SAFE_INTEGER).
 */
export const NO_WATERMARK = -(2 ** 52);

/**
 * The late side output's rule: behind `watermark` by more than the allowed lateness (nothing is
 * late before the first watermark).
 */
export function isBehind(eventTime: number, watermark: number, allowedLatenessMs: number): boolean {
  return watermark !== NO_WATERMARK && eventTime < watermark - allowedLatenessMs;
}

/**
 * A batch of records together with the watermark that holds after it. Watermark convention used
 * across Thermostat: a watermark W asserts that every record with `event_time < W` has arrived
 * (records with `event_time >= W` may still come).
 */
export interface WatermarkedBatch<T> {
  readonly records: readonly T[];
  readonly watermark: number;
}

/** Where a side output (DLQ, late records) goes: a callback or anything with `next` (a Subject). */
export type Sink<T> = ((value: T) => void) | { next(value: T): void };

/** Turns a Sink into a plain function once, outside hot loops. */
export function sinkFn<T>(sink: Sink<T>): (value: T) => void {
  if (typeof sink === 'function') return sink;
  return (v: T) => sink.next(v);
}

/** Kafka coordinates of a consumed record. Offsets are Kafka's decimal strings or numbers. */
export interface SourceCoordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string | number;
}

/** Comparison of two strings by UTF-16 code units: total, locale-independent, deterministic. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A map's entries as rows sorted by key: equal maps give equal snapshots. */
export function sortedRows<V, R>(map: ReadonlyMap<string, V>, row: (key: string, value: V) => R): R[] {
  return [...map.keys()].sort().map((k) => row(k, map.get(k) as V));
}
