// Drop records whose id was already seen within a bounded horizon (event time and/or count).
import type { OperatorFunction } from 'rxjs';
import { coreOperator } from './internal/coreOperator.js';
import { ConfigError } from '../core/errors.js';
import { NO_WATERMARK } from './types.js';

export interface DedupeOptions<T> {
  readonly idOf: (record: T) => string;
  /** Needed with `horizonMs`. */
  readonly eventTimeOf?: (record: T) => number;
  /** Remember an id while its event time >= (max event time seen) - horizonMs. */
  readonly horizonMs?: number;
  /** Remember at most this many ids (oldest first out). The hard memory bound. */
  readonly maxIds?: number;
}

export interface DedupeSnapshot {
  readonly maxEventTime: number;
  readonly dropped: number;
  /** Remembered ids with their event time, oldest first. */
  readonly entries: readonly (readonly [string, number])[];
}

/**
 * Duplicate filter by id. Ids are remembered first-in first-out; an id leaves when the count
 * exceeds `maxIds`, or when it is the oldest remembered one and its event time is behind
 * `maxEventTime - horizonMs`. Decisions are made record by record, so they depend only on the
 * record order, never on batching. A duplicate arriving after its id left passes (the horizon is
 * the trade-off between memory and catching very late replays).
 */
export class Dedupe<T> {
  private readonly idOf: (record: T) => string;
  private readonly eventTimeOf: ((record: T) => number) | undefined;
  private readonly horizonMs: number;
  private readonly maxIds: number;
  private readonly seen = new Map<string, number>();
  /** FIFO of remembered ids: queue[head..] are live. */
  private queue: string[] = [];
  private head = 0;
  private maxEventTime = NO_WATERMARK;
  private droppedCount = 0;

  constructor(options: DedupeOptions<T>) {
    this.idOf = options.idOf;
    this.eventTimeOf = options.eventTimeOf;
    this.horizonMs = options.horizonMs ?? Infinity;
    this.maxIds = options.maxIds ?? Infinity;
    if (this.horizonMs === Infinity && this.maxIds === Infinity)
      throw new ConfigError('dedupe', 'set horizonMs and/or maxIds: memory must be bounded');
    if (!(this.horizonMs >= 0)) throw new ConfigError('dedupe.horizonMs', 'must be >= 0');
    if (!(this.maxIds >= 1)) throw new ConfigError('dedupe.maxIds', 'must be >= 1');
    if (this.horizonMs !== Infinity && this.eventTimeOf === undefined)
      throw new ConfigError('dedupe.eventTimeOf', 'required with horizonMs');
  }

  static restore<T>(options: DedupeOptions<T>, snapshot: DedupeSnapshot): Dedupe<T> {
    const d = new Dedupe(options);
    d.maxEventTime = snapshot.maxEventTime;
    d.droppedCount = snapshot.dropped;
    for (const [id, t] of snapshot.entries) {
      d.seen.set(id, t);
      d.queue.push(id);
    }
    return d;
  }

  snapshot(): DedupeSnapshot {
    const entries: [string, number][] = [];
    for (let i = this.head; i < this.queue.length; i++) {
      const id = this.queue[i];
      entries.push([id, this.seen.get(id) as number]);
    }
    return { maxEventTime: this.maxEventTime, dropped: this.droppedCount, entries };
  }

  /** Duplicates dropped so far. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Ids remembered now. */
  get size(): number {
    return this.seen.size;
  }

  /** One record: true when it is new (and remembers its id), false for a duplicate (counted). */
  accept(record: T): boolean {
    const id = this.idOf(record);
    if (this.seen.has(id)) {
      this.droppedCount++;
      return false;
    }
    const t = this.eventTimeOf === undefined ? 0 : this.eventTimeOf(record);
    if (t > this.maxEventTime) this.maxEventTime = t;
    this.seen.set(id, t);
    this.queue.push(id);
    this.evict();
    return true;
  }

  /** Returns the records that are not duplicates, in order. */
  filter(records: readonly T[]): T[] {
    const out: T[] = [];
    for (let i = 0; i < records.length; i++) if (this.accept(records[i])) out.push(records[i]);
    return out;
  }

  private evict(): void {
    const cutoff = this.maxEventTime - this.horizonMs;
    const q = this.queue;
    while (this.head < q.length) {
      const id = q[this.head];
      if (this.seen.size > this.maxIds || (this.seen.get(id) as number) < cutoff) {
        this.seen.delete(id);
        this.head++;
      } else break;
    }
    // Compact the queue once its dead prefix is large, so memory follows the live ids.
    if (this.head > 1024 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.seen.clear();
    this.queue = [];
    this.head = 0;
  }
}

/**
 * Drops duplicate records from each batch (by id, within the horizon); emits the rest (nothing
 * when a batch was all duplicates).
 *
 * `--[a b a]--[b c]--|` becomes `--[a b]--[c]--|`.
 *
 * @param dedupe a shared core (the caller snapshots it), or options or a factory for a core per
 * subscription, cleared on teardown.
 */
export function dedupe<T>(
  dedupe: Dedupe<T> | DedupeOptions<T> | (() => Dedupe<T>),
): OperatorFunction<readonly T[], T[]> {
  return coreOperator(
    dedupe,
    (x): x is Dedupe<T> => x instanceof Dedupe,
    (o: DedupeOptions<T>) => new Dedupe(o),
    (core, batch: readonly T[]) => core.filter(batch),
  );
}
