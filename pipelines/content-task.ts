// Stage 2 task for content-events partition c. Records from many upstream sources arrive
// interleaved in any order; the task makes the result independent of that order:
//   - replays of an upstream (after its restart) are dropped by source offset;
//   - records are buffered and applied in canonical order (event_time, source, offset) once the
//     in-band watermark W (min over non-idle sources of their markers) passes them;
//   - ticks close at boundaries T <= W, after every record < T was applied: feedback windows,
//     anti-cheat, heating requests (RNG keyed by content and T), then one AllocatorInput per
//     (partition, T) — chunked — to the allocator.
import type { AgentConfig } from '../agents/config.js';
import {
  applyContentInteraction,
  applyPublished,
  contentTick,
  drainAllocationOutcomes,
  newContentState,
  toContentState,
  type ContentAgentState,
  type HeatingRequestPolicy,
} from '../agents/content.js';
import {
  CanonicalOrderBuffer,
  type CanonicalOrderBufferSnapshot,
} from '../operators/releaseBelowWatermark.js';
import { SourceOffsetDedupe, type SourceOffsetDedupeSnapshot } from '../operators/dedupeBySourceOffset.js';
import { applyMarker, combineProgress, type SourceProgress } from '../operators/combineWatermarkMarkers.js';
import { EventTimeTicks } from '../operators/eventTimeTicks.js';
import { KeyedState } from '../operators/keyedStateUpdate.js';
import type {
  AllocatorInput,
  CategoryAudience,
  ContentEvent,
  HeatingRequest,
  TickTotals,
  UserInteraction,
} from '../schemas/types.js';
import { idleExpired } from '../state/expiry.js';
import type { VersionedCache } from '../state/versioned-cache.js';
import { NO_WATERMARK } from '../operators/types.js';
import { SOURCE_TOPIC, sourceId, sourceTopicIndex, type TopologyNames } from './topology.js';
import {
  type Collector,
  type InRecord,
  type SourcePosition,
  type StreamTask,
  type TaskId,
  type TaskSnapshot,
} from './task.js';
import { resolveTiming, type ResolvedTiming, type StageTiming } from './user-task.js';

/** A buffered data record: the content event plus its event time. */
interface Pending {
  t: number;
  src: string;
  off: number;
  ev: ContentEvent;
  /** Offset in content-events: a restore re-reads the buffered records from there (absent in records restored from an older snapshot). */
  ceo?: number;
}

type SourceInfo = SourceProgress;

interface ContentTaskMeta {
  next: number;
  sources: Record<string, SourceInfo>;
  dedupe: SourceOffsetDedupeSnapshot;
  /** The release watermark; `records` only in snapshots of older versions (see `pending`). */
  buffer: CanonicalOrderBufferSnapshot<Pending>;
  /**
   * Content-events offsets of the buffered records as [gap, length] runs (gap from the previous
   * run's end, the first from 0). The records themselves are not stored: restore seeks to the first
   * of them and re-reads them from Kafka, so a checkpoint costs bytes per run of offsets instead of
   * the whole buffer (MBs per commit while catching up).
   */
  pending?: number[];
  /** Boundary of the last closed tick; null until the tick origin is known. */
  closed: number | null;
  totals: TickTotals;
  /** Contents that may still request heating (published, not flagged, young enough). */
  live: string[];
  /** Contents holding undrained allocation outcomes. */
  withOutcomes: string[];
  /** Partition 0 only: audience per tick boundary, per user source. */
  audience: Record<string, Record<string, CategoryAudience[]>>;
  late: number;
}

const REQUESTS_PER_CHUNK = 1000;
/**
 * Work (closed ticks + heating requests sent) after which one call stops closing ticks and leaves
 * the rest as a backlog for the next call. A watermark jump over a whole catalogue's history (a
 * catalogue published weeks before the first interaction) otherwise sends every tick's requests in
 * one call: GBs in flight before the allocator reads any of them. A normal tick is never split.
 */
export const CONTENT_STEP_WORK = 20_000;

/** Sources whose records are interactions (their watermarks set the idle frontier). */
const carriesInteractions = (source: number): boolean => sourceTopicIndex(source) !== SOURCE_TOPIC.published;

const emptyTotals = (): TickTotals => ({
  impressions: 0,
  heated_impressions: 0,
  new_content_impressions: 0,
  new_content_clicks: 0,
});

export class ContentTask implements StreamTask {
  readonly id: TaskId;
  private readonly meta: ContentTaskMeta;
  private readonly buffer: CanonicalOrderBuffer<Pending>;
  private readonly dedupe: SourceOffsetDedupe<ContentEvent>;
  /** Tick boundaries closed so far (`meta.closed`): positioned at the first event time, then one per close. */
  private readonly ticks: EventTimeTicks;
  private readonly expectedSources: string[];
  private readonly live: Set<string>;
  private readonly withOutcomes: Set<string>;
  /** The contents' states: written through here, so the changelog carries every changed key. */
  private readonly state: KeyedState<ContentAgentState>;
  /** Content-cache evictions counted at the previous keysFor (-1: none yet). */
  private evictionsSeen = -1;
  /** Restored `pending` offsets not re-read yet; positions() returns `readPos` until it is empty. */
  private readonly toReplay = new Set<number>();
  private readPos: number;
  private readonly timing: ResolvedTiming;

  constructor(
    partition: number,
    private readonly names: TopologyNames,
    inputPartitions: number,
    private readonly contents: VersionedCache<ContentAgentState>,
    private readonly cfg: AgentConfig,
    timing: StageTiming,
    private readonly seed: number,
    restoredMeta: string | null,
    private readonly requestPolicy?: HeatingRequestPolicy,
    /** Called once per content anti-cheat flags (the flag is never lifted): a metric hook. */
    private readonly onFlagged?: () => void,
    /** Work (ticks closed + requests sent) per call; the rest of a catch-up is the backlog. */
    private readonly stepWork: number = CONTENT_STEP_WORK,
  ) {
    this.id = { stage: 'content', partition };
    this.timing = resolveTiming(timing);
    this.expectedSources = [];
    for (let p = 0; p < inputPartitions; p++) {
      this.expectedSources.push(
        String(sourceId(SOURCE_TOPIC.interactions, p)),
        String(sourceId(SOURCE_TOPIC.published, p)),
        String(sourceId(SOURCE_TOPIC.rekey, p)),
      );
    }
    const bufferOptions = {
      eventTimeOf: (r: Pending) => r.t,
      sourceOf: (r: Pending) => r.src,
      offsetOf: (r: Pending) => r.off,
    };
    const dedupeOptions = {
      sourceOf: (e: ContentEvent) => String(e.source),
      offsetOf: (e: ContentEvent) => e.source_offset,
    };
    if (restoredMeta) {
      this.meta = JSON.parse(restoredMeta) as ContentTaskMeta;
      this.buffer = CanonicalOrderBuffer.restore(bufferOptions, this.meta.buffer);
      this.dedupe = SourceOffsetDedupe.restore(dedupeOptions, this.meta.dedupe);
      for (const o of decodeRuns(this.meta.pending ?? [])) this.toReplay.add(o);
    } else {
      this.buffer = new CanonicalOrderBuffer(bufferOptions);
      this.dedupe = new SourceOffsetDedupe(dedupeOptions);
      this.meta = {
        next: 0,
        sources: {},
        dedupe: this.dedupe.snapshot(),
        buffer: this.buffer.snapshot(),
        closed: null,
        totals: emptyTotals(),
        live: [],
        withOutcomes: [],
        audience: {},
        late: 0,
      };
    }
    const closed = this.meta.closed;
    this.ticks =
      closed === null
        ? new EventTimeTicks({ tickMs: this.timing.tickMs })
        : EventTimeTicks.restore({ tickMs: this.timing.tickMs }, { lastTick: closed });
    this.state = new KeyedState(contents);
    this.live = new Set(this.meta.live);
    this.withOutcomes = new Set(this.meta.withOutcomes);
    this.readPos = this.meta.next;
    for (const o of this.toReplay) if (o < this.readPos) this.readPos = o;
  }

  /** The next offset to read: the first buffered record not re-read yet after a restore, else `next`. */
  positions(): SourcePosition[] {
    const offset = this.toReplay.size > 0 ? this.readPos : this.meta.next;
    return [{ topic: this.names.contentEvents, partition: this.id.partition, offset }];
  }

  consumed(_topic: string, _partition: number, next: number): void {
    if (next > this.meta.next) this.meta.next = next;
    if (next > this.readPos) this.readPos = next;
  }

  /**
   * Contents of the batch; with markers, the buffered records' contents (the watermark may release
   * them) and, only when these markers can close a tick, every live content and every content
   * holding outcomes (read by closeTick). Exact: the tick decision depends only on the markers.
   */
  keysFor(batch: readonly InRecord[]): string[] {
    const evictions = this.contents.stats().evictions;
    const keys = new Set<string>();
    if (this.backlog()) {
      // The backlog's ticks close before anything else (see process): every content they read.
      for (const id of this.live) keys.add(id);
      for (const id of this.withOutcomes) keys.add(id);
      for (const p of this.buffer.buffered())
        keys.add(p.ev.interaction?.content_id ?? p.ev.published!.content_id);
    }
    let markers: ContentEvent[] | null = null;
    for (const r of batch) {
      // Re-read after a restore: only the records going back into the buffer matter (a marker
      // later in this batch may release them at once).
      if (r.offset < this.meta.next && !this.toReplay.has(r.offset)) continue;
      const ev = r.value as ContentEvent;
      if (ev.interaction) keys.add(ev.interaction.content_id);
      else if (ev.published) keys.add(ev.published.content_id);
      else (markers ??= []).push(ev);
    }
    if (markers !== null) {
      if (this.mayCloseTick(markers)) {
        for (const id of this.live) keys.add(id);
        for (const id of this.withOutcomes) keys.add(id);
      }
      // Buffered records' contents were made resident when they arrived and stay so unless an
      // ensureLoaded evicted since. With no eviction since the last batch (any eviction re-lists
      // them all, which protects and reloads them) and none possible in this one (its keys fit),
      // they need no re-listing: otherwise a scan of the whole buffer on every batch.
      if (evictions !== this.evictionsSeen || !this.contents.fits(keys.size)) {
        for (const p of this.buffer.buffered())
          keys.add(p.ev.interaction?.content_id ?? p.ev.published!.content_id);
      }
      // Only a batch that re-listed (or did not need to) acknowledges the evictions so far: a
      // marker-less batch must not swallow an eviction the next marker batch has to repair.
      this.evictionsSeen = evictions;
    }
    return [...keys];
  }

  /** Would applying these markers (in order) let advance() close at least one tick? */
  private mayCloseTick(markers: readonly ContentEvent[]): boolean {
    const sources: Record<string, SourceInfo> = { ...this.meta.sources };
    const copied = new Set<string>();
    for (const ev of markers) {
      const src = String(ev.source);
      if (!copied.has(src)) {
        copied.add(src);
        const s = sources[src];
        sources[src] = s ? { ...s } : { wm: NO_WATERMARK, idle: false, first: null };
      }
      applyMarker(sources[src], ev.marker!);
    }
    const lim = this.limits(sources);
    return lim !== null && this.ticks.nextFrom(lim.origin) <= lim.w;
  }

  /**
   * True while ticks below the watermark are left to close (a previous call stopped after its
   * step of work): the runtime calls `process([])` until it is false, letting the allocator
   * read each step's requests in between.
   */
  backlog(): boolean {
    if (this.toReplay.size > 0) return false; // buffered records are still being re-read
    const lim = this.limits();
    if (lim === null) return false;
    return this.ticks.nextFrom(lim.origin) <= lim.w || this.buffer.watermark < lim.w;
  }

  process(batch: readonly InRecord[], out: Collector): void {
    if (batch.length === 0) {
      if (this.backlog()) this.advance(out, this.stepWork);
      return;
    }
    const data: Pending[] = [];
    let fresh = false;
    for (const rec of batch) {
      if (rec.offset < this.meta.next) {
        // Read again after a restore: the records the checkpoint left buffered go back into the
        // buffer as they were (dedupe and markers already counted them); the rest was applied.
        if (this.toReplay.delete(rec.offset)) this.buffer.push([this.pendingOf(rec)]);
        continue;
      }
      // New records meet the watermark a one-call close would have left: the backlog goes first
      // (re-read records come before any new one, so none is still missing from the buffer).
      if (!fresh && this.backlog()) this.advance(out, Infinity);
      fresh = true;
      this.meta.next = rec.offset + 1;
      const ev = rec.value as ContentEvent;
      if (ev.marker) {
        this.onMarker(String(ev.source), ev, out);
        continue;
      }
      if (!this.dedupe.accept(ev)) continue;
      data.push(this.pendingOf(rec));
    }
    if (!fresh) return; // only re-read records: nothing new to release or close
    for (const late of this.buffer.push(data)) {
      if (late.ev.published)
        this.apply(late, out); // catalogue updates are never dropped
      else {
        this.meta.late++;
        // The late record itself, as read (its content-events coordinates; the source ones are in the value).
        out.late(
          batch.find((r) => r.offset === late.ceo)!,
          `content stage: event_time ${late.t} behind applied watermark ${this.buffer.watermark}`,
        );
      }
    }
    this.advance(out, this.stepWork);
  }

  private pendingOf(rec: InRecord): Pending {
    const ev = rec.value as ContentEvent;
    const t = ev.interaction ? ev.interaction.event_time : ev.published!.published_at;
    return { t, src: String(ev.source), off: ev.source_offset, ev, ceo: rec.offset };
  }

  private onMarker(src: string, ev: ContentEvent, _out: Collector): void {
    const m = ev.marker!;
    applyMarker((this.meta.sources[src] ??= { wm: NO_WATERMARK, idle: false, first: null }), m);
    if (this.id.partition === 0) {
      for (const a of m.audience ?? []) (this.meta.audience[a.tick] ??= {})[src] = a.categories;
    }
  }

  /**
   * The release limit W from the markers (null until every upstream source reported and some has
   * data): ticks close at boundaries <= W, records with event_time < W are applied.
   *
   * W = min over sources of their effective watermark, minus allowed lateness. An active source
   * counts with its own watermark. An idle one (its partition confirmed at the broker's end) with
   * at most `idleMaxLagMs` behind the highest interaction watermark M, never below its own: a
   * quiet partition does not hold the content stage back more than that, and with every source
   * idle nothing moves past what each source itself promised (no wall-clock jump past buffered
   * data). So for input in order within each partition whose records arrive no further behind M
   * than the lag, idleness never changes the result: see docs/ARCHITECTURE.md "Idleness".
   */
  private limits(
    sources: Record<string, SourceInfo> = this.meta.sources,
  ): { w: number; origin: number } | null {
    let frontier = NO_WATERMARK;
    let origin = Infinity;
    const list: SourceInfo[] = [];
    for (const src of this.expectedSources) {
      const s = sources[src];
      if (!s) return null;
      list.push(s);
      if (s.first !== null && s.first < origin) origin = s.first;
      if (s.wm > frontier && carriesInteractions(Number(src))) frontier = s.wm;
    }
    if (origin === Infinity) return null; // no source has data yet
    const w = combineProgress(
      list,
      frontier === NO_WATERMARK ? NO_WATERMARK : frontier - this.timing.idleMaxLagMs,
    );
    if (w <= NO_WATERMARK) return null;
    return { w: w - this.timing.allowedLatenessMs, origin };
  }

  /**
   * Closes the ticks up to W and applies the records below it, or stops at a tick boundary once
   * `maxWork` (ticks closed + requests sent) is spent: the rest is the backlog, closed by later
   * calls in the same order, so the outputs are the same as in one call.
   */
  private advance(out: Collector, maxWork: number): void {
    const lim = this.limits();
    if (lim === null) return;
    const ticks = this.ticks;
    ticks.positionAt(lim.origin);
    let skipped = false;
    let work = 0;
    for (
      let boundary = ticks.nextFrom(lim.origin);
      boundary <= lim.w;
      boundary = ticks.nextFrom(lim.origin)
    ) {
      if (work >= maxWork) {
        this.meta.closed = ticks.last; // the rest is the backlog
        return;
      }
      if (this.quiet()) {
        // Empty ticks (nothing to apply, request, drain or forward) are skipped in one step, so an
        // event-time jump costs O(1), not one closeTick per minute in between. Which ticks are empty
        // depends only on the data, so the skipped set is the same for any batching or restart.
        boundary = this.nextBusyBoundary(boundary);
        if (boundary > lim.w) {
          ticks.emitThrough(Math.floor(lim.w / ticks.tickMs) * ticks.tickMs);
          skipped = true;
          break;
        }
      }
      for (const p of this.buffer.release(boundary)) this.apply(p, out);
      work += 1 + this.closeTick(boundary, out);
      ticks.emitThrough(boundary);
    }
    const closed = ticks.last;
    this.meta.closed = closed;
    // The allocator must still learn that this partition is done up to `closed`: a zero-chunk
    // contribution says "nothing for any tick <= closed" (the allocator never runs empty ticks).
    if (skipped)
      out.send({
        topic: this.names.allocatorInput,
        schema: 'AllocatorInput',
        key: null,
        value: this.progressRecord(closed),
        partition: 0,
      });
    for (const p of this.buffer.release(lim.w)) this.apply(p, out);
  }

  /** No state that a tick close reads: no live content, no outcomes to drain, no applied impressions. */
  private quiet(): boolean {
    const t = this.meta.totals;
    return (
      this.live.size === 0 &&
      this.withOutcomes.size === 0 &&
      t.impressions === 0 &&
      t.heated_impressions === 0 &&
      t.new_content_impressions === 0 &&
      t.new_content_clicks === 0
    );
  }

  /** While quiet: the first boundary >= from that releases a buffered record or carries an audience. */
  private nextBusyBoundary(from: number): number {
    const tickMs = this.timing.tickMs;
    let next = Infinity;
    const minT = this.buffer.minEventTime();
    if (minT !== Infinity) next = Math.floor(minT / tickMs) * tickMs + tickMs;
    if (this.id.partition === 0) {
      for (const t of Object.keys(this.meta.audience)) {
        const b = Number(t);
        if (b >= from && b < next) next = b;
      }
    }
    return Math.max(from, next);
  }

  private progressRecord(tick: number): AllocatorInput {
    return {
      source: this.id.partition,
      tick,
      chunk: 0,
      chunks: 0,
      requests: [],
      totals: emptyTotals(),
      outcomes: [],
      audience: [],
      control: null, // as it decodes (local hop): tick records are no control records
    };
  }

  private apply(p: Pending, _out: Collector): void {
    if (p.ev.published) {
      const pub = p.ev.published;
      const s = applyPublished(
        this.stateFor(pub.content_id, pub.category, pub.published_at),
        { ...pub, creator_followers: pub.creator_followers ?? null },
        this.cfg,
      );
      this.state.put(pub.content_id, s, s.version);
      if (!s.flagged) this.live.add(pub.content_id);
      return;
    }
    const i = p.ev.interaction!;
    const s = this.stateFor(i.content_id, i.category, i.event_time);
    applyContentInteraction(s, i as unknown as UserInteraction, i.suspect_clicker ?? false, this.cfg);
    this.state.put(i.content_id, s, s.version);
    if (i.heated && i.allocation_id) this.withOutcomes.add(i.content_id);
    const totals = this.meta.totals;
    totals.impressions++;
    if (i.heated) totals.heated_impressions++;
    if (i.is_new_content) {
      totals.new_content_impressions++;
      if (i.click) totals.new_content_clicks++;
    }
  }

  /**
   * The content's state for an update at event time `at`. A content seen for the first time, or
   * idle past state.contentIdleTtlMs (as when Redis no longer holds its key), starts fresh with
   * its versions counted from `at`: they keep increasing across an expiry, and a resident, a
   * reloaded and an expired state get the same version (a count of updates stays far below the
   * milliseconds of an idle TTL).
   */
  private stateFor(id: string, category: string, at: number): ContentAgentState {
    const s = this.contents.get(id);
    if (s !== undefined && !idleExpired(s.updatedAt, at, this.timing.contentIdleTtlMs)) return s;
    return {
      ...newContentState(id, s?.category ?? category, this.cfg),
      version: Math.max(s?.version ?? 0, at - 1),
    };
  }

  /** Closes one tick; returns the number of heating requests sent. */
  private closeTick(boundary: number, out: Collector): number {
    const requests: HeatingRequest[] = [];
    for (const id of [...this.live].sort()) {
      const s = this.contents.get(id);
      if (s === undefined) continue;
      const r = contentTick(s, boundary, this.seed, this.cfg, this.requestPolicy);
      if (r.flagged) this.onFlagged?.();
      if (r.changed) this.state.put(id, s, s.version);
      if (r.request) {
        const q = r.request;
        requests.push({
          content_id: q.content_id,
          creator_id: q.creator_id,
          category: q.category,
          quality_score: q.quality,
          creator_followers: q.creator_followers,
          published_at: q.published_at,
          exposure: q.exposure,
          clicks: s.clicks,
          ctr: q.ctr,
          window_ctr: s.windowCtr,
          engaged_rate: q.engaged_rate,
          heating_budget: q.budget,
          requested_impressions: q.requested_impressions,
          bid_price: q.bid_price,
          heated_impressions: q.heated_impressions,
          completion_sum: q.completion_sum,
          shares: q.shares,
        });
      }
      if (s.flagged || s.publishedAt === null || boundary - s.publishedAt > this.cfg.content.maxHeatingAgeMs)
        this.live.delete(id);
    }
    const outcomes = [];
    for (const id of [...this.withOutcomes].sort()) {
      const s = this.contents.get(id);
      if (s === undefined) continue;
      for (const o of drainAllocationOutcomes(s)) {
        outcomes.push({
          allocation_id: o.allocation_id,
          content_id: o.content_id,
          impressions: o.impressions,
          clicks: o.clicks,
          completion_sum: o.completions,
          shares: o.shares,
        });
      }
      // Draining changes the state: bump the version so a checkpoint never restores drained
      // outcomes. Written to the store only: the changelog's ContentState carries no outcomes.
      s.version += 1;
      this.contents.put(id, s, s.version);
    }
    this.withOutcomes.clear();
    const audience = this.id.partition === 0 ? this.takeAudience(boundary) : [];
    const chunks = Math.max(1, Math.ceil(requests.length / REQUESTS_PER_CHUNK));
    for (let c = 0; c < chunks; c++) {
      const value: AllocatorInput = {
        source: this.id.partition,
        tick: boundary,
        chunk: c,
        chunks,
        requests: requests.slice(c * REQUESTS_PER_CHUNK, (c + 1) * REQUESTS_PER_CHUNK),
        totals: c === 0 ? this.meta.totals : emptyTotals(),
        outcomes: c === 0 ? outcomes : [],
        audience: c === 0 ? audience : [],
        control: null,
      };
      out.send({
        topic: this.names.allocatorInput,
        schema: 'AllocatorInput',
        key: null,
        value,
        partition: 0,
      });
    }
    this.meta.totals = emptyTotals();
    return requests.length;
  }

  /** Sums the user sources' audience of one tick (partition 0 forwards it to the allocator). */
  private takeAudience(boundary: number): CategoryAudience[] {
    const bySource = this.meta.audience[boundary];
    delete this.meta.audience[boundary];
    for (const t of Object.keys(this.meta.audience)) if (Number(t) < boundary) delete this.meta.audience[t];
    if (!bySource) return [];
    const sum = new Map<string, CategoryAudience>();
    for (const src of Object.keys(bySource).sort()) {
      for (const c of bySource[src]) {
        const acc = sum.get(c.category) ?? { category: c.category, active: 0, high_curiosity: 0 };
        acc.active += c.active;
        acc.high_curiosity += c.high_curiosity;
        sum.set(c.category, acc);
      }
    }
    return [...sum.values()].sort((a, b) => (a.category < b.category ? -1 : a.category > b.category ? 1 : 0));
  }

  setIdle(): void {
    // Idleness of content-events partitions is irrelevant: watermarks come in-band from stage 1.
  }

  flushChangelog(out: Collector): void {
    this.state.flushChanged((key, s) =>
      out.send({ topic: this.names.contentChangelog, schema: 'ContentState', key, value: toContentState(s) }),
    );
  }

  snapshot(): TaskSnapshot {
    // Offsets of the buffered records (plus those restored but not re-read yet), not the records.
    const offsets = [...this.toReplay];
    let legacy = false;
    for (const p of this.buffer.buffered()) {
      if (p.ceo === undefined) {
        legacy = true; // restored from an older snapshot: those records exist only in memory
        break;
      }
      offsets.push(p.ceo);
    }
    if (legacy) {
      this.meta.buffer = this.buffer.snapshot();
      delete this.meta.pending;
    } else {
      this.meta.buffer = { releasedUpTo: this.buffer.watermark, records: [] };
      this.meta.pending = encodeRuns(offsets);
    }
    this.meta.dedupe = this.dedupe.snapshot();
    this.meta.live = [...this.live].sort();
    this.meta.withOutcomes = [...this.withOutcomes].sort();
    // Resume (and commit to Kafka) from the first buffered record: a restore re-reads from there.
    let resume = this.meta.next;
    if (!legacy) for (const o of offsets) if (o < resume) resume = o;
    const positions = [{ topic: this.names.contentEvents, partition: this.id.partition, offset: resume }];
    return { meta: JSON.stringify(this.meta), entries: this.contents.commit(), positions };
  }
}

/** Sorted offsets → [gap, length] runs (gap from the previous run's end, the first from 0). */
export function encodeRuns(offsets: number[]): number[] {
  offsets.sort((a, b) => a - b);
  const out: number[] = [];
  let end = 0;
  for (let i = 0; i < offsets.length;) {
    let j = i + 1;
    while (j < offsets.length && offsets[j] === offsets[j - 1] + 1) j++;
    out.push(offsets[i] - end, j - i);
    end = offsets[j - 1] + 1;
    i = j;
  }
  return out;
}

export function decodeRuns(runs: readonly number[]): number[] {
  const out: number[] = [];
  let end = 0;
  for (let i = 0; i + 1 < runs.length; i += 2) {
    const start = end + runs[i];
    for (let k = 0; k < runs[i + 1]; k++) out.push(start + k);
    end = start + runs[i + 1];
  }
  return out;
}
