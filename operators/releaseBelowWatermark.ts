// The deterministic apply order of the content stage: buffer records from many sources and, when
// the watermark reaches W, release every buffered record with event_time < W sorted by
// (event_time, source, offset). Whatever the interleaving of the sources on the wire, the released
// sequence is the same, so state rebuilt after a crash equals state of an uninterrupted run.
import type { OperatorFunction } from 'rxjs';
import { coreOperator } from './internal/coreOperator.js';
import { ConfigError } from '../core/errors.js';
import { NO_WATERMARK, type Sink, type WatermarkedBatch, compareStrings, sinkFn } from './types.js';

export interface CanonicalOrderBufferOptions<T> {
  readonly eventTimeOf: (record: T) => number;
  /** Upstream source id (e.g. `"user-interactions/3"`). */
  readonly sourceOf: (record: T) => string;
  /** Offset of the record in its source (numbers compare numerically). */
  readonly offsetOf: (record: T) => number;
  /** Soft bound reported through `overCapacity` (for backpressure). Default Infinity. */
  readonly capacity?: number;
}

export interface CanonicalOrderBufferSnapshot<T> {
  /** Everything with event_time < releasedUpTo has been released. */
  readonly releasedUpTo: number;
  /** Buffered records, in canonical order. Records must be plain JSON data. */
  readonly records: readonly T[];
}

/**
 * Buffer + canonical release. `push(records)` returns the records that arrived too late to keep
 * the order (event_time below the last release watermark; send them to the late side output);
 * `release(W)` returns the records with event_time < W in canonical order.
 */
export class CanonicalOrderBuffer<T> {
  private readonly eventTimeOf: (record: T) => number;
  private readonly sourceOf: (record: T) => string;
  private readonly offsetOf: (record: T) => number;
  readonly capacity: number;
  private pending: T[] = [];
  private releasedUpTo = NO_WATERMARK;
  private late = 0;
  /** Canonical comparator, created once. */
  readonly compare: (a: T, b: T) => number;

  constructor(options: CanonicalOrderBufferOptions<T>) {
    this.eventTimeOf = options.eventTimeOf;
    this.sourceOf = options.sourceOf;
    this.offsetOf = options.offsetOf;
    this.capacity = options.capacity ?? Infinity;
    if (!(this.capacity > 0)) throw new ConfigError('buffer.capacity', 'must be > 0');
    const et = this.eventTimeOf;
    const src = this.sourceOf;
    const off = this.offsetOf;
    this.compare = (a, b) => et(a) - et(b) || compareStrings(src(a), src(b)) || off(a) - off(b);
  }

  static restore<T>(
    options: CanonicalOrderBufferOptions<T>,
    snapshot: CanonicalOrderBufferSnapshot<T>,
  ): CanonicalOrderBuffer<T> {
    const b = new CanonicalOrderBuffer(options);
    b.releasedUpTo = snapshot.releasedUpTo;
    b.pending = snapshot.records.slice();
    return b;
  }

  /** Plain data; the records are in canonical order, so equal buffers give equal snapshots. */
  snapshot(): CanonicalOrderBufferSnapshot<T> {
    return { releasedUpTo: this.releasedUpTo, records: this.pending.slice().sort(this.compare) };
  }

  /** The buffered records in arrival order (a read-only view, not a copy; do not keep it). */
  buffered(): readonly T[] {
    return this.pending;
  }

  /** The smallest buffered event time; Infinity when empty (a scan: call it rarely). */
  minEventTime(): number {
    let min = Infinity;
    const et = this.eventTimeOf;
    const p = this.pending;
    for (let i = 0; i < p.length; i++) {
      const t = et(p[i]);
      if (t < min) min = t;
    }
    return min;
  }

  /** Buffered records. */
  get size(): number {
    return this.pending.length;
  }

  /** True while `size > capacity`: the caller should pause its source. */
  get overCapacity(): boolean {
    return this.pending.length > this.capacity;
  }

  /** Records rejected by `push` so far. */
  get lateCount(): number {
    return this.late;
  }

  /** The watermark of the last release. */
  get watermark(): number {
    return this.releasedUpTo;
  }

  /** Buffers records; returns those behind the last release watermark (not buffered). */
  push(records: readonly T[]): T[] {
    const late: T[] = [];
    const floor = this.releasedUpTo;
    const et = this.eventTimeOf;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (et(r) < floor) {
        late.push(r);
        this.late++;
      } else this.pending.push(r);
    }
    return late;
  }

  /** Releases every buffered record with event_time < watermark, in canonical order. */
  release(watermark: number): T[] {
    if (!(watermark > this.releasedUpTo)) return [];
    this.releasedUpTo = watermark;
    const keep: T[] = [];
    const out: T[] = [];
    const et = this.eventTimeOf;
    const p = this.pending;
    for (let i = 0; i < p.length; i++) {
      if (et(p[i]) < watermark) out.push(p[i]);
      else keep.push(p[i]);
    }
    if (out.length === 0) return out;
    this.pending = keep;
    return out.sort(this.compare);
  }

  clear(): void {
    this.pending = [];
  }
}

/**
 * Buffers the records of each `WatermarkedBatch` and emits, per batch, the records released by its
 * watermark in canonical order (nothing when none). Records behind the last release go to `late`.
 *
 * `--{[b@5 a@3], wm 4}--{[c@4], wm 9}--|` becomes `--[a]--[c b]--|`.
 *
 * @param buffer a shared core (the caller snapshots it and reads `size`), or options or a factory
 * for a core per subscription, cleared on teardown.
 */
export function releaseBelowWatermark<T>(
  buffer: CanonicalOrderBuffer<T> | CanonicalOrderBufferOptions<T> | (() => CanonicalOrderBuffer<T>),
  late: Sink<T>,
): OperatorFunction<WatermarkedBatch<T>, T[]> {
  const toLate = sinkFn(late);
  return coreOperator(
    buffer,
    (x): x is CanonicalOrderBuffer<T> => x instanceof CanonicalOrderBuffer,
    (o: CanonicalOrderBufferOptions<T>) => new CanonicalOrderBuffer(o),
    (core, batch: WatermarkedBatch<T>) => {
      const lateRecords = core.push(batch.records);
      for (let i = 0; i < lateRecords.length; i++) toLate(lateRecords[i]);
      return core.release(batch.watermark);
    },
  );
}
