// Drop records replayed by an upstream that restarted: a source's records arrive in its offset
// order, so a record whose source offset is <= the last one seen from that source is a replay.
import type { OperatorFunction } from 'rxjs';
import { coreOperator } from './internal/coreOperator.js';
import { compareStrings } from './types.js';

export interface SourceOffsetDedupeOptions<T> {
  /** Upstream source id (e.g. `"user-interactions/3"`). */
  readonly sourceOf: (record: T) => string;
  /** Offset of the record in its source. */
  readonly offsetOf: (record: T) => number;
}

export interface SourceOffsetDedupeSnapshot {
  readonly dropped: number;
  /** [source, last offset seen], sorted by source. */
  readonly offsets: readonly (readonly [string, number])[];
}

/** Last offset per source; memory is one number per upstream source. */
export class SourceOffsetDedupe<T> {
  private readonly sourceOf: (record: T) => string;
  private readonly offsetOf: (record: T) => number;
  private readonly last = new Map<string, number>();
  private droppedCount = 0;

  constructor(options: SourceOffsetDedupeOptions<T>) {
    this.sourceOf = options.sourceOf;
    this.offsetOf = options.offsetOf;
  }

  static restore<T>(
    options: SourceOffsetDedupeOptions<T>,
    snapshot: SourceOffsetDedupeSnapshot,
  ): SourceOffsetDedupe<T> {
    const d = new SourceOffsetDedupe(options);
    d.droppedCount = snapshot.dropped;
    for (const [s, o] of snapshot.offsets) d.last.set(s, o);
    return d;
  }

  snapshot(): SourceOffsetDedupeSnapshot {
    const offsets = [...this.last.entries()].sort((a, b) => compareStrings(a[0], b[0]));
    return { dropped: this.droppedCount, offsets };
  }

  get dropped(): number {
    return this.droppedCount;
  }

  /** The last offset seen from `source`, or undefined. */
  lastOffset(source: string): number | undefined {
    return this.last.get(source);
  }

  /** One record: true when it is new (and remembers it), false for a replay (counted). No allocation. */
  accept(record: T): boolean {
    const s = this.sourceOf(record);
    const o = this.offsetOf(record);
    const prev = this.last.get(s);
    if (prev !== undefined && o <= prev) {
      this.droppedCount++;
      return false;
    }
    this.last.set(s, o);
    return true;
  }

  /** Returns the records that are not replays, in order. */
  filter(records: readonly T[]): T[] {
    const out: T[] = [];
    for (let i = 0; i < records.length; i++) if (this.accept(records[i])) out.push(records[i]);
    return out;
  }

  clear(): void {
    this.last.clear();
  }
}

/**
 * Drops replayed records (source offset <= last seen from that source) from each batch; emits the
 * rest (nothing when a batch was all replays).
 *
 * `--[a/1 a/2]--[a/1 a/2 a/3]--|` becomes `--[a/1 a/2]--[a/3]--|`.
 *
 * @param dedupe a shared core (the caller snapshots it), or options or a factory for a core per
 * subscription, cleared on teardown.
 */
export function dedupeBySourceOffset<T>(
  dedupe: SourceOffsetDedupe<T> | SourceOffsetDedupeOptions<T> | (() => SourceOffsetDedupe<T>),
): OperatorFunction<readonly T[], T[]> {
  return coreOperator(
    dedupe,
    (x): x is SourceOffsetDedupe<T> => x instanceof SourceOffsetDedupe,
    (o: SourceOffsetDedupeOptions<T>) => new SourceOffsetDedupe(o),
    (core, batch: readonly T[]) => core.filter(batch),
  );
}
