// Per-source event-time watermarks with idleness, and the operator that stamps batches with them.
import { Observable, type OperatorFunction } from 'rxjs';
import type { Clock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import { NO_WATERMARK, type Sink, type WatermarkedBatch, sinkFn, sortedRows } from './types.js';

/**
 * A source's watermark under bounded out-of-orderness: its highest event time minus the bound
 * (NO_WATERMARK before any record: `maxEventTime` NO_WATERMARK or -Infinity).
 */
export function sourceWatermark(maxEventTime: number, outOfOrdernessMs: number): number {
  return maxEventTime === NO_WATERMARK || maxEventTime === -Infinity
    ? NO_WATERMARK
    : maxEventTime - outOfOrdernessMs;
}

/** Late: behind `watermark` by more than the allowed lateness (nothing is late before the first watermark). */
export function isBehind(eventTime: number, watermark: number, allowedLatenessMs: number): boolean {
  return watermark !== NO_WATERMARK && eventTime < watermark - allowedLatenessMs;
}

export interface WatermarkTrackerOptions {
  /** Bounded out-of-orderness: a source's watermark is its max event time minus this. */
  readonly outOfOrdernessMs: number;
  /** Records behind the watermark by more than this are late. Default 0. */
  readonly allowedLatenessMs?: number;
  /** A source at end-of-partition for this long (wall time, by `clock`) is idle. */
  readonly idleTimeoutMs: number;
  /** Wall clock for idleness only. Event time never comes from it. */
  readonly clock: Clock;
}

/** Per-source bookkeeping, plain data. */
interface SourceState {
  maxEventTime: number;
  /** Wall time when the source was last seen at end-of-partition with nothing new since; null when active. */
  eopSince: number | null;
}

export interface WatermarkTrackerSnapshot {
  readonly watermark: number;
  /** [source, maxEventTime, eopSince] sorted by source. */
  readonly sources: readonly (readonly [string, number, number | null])[];
}

/**
 * Watermarks per source (a topic-partition, named by a string such as `"user-interactions/3"`):
 * `wm(source) = maxEventTime(source) - outOfOrdernessMs`. The combined watermark is the minimum
 * over the sources that are not idle, and never goes back. A source is idle once it has been at
 * end-of-partition (`markEndOfPartition`) for `idleTimeoutMs` of wall time with no record since;
 * a record makes it active again. When every source is idle the combined watermark is the maximum
 * of their watermarks (as Flink's StatusWatermarkValve does when all channels are idle).
 *
 * A registered source that has not reported yet holds the combined watermark at `NO_WATERMARK`
 * until it delivers a record or goes idle.
 *
 * Pure and synchronous apart from the injected clock; `snapshot()`/`restore()` are plain data.
 */
export class WatermarkTracker {
  readonly outOfOrdernessMs: number;
  readonly allowedLatenessMs: number;
  readonly idleTimeoutMs: number;
  private readonly clock: Clock;
  private readonly sources = new Map<string, SourceState>();
  private wm = NO_WATERMARK;

  constructor(options: WatermarkTrackerOptions) {
    const { outOfOrdernessMs, allowedLatenessMs = 0, idleTimeoutMs } = options;
    if (!(outOfOrdernessMs >= 0)) throw new ConfigError('watermark.outOfOrdernessMs', 'must be >= 0');
    if (!(allowedLatenessMs >= 0)) throw new ConfigError('watermark.allowedLatenessMs', 'must be >= 0');
    if (!(idleTimeoutMs >= 0)) throw new ConfigError('watermark.idleTimeoutMs', 'must be >= 0');
    this.outOfOrdernessMs = outOfOrdernessMs;
    this.allowedLatenessMs = allowedLatenessMs;
    this.idleTimeoutMs = idleTimeoutMs;
    this.clock = options.clock;
  }

  static restore(options: WatermarkTrackerOptions, snapshot: WatermarkTrackerSnapshot): WatermarkTracker {
    const t = new WatermarkTracker(options);
    t.wm = snapshot.watermark;
    for (const [source, maxEventTime, eopSince] of snapshot.sources)
      t.sources.set(source, { maxEventTime, eopSince });
    return t;
  }

  snapshot(): WatermarkTrackerSnapshot {
    const sources = sortedRows(this.sources, (s, st) => [s, st.maxEventTime, st.eopSince] as const);
    return { watermark: this.wm, sources };
  }

  /** Declares a source so that it holds the watermark back before its first record. Idempotent. */
  register(source: string): void {
    if (!this.sources.has(source)) this.sources.set(source, { maxEventTime: NO_WATERMARK, eopSince: null });
  }

  private state(source: string): SourceState {
    let st = this.sources.get(source);
    if (st === undefined) {
      st = { maxEventTime: NO_WATERMARK, eopSince: null };
      this.sources.set(source, st);
    }
    return st;
  }

  /** Records one event time from `source`; the source becomes active. */
  observe(source: string, eventTime: number): void {
    const st = this.state(source);
    if (eventTime > st.maxEventTime) st.maxEventTime = eventTime;
    st.eopSince = null;
  }

  /** The source reached the end of its partition (fetch returned nothing new). Starts the idle timer once. */
  markEndOfPartition(source: string): void {
    const st = this.state(source);
    if (st.eopSince === null) st.eopSince = this.clock.now();
  }

  /** Forgets a source (partition revoked). */
  remove(source: string): void {
    this.sources.delete(source);
  }

  isIdle(source: string): boolean {
    const st = this.sources.get(source);
    return st !== undefined && this.idle(st, this.clock.now());
  }

  private idle(st: SourceState, now: number): boolean {
    return st.eopSince !== null && now - st.eopSince >= this.idleTimeoutMs;
  }

  /** The watermark of one source (`NO_WATERMARK` before its first record). */
  sourceWatermark(source: string): number {
    const st = this.sources.get(source);
    return st === undefined ? NO_WATERMARK : sourceWatermark(st.maxEventTime, this.outOfOrdernessMs);
  }

  /** Recomputes and returns the combined watermark (monotone). */
  current(): number {
    const now = this.clock.now();
    let min = Infinity;
    let maxIdle = NO_WATERMARK;
    for (const st of this.sources.values()) {
      const w = sourceWatermark(st.maxEventTime, this.outOfOrdernessMs);
      if (this.idle(st, now)) {
        if (w > maxIdle) maxIdle = w;
      } else if (w < min) min = w;
    }
    const candidate = min === Infinity ? maxIdle : min;
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
  /** The tracker; the caller keeps it to mark end-of-partition, snapshot and restore. */
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
