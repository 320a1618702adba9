// Per-source event-time watermarks (the user stage's clocks, lateness), their combination, and the
// operator that stamps batches with them.
import { Observable, type OperatorFunction } from 'rxjs';
import { ConfigError } from '../core/errors.js';
import { combineProgress, type SourceProgress } from './combineWatermarkMarkers.js';
import { NO_WATERMARK, type Sink, type WatermarkedBatch, isBehind, sinkFn, sortedRows } from './types.js';

/**
 * A source's watermark under bounded out-of-orderness: its highest event time minus the bound
 * (NO_WATERMARK before any record: `maxEventTime` NO_WATERMARK or -Infinity).
 */
export function sourceWatermark(maxEventTime: number, outOfOrdernessMs: number): number {
  return maxEventTime === NO_WATERMARK || maxEventTime === -Infinity
    ? NO_WATERMARK
    : maxEventTime - outOfOrdernessMs;
}

/**
 * A source's event-time progress as a stage keeps it (plain data, checkpointed by the task): its
 * highest event time (`NO_WATERMARK` or -Infinity: none yet), its first one, and whether the runtime
 * declared it idle.
 */
export interface EventTimeClock {
  maxT: number;
  first: number | null;
  idle: boolean;
}

/**
 * One on-time event time of the source: remembers the first, raises the highest, and makes the
 * source active. Returns true when the highest event time (so the source's watermark) moved.
 */
export function observeEventTime(clock: EventTimeClock, eventTime: number): boolean {
  if (clock.first === null) clock.first = eventTime;
  clock.idle = false;
  if (!(eventTime > clock.maxT)) return false;
  clock.maxT = eventTime;
  return true;
}

export interface WatermarkTrackerOptions {
  /** Bounded out-of-orderness: a source's watermark is its max event time minus this. */
  readonly outOfOrdernessMs: number;
  /** Records behind the watermark by more than this are late. Default 0. */
  readonly allowedLatenessMs?: number;
}

export interface WatermarkTrackerSnapshot {
  readonly watermark: number;
  /** [source, maxEventTime, first event time, idle] sorted by source. */
  readonly sources: readonly (readonly [string, number, number | null, boolean])[];
}

/**
 * Watermarks per source (a topic-partition, named by a string such as `"user-interactions/3"`):
 * `wm(source) = maxEventTime(source) - outOfOrdernessMs`, each source an `EventTimeClock` as the
 * user stage keeps its own. The combined watermark is `combineProgress` over the sources (the
 * minimum over the active ones; with every source idle, the maximum), and never goes back.
 * Idleness is declared by the runtime (`setIdle`: a partition found at its end for the idle
 * timeout); a record makes its source active again.
 *
 * A registered source that has not reported yet holds the combined watermark at `NO_WATERMARK`
 * until it delivers a record or is declared idle.
 *
 * Pure and synchronous; `snapshot()`/`restore()` are plain data.
 */
export class WatermarkTracker {
  readonly outOfOrdernessMs: number;
  readonly allowedLatenessMs: number;
  private readonly sources = new Map<string, EventTimeClock>();
  private wm = NO_WATERMARK;

  constructor(options: WatermarkTrackerOptions) {
    const { outOfOrdernessMs, allowedLatenessMs = 0 } = options;
    if (!(outOfOrdernessMs >= 0)) throw new ConfigError('watermark.outOfOrdernessMs', 'must be >= 0');
    if (!(allowedLatenessMs >= 0)) throw new ConfigError('watermark.allowedLatenessMs', 'must be >= 0');
    this.outOfOrdernessMs = outOfOrdernessMs;
    this.allowedLatenessMs = allowedLatenessMs;
  }

  static restore(options: WatermarkTrackerOptions, snapshot: WatermarkTrackerSnapshot): WatermarkTracker {
    const t = new WatermarkTracker(options);
    t.wm = snapshot.watermark;
    for (const [source, maxT, first, idle] of snapshot.sources) t.sources.set(source, { maxT, first, idle });
    return t;
  }

  snapshot(): WatermarkTrackerSnapshot {
    const sources = sortedRows(this.sources, (s, c) => [s, c.maxT, c.first, c.idle] as const);
    return { watermark: this.wm, sources };
  }

  /** Declares a source so that it holds the watermark back before its first record. Idempotent. */
  register(source: string): void {
    this.clock(source);
  }

  private clock(source: string): EventTimeClock {
    let c = this.sources.get(source);
    if (c === undefined) {
      c = { maxT: NO_WATERMARK, first: null, idle: false };
      this.sources.set(source, c);
    }
    return c;
  }

  /** Records one event time from `source`; the source becomes active. */
  observe(source: string, eventTime: number): void {
    observeEventTime(this.clock(source), eventTime);
  }

  /** The runtime found the source at its end for the idle timeout (true), or it has data again. */
  setIdle(source: string, idle: boolean): void {
    this.clock(source).idle = idle;
  }

  /** Forgets a source (partition revoked). */
  remove(source: string): void {
    this.sources.delete(source);
  }

  isIdle(source: string): boolean {
    return this.sources.get(source)?.idle ?? false;
  }

  /** The watermark of one source (`NO_WATERMARK` before its first record). */
  sourceWatermark(source: string): number {
    const c = this.sources.get(source);
    return c === undefined ? NO_WATERMARK : sourceWatermark(c.maxT, this.outOfOrdernessMs);
  }

  /** Recomputes and returns the combined watermark (monotone). */
  current(): number {
    const progress: SourceProgress[] = [];
    for (const c of this.sources.values())
      progress.push({ wm: sourceWatermark(c.maxT, this.outOfOrdernessMs), idle: c.idle, first: c.first });
    const candidate = combineProgress(progress);
    if (candidate > this.wm) this.wm = candidate;
    return this.wm;
  }

  /** The last combined watermark computed by `current()`, without recomputing. */
  get watermark(): number {
    return this.wm;
  }

  /** `eventTime < combinedWatermark - allowedLateness` (against the last computed combined watermark). */
  isLate(eventTime: number): boolean {
    return isBehind(eventTime, this.wm, this.allowedLatenessMs);
  }

  /**
   * `eventTime < wm(source) - allowedLateness`: lateness judged against the source's own
   * watermark only, which depends on nothing but that source's record order (deterministic).
   */
  isLateFor(source: string, eventTime: number): boolean {
    return isBehind(eventTime, this.sourceWatermark(source), this.allowedLatenessMs);
  }
}

export interface WithWatermarksOptions<T> {
  /** The tracker; the caller keeps it to declare idleness, snapshot and restore. */
  readonly tracker: WatermarkTracker;
  readonly sourceOf: (record: T) => string;
  readonly eventTimeOf: (record: T) => number;
  /** Late records (never silently dropped). */
  readonly late: Sink<T>;
  /**
   * `'source'` (default): a record is late when behind its own source's watermark minus allowed
   * lateness, decided record by record in arrival order, so the decision does not depend on how
   * records were batched or on other sources. `'combined'`: behind the combined watermark as it was
   * before the batch (depends on timing across sources; use only where that is acceptable).
   */
  readonly lateness?: 'source' | 'combined';
}

/**
 * Splits each batch into on-time records, emitted together with the combined watermark after the
 * batch, and late records, sent to `late`.
 *
 * `--[a@5 b@9]--[c@1]--|` with outOfOrderness 2 becomes `--{[a,b], wm 7}--{[], wm 7}--|` and `c`
 * goes to `late`. Every input batch produces exactly one output (possibly with no records), so the
 * watermark progress stays visible downstream.
 *
 * @return an operator from batches of records to `WatermarkedBatch`es.
 */
export function withWatermarks<T>(
  options: WithWatermarksOptions<T>,
): OperatorFunction<readonly T[], WatermarkedBatch<T>> {
  const { tracker, sourceOf, eventTimeOf } = options;
  const toLate = sinkFn(options.late);
  const perSource = (options.lateness ?? 'source') === 'source';
  return (source) =>
    new Observable<WatermarkedBatch<T>>((subscriber) =>
      source.subscribe({
        next(batch) {
          let result: WatermarkedBatch<T>;
          try {
            const records: T[] = [];
            tracker.current();
            for (let i = 0; i < batch.length; i++) {
              const r = batch[i];
              const src = sourceOf(r);
              const t = eventTimeOf(r);
              const late = perSource ? tracker.isLateFor(src, t) : tracker.isLate(t);
              // A late record still shows its source is alive (and may advance it in 'combined' mode).
              tracker.observe(src, t);
              if (late) toLate(r);
              else records.push(r);
            }
            result = { records, watermark: tracker.current() };
          } catch (e) {
            subscriber.error(e);
            return;
          }
          subscriber.next(result);
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      }),
    );
}
