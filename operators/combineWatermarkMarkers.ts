// The in-band watermark of a downstream stage: upstream tasks send watermark markers (source, wm,
// idle, first event time) inside the data topic; the downstream watermark is the minimum over the
// sources. `applyMarker` and `combineProgress` are the one implementation of marker combining: the
// content stage (over its user sources) and the user re-key inbox (over its origin partitions) call
// them on their checkpointed progress records, the combiner below on its own.
import { Observable, type OperatorFunction } from 'rxjs';
import { ConfigError } from '../core/errors.js';
import { NO_WATERMARK, isBehind, sortedRows } from './types.js';

/** A watermark marker as carried on an internal topic. */
export interface WatermarkMarker {
  /** The upstream source (e.g. `"user-interactions/3"`). */
  readonly source: string;
  /** That source's watermark after its last batch. */
  readonly watermark: number;
  /** True when the upstream task declared the source idle. */
  readonly idle: boolean;
}

/** What a marker carries about its source (the wire's ContentEvent marker has these fields). */
export interface MarkerProgress {
  readonly watermark: number;
  readonly idle: boolean;
  /** The source's first event time, once known. */
  readonly first_event_time?: number | null;
}

/** A source's progress as its markers said: plain data, kept in task snapshots. */
export interface SourceProgress {
  wm: number;
  idle: boolean;
  first: number | null;
}

/** Applies one marker to its source's progress: the watermark never goes back; first is the earliest seen. */
export function applyMarker(s: SourceProgress, m: MarkerProgress): void {
  if (m.watermark > s.wm) s.wm = m.watermark;
  s.idle = m.idle;
  const first = m.first_event_time;
  if (first != null) s.first = s.first === null ? first : Math.min(s.first, first);
}

/**
 * The combined watermark of sources. Without `idleFloor` (as Flink's StatusWatermarkValve): the
 * minimum over active sources, and when every source is idle the maximum of them. With it, every
 * source counts, an idle one at no less than `idleFloor`: a quiet partition holds the watermark
 * back at most that far, and never past what the source itself promised.
 */
export function combineProgress(sources: Iterable<SourceProgress>, idleFloor?: number): number {
  let min = Infinity;
  let maxIdle = NO_WATERMARK;
  for (const s of sources) {
    if (!s.idle) {
      if (s.wm < min) min = s.wm;
    } else if (idleFloor !== undefined) {
      const effective = s.wm > idleFloor ? s.wm : idleFloor;
      if (effective < min) min = effective;
    } else if (s.wm > maxIdle) maxIdle = s.wm;
  }
  return min === Infinity ? maxIdle : min;
}

export interface WatermarkMarkerCombinerOptions {
  /** Sources that must report before the watermark can move (a missing one holds it at NO_WATERMARK). */
  readonly expectedSources?: readonly string[];
  /** For `isLate`. Default 0. */
  readonly allowedLatenessMs?: number;
}

export interface WatermarkMarkerCombinerSnapshot {
  readonly watermark: number;
  /** [source, watermark, idle] sorted by source. */
  readonly sources: readonly (readonly [string, number, boolean])[];
}

/**
 * Combines markers into one monotone watermark: the minimum over non-idle sources of their latest
 * marker watermark; when every known source is idle, the maximum of them. A source's own watermark
 * never goes back (a replayed, older marker is ignored). Snapshot/restore as plain data.
 */
export class WatermarkMarkerCombiner {
  readonly allowedLatenessMs: number;
  private readonly sources = new Map<string, SourceProgress>();
  private wm = NO_WATERMARK;

  constructor(options: WatermarkMarkerCombinerOptions = {}) {
    this.allowedLatenessMs = options.allowedLatenessMs ?? 0;
    if (!(this.allowedLatenessMs >= 0)) throw new ConfigError('watermark.allowedLatenessMs', 'must be >= 0');
    for (const s of options.expectedSources ?? [])
      this.sources.set(s, { wm: NO_WATERMARK, idle: false, first: null });
  }

  static restore(
    options: WatermarkMarkerCombinerOptions,
    snapshot: WatermarkMarkerCombinerSnapshot,
  ): WatermarkMarkerCombiner {
    const c = new WatermarkMarkerCombiner(options);
    for (const [source, wm, idle] of snapshot.sources) c.sources.set(source, { wm, idle, first: null });
    c.wm = snapshot.watermark;
    return c;
  }

  snapshot(): WatermarkMarkerCombinerSnapshot {
    return { watermark: this.wm, sources: sortedRows(this.sources, (s, st) => [s, st.wm, st.idle] as const) };
  }

  /** Applies one marker; returns the combined watermark after it. */
  onMarker(marker: WatermarkMarker): number {
    let st = this.sources.get(marker.source);
    if (st === undefined) {
      st = { wm: NO_WATERMARK, idle: marker.idle, first: null };
      this.sources.set(marker.source, st);
    }
    applyMarker(st, marker);
    return this.recompute();
  }

  /** Forgets a source (e.g. an upstream partition that no longer exists). */
  remove(source: string): number {
    this.sources.delete(source);
    return this.recompute();
  }

  private recompute(): number {
    const candidate = combineProgress(this.sources.values());
    if (candidate > this.wm) this.wm = candidate;
    return this.wm;
  }

  get watermark(): number {
    return this.wm;
  }

  sourceWatermark(source: string): number {
    return this.sources.get(source)?.wm ?? NO_WATERMARK;
  }

  /** `eventTime < watermark - allowedLateness`. */
  isLate(eventTime: number): boolean {
    return isBehind(eventTime, this.wm, this.allowedLatenessMs);
  }
}

/**
 * Folds batches of markers into the combined watermark; emits it only when it advanced.
 *
 * `--[m(a,5) m(b,3)]--[m(a,9)]--[m(b,8)]--|` becomes `--3-----------------8--|`.
 *
 * @param combiner the shared combiner (the caller snapshots it), or options to create one per subscription.
 */
export function combineWatermarkMarkers(
  combiner: WatermarkMarkerCombiner | WatermarkMarkerCombinerOptions = {},
): OperatorFunction<readonly WatermarkMarker[], number> {
  return (source) =>
    new Observable<number>((subscriber) => {
      const c =
        combiner instanceof WatermarkMarkerCombiner ? combiner : new WatermarkMarkerCombiner(combiner);
      let last = c.watermark;
      return source.subscribe({
        next(batch) {
          let wm = last;
          try {
            for (let i = 0; i < batch.length; i++) wm = c.onMarker(batch[i]);
          } catch (e) {
            subscriber.error(e);
            return;
          }
          if (wm > last) {
            last = wm;
            subscriber.next(wm);
          }
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
    });
}
