// The user re-key topic (<app>-user-rekey, by user_id): interactions found in a partition their
// user_id does not hash to travel there to the task owning the user. Each copy carries where it was
// read (origin partition and offset), so an origin's replays after its restart are dropped. Every
// user task also sends each re-key partition a header-only marker with its own interaction
// watermark, after any record it re-routed there; the re-key partition's watermark is the min over
// origins (idle ones at most idleMaxLagMs behind the highest), so the content stage never passes a
// re-routed record before its owner forwarded it.
import type { InRecord } from './task.js';
import { applyMarker, combineProgress, type SourceProgress } from '../operators/combineWatermarkMarkers.js';
import { SourceOffsetDedupe } from '../operators/dedupeBySourceOffset.js';
import { NO_WATERMARK } from '../operators/types.js';
import { ORIGIN_HEADERS, REKEY_MARKER_HEADERS } from './topology.js';

/** An origin partition's progress, as its markers said. */
export type OriginProgress = SourceProgress;

/** Headers of a re-key marker from `partition`. */
export const rekeyMarkerHeaders = (
  partition: number,
  watermark: number,
  idle: boolean,
  first: number | null,
): Record<string, string> => ({
  [ORIGIN_HEADERS.partition]: String(partition),
  [REKEY_MARKER_HEADERS.watermark]: String(watermark),
  [REKEY_MARKER_HEADERS.idle]: idle ? '1' : '0',
  [REKEY_MARKER_HEADERS.first]: first === null ? '' : String(first),
});

/** Headers of a re-routed interaction read at `partition`/`offset`. */
export const originHeaders = (partition: number, offset: number): Record<string, string> => ({
  [ORIGIN_HEADERS.partition]: String(partition),
  [ORIGIN_HEADERS.offset]: String(offset),
});

const originOf = (rec: InRecord): string | undefined => rec.headers?.[ORIGIN_HEADERS.partition];
const originOffsetOf = (rec: InRecord): number => Number(rec.headers?.[ORIGIN_HEADERS.offset]);

/**
 * What a re-key partition's owner knows about the origins: the last origin offset applied (replays
 * dropped by operators/dedupeBySourceOffset) and each origin's progress (`origins`, the task's
 * checkpointed metadata, updated in place).
 */
export class RekeyInbox {
  private readonly replays: SourceOffsetDedupe<InRecord>;

  constructor(
    lastOffsets: Readonly<Record<string, number>>,
    private readonly origins: Record<string, OriginProgress>,
    private readonly partitions: number,
    private readonly idleMaxLagMs: number,
  ) {
    this.replays = SourceOffsetDedupe.restore(
      { sourceOf: (rec) => originOf(rec)!, offsetOf: originOffsetOf },
      { dropped: 0, offsets: Object.entries(lastOffsets) },
    );
  }

  /** A re-routed copy: accepted once per origin record (an origin's replays arrive again after its restart). */
  accept(rec: InRecord): boolean {
    if (originOf(rec) === undefined || !Number.isSafeInteger(originOffsetOf(rec))) return true;
    return this.replays.accept(rec);
  }

  /** Per origin partition, the last origin offset applied (task metadata). */
  lastOffsets(): Record<string, number> {
    return Object.fromEntries(this.replays.snapshot().offsets);
  }

  /** An origin's marker: its watermark never moves back. */
  onMarker(h: Record<string, string>): void {
    applyMarker(this.progressOf(h[ORIGIN_HEADERS.partition]), {
      watermark: Number(h[REKEY_MARKER_HEADERS.watermark]),
      idle: h[REKEY_MARKER_HEADERS.idle] === '1',
      first_event_time: h[REKEY_MARKER_HEADERS.first] ? Number(h[REKEY_MARKER_HEADERS.first]) : null,
    });
  }

  /** A heartbeat: every origin promises nothing below `watermark` follows. */
  advance(watermark: number): void {
    for (let q = 0; q < this.partitions; q++) {
      const s = this.progressOf(String(q));
      if (s.wm < watermark) s.wm = watermark;
    }
  }

  /** The re-key partition's watermark and first event time; null until every origin reported. */
  watermark(): { wm: number; first: number | null } | null {
    let frontier = NO_WATERMARK;
    let first: number | null = null;
    const origins: SourceProgress[] = [];
    for (let q = 0; q < this.partitions; q++) {
      const s = this.origins[q];
      if (s === undefined) return null;
      origins.push(s);
      if (s.wm > frontier) frontier = s.wm;
      if (s.first !== null && (first === null || s.first < first)) first = s.first;
    }
    return { wm: combineProgress(origins, frontier - this.idleMaxLagMs), first };
  }

  private progressOf(origin: string): OriginProgress {
    return (this.origins[origin] ??= { wm: NO_WATERMARK, idle: false, first: null });
  }
}
