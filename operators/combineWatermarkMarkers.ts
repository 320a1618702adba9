// The in-band watermark of a downstream stage: upstream tasks send watermark markers (source, wm,
// idle) inside the data topic; the downstream watermark is the minimum over the non-idle sources.
import { Observable, type OperatorFunction } from 'rxjs';
import { ConfigError } from '../core/errors.js';
import { NO_WATERMARK } from './types.js';

/** A watermark marker as carried on an internal topic. */
export interface WatermarkMarker {
  /** The upstream source (e.g. `"user-interactions/3"`). */
  readonly source: string;
  /** That source's watermark after its last batch. */
  readonly watermark: number;
  /** True when the upstream task declared the source idle. */
  readonly idle: boolean;
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
  private readonly sources = new Map<string, { watermark: number; idle: boolean }>();
  private wm = NO_WATERMARK;

  constructor(options: WatermarkMarkerCombinerOptions = {}) {
    this.allowedLatenessMs = options.allowedLatenessMs ?? 0;
    if (!(this.allowedLatenessMs >= 0)) throw new ConfigError('watermark.allowedLatenessMs', 'must be >= 0');
    for (const s of options.expectedSources ?? [])
      this.sources.set(s, { watermark: NO_WATERMARK, idle: false });
  }

  static restore(
    options: WatermarkMarkerCombinerOptions,
    snapshot: WatermarkMarkerCombinerSnapshot,
  ): WatermarkMarkerCombiner {
    const c = new WatermarkMarkerCombiner(options);
    for (const [source, watermark, idle] of snapshot.sources) c.sources.set(source, { watermark, idle });
    c.wm = snapshot.watermark;
    return c;
  }

  snapshot(): WatermarkMarkerCombinerSnapshot {
    const sources = [...this.sources.keys()].sort().map((s) => {
      const st = this.sources.get(s) as { watermark: number; idle: boolean };
      return [s, st.watermark, st.idle] as const;
    });
    return { watermark: this.wm, sources };
  }

  /** Applies one marker; returns the combined watermark after it. */
  onMarker(marker: WatermarkMarker): number {
    let st = this.sources.get(marker.source);
    if (st === undefined) {
      st = { watermark: NO_WATERMARK, idle: marker.idle };
      this.sources.set(marker.source, st);
    }
    if (marker.watermark > st.watermark) st.watermark = marker.watermark;
    st.idle = marker.idle;
    return this.recompute();
  }

  /** Forgets a source (e.g. an upstream partition that no longer exists). */
  remove(source: string): number {
    this.sources.delete(source);
    return this.recompute();
  }

  private recompute(): number {
    let min = Infinity;
    let maxIdle = NO_WATERMARK;
    for (const st of this.sources.values()) {
      if (st.idle) {
        if (st.watermark > maxIdle) maxIdle = st.watermark;
      } else if (st.watermark < min) min = st.watermark;
    }
    const candidate = min === Infinity ? maxIdle : min;
    if (candidate > this.wm) this.wm = candidate;
    return this.wm;
  }

  get watermark(): number {
    return this.wm;
  }

  sourceWatermark(source: string): number {
    return this.sources.get(source)?.watermark ?? NO_WATERMARK;
  }

  /** `eventTime < watermark - allowedLateness`. */
  isLate(eventTime: number): boolean {
    return this.wm !== NO_WATERMARK && eventTime < this.wm - this.allowedLatenessMs;
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
