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
import { CanonicalOrderBuffer, type CanonicalOrderBufferSnapshot } from '../operators/releaseBelowWatermark.js';
import { SourceOffsetDedupe, type SourceOffsetDedupeSnapshot } from '../operators/dedupeBySourceOffset.js';
import type { AllocatorInput, CategoryAudience, ContentEvent, HeatingRequest, TickTotals, UserInteraction } from '../schemas/types.js';
import type { VersionedCache } from '../state/versioned-cache.js';
import { NO_WATERMARK, SOURCE_TOPIC, sourceId, type TopologyNames } from './topology.js';
import type { Collector, InRecord, SourcePosition, StreamTask, TaskId, TaskSnapshot } from './task.js';
import type { StageTiming } from './user-task.js';

/** A buffered data record: the content event plus its event time. */
interface Pending {
  t: number;
  src: string;
  off: number;
  ev: ContentEvent;
}

interface SourceInfo {
  wm: number;
  idle: boolean;
  first: number | null;
}

interface ContentTaskMeta {
  next: number;
  sources: Record<string, SourceInfo>;
  dedupe: SourceOffsetDedupeSnapshot;
  buffer: CanonicalOrderBufferSnapshot<Pending>;
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

/** A source's marker moves its watermark (never back), idleness and first event time. */
function applyMarker(s: SourceInfo, m: NonNullable<ContentEvent['marker']>): void {
  if (m.watermark > s.wm) s.wm = m.watermark;
  s.idle = m.idle;
  if (m.first_event_time != null) s.first = s.first === null ? m.first_event_time : Math.min(s.first, m.first_event_time);
}
const emptyTotals = (): TickTotals => ({ impressions: 0, heated_impressions: 0, new_content_impressions: 0, new_content_clicks: 0 });
const NO_WM = NO_WATERMARK;

export class ContentTask implements StreamTask {
  readonly id: TaskId;
  private readonly meta: ContentTaskMeta;
  private readonly buffer: CanonicalOrderBuffer<Pending>;
  private readonly dedupe: SourceOffsetDedupe<ContentEvent>;
  private readonly expectedSources: string[];
  private readonly live: Set<string>;
  private readonly withOutcomes: Set<string>;
  private readonly changed = new Set<string>();

  constructor(
    partition: number,
    private readonly names: TopologyNames,
    inputPartitions: number,
    private readonly contents: VersionedCache<ContentAgentState>,
    private readonly cfg: AgentConfig,
    private readonly timing: StageTiming,
    private readonly seed: number,
    restoredMeta: string | null,
    private readonly requestPolicy?: HeatingRequestPolicy,
  ) {
    this.id = { stage: 'content', partition };
    this.expectedSources = [];
    for (let p = 0; p < inputPartitions; p++) {
      this.expectedSources.push(String(sourceId(SOURCE_TOPIC.interactions, p)), String(sourceId(SOURCE_TOPIC.published, p)));
    }
    const bufferOptions = { eventTimeOf: (r: Pending) => r.t, sourceOf: (r: Pending) => r.src, offsetOf: (r: Pending) => r.off };
    const dedupeOptions = { sourceOf: (e: ContentEvent) => String(e.source), offsetOf: (e: ContentEvent) => e.source_offset };
    if (restoredMeta) {
      this.meta = JSON.parse(restoredMeta) as ContentTaskMeta;
      this.buffer = CanonicalOrderBuffer.restore(bufferOptions, this.meta.buffer);
      this.dedupe = SourceOffsetDedupe.restore(dedupeOptions, this.meta.dedupe);
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
    this.live = new Set(this.meta.live);
    this.withOutcomes = new Set(this.meta.withOutcomes);
  }

  positions(): SourcePosition[] {
    return [{ topic: this.names.contentEvents, partition: this.id.partition, offset: this.meta.next }];
  }

  consumed(_topic: string, _partition: number, next: number): void {
    if (next > this.meta.next) this.meta.next = next;
  }

  /**
   * Contents of the batch; with markers, the buffered records' contents (the watermark may release
   * them) and, only when these markers can close a tick, every live content and every content
   * holding outcomes (read by closeTick). Exact: the tick decision depends only on the markers.
   */
  keysFor(batch: readonly InRecord[]): string[] {
    const keys = new Set<string>();
    let markers: ContentEvent[] | null = null;
    for (const r of batch) {
      const ev = r.value as ContentEvent;
      if (ev.interaction) keys.add(ev.interaction.content_id);
      else if (ev.published) keys.add(ev.published.content_id);
      else (markers ??= []).push(ev);
    }
    if (markers !== null) {
      for (const p of this.buffer.buffered()) keys.add(p.ev.interaction?.content_id ?? p.ev.published!.content_id);
      if (this.mayCloseTick(markers)) {
        for (const id of this.live) keys.add(id);
        for (const id of this.withOutcomes) keys.add(id);
      }
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
        sources[src] = s ? { ...s } : { wm: NO_WM, idle: false, first: null };
      }
      applyMarker(sources[src], ev.marker!);
    }
    const lim = this.limits(sources);
    if (lim === null) return false;
    const tickMs = this.timing.tickMs;
    const closed = this.meta.closed ?? Math.floor(lim.origin / tickMs) * tickMs;
    return closed + tickMs <= lim.ticks;
  }

  process(batch: readonly InRecord[], out: Collector): void {
    const data: Pending[] = [];
    for (const rec of batch) {
      this.meta.next = rec.offset + 1;
      const ev = rec.value as ContentEvent;
      if (ev.marker) {
        this.onMarker(String(ev.source), ev, out);
        continue;
      }
      if (!this.dedupe.accept(ev)) continue;
      const t = ev.interaction ? ev.interaction.event_time : ev.published!.published_at;
      data.push({ t, src: String(ev.source), off: ev.source_offset, ev });
    }
    for (const late of this.buffer.push(data)) {
      if (late.ev.published) this.apply(late, out); // catalogue updates are never dropped
      else {
        this.meta.late++;
        out.late(batch[0], `content stage: event_time ${late.t} behind applied watermark ${this.buffer.watermark}`);
      }
    }
    this.advance(out);
  }

  private onMarker(src: string, ev: ContentEvent, _out: Collector): void {
    const m = ev.marker!;
    applyMarker((this.meta.sources[src] ??= { wm: NO_WM, idle: false, first: null }), m);
    if (this.id.partition === 0) {
      for (const a of m.audience ?? []) (this.meta.audience[a.tick] ??= {})[src] = a.categories;
    }
  }

  /** Release and tick limits from the markers; null until every upstream source reported. */
  private limits(sources: Record<string, SourceInfo> = this.meta.sources): { release: number; ticks: number; origin: number } | null {
    let minActive = Infinity;
    let maxAny = NO_WM;
    let origin = Infinity;
    for (const src of this.expectedSources) {
      const s = sources[src];
      if (!s) return null;
      if (s.first !== null && s.first < origin) origin = s.first;
      if (s.wm > maxAny) maxAny = s.wm;
      if (!s.idle && s.wm < minActive) minActive = s.wm;
    }
    if (origin === Infinity) return null; // no source has data yet
    const { allowedLatenessMs, outOfOrdernessMs } = this.timing;
    if (minActive === Infinity) {
      // Every source idle: everything seen so far is complete (Flink's withIdleness trade-off).
      const maxSeen = maxAny + outOfOrdernessMs;
      return { release: maxSeen + 1, ticks: maxSeen, origin };
    }
    const w = minActive - allowedLatenessMs;
    return { release: w, ticks: w, origin };
  }

  private advance(out: Collector): void {
    const lim = this.limits();
    if (lim === null) return;
    const tickMs = this.timing.tickMs;
    let closed = this.meta.closed ?? Math.floor(lim.origin / tickMs) * tickMs;
    while (closed + tickMs <= lim.ticks) {
      const boundary: number = closed + tickMs;
      for (const p of this.buffer.release(boundary)) this.apply(p, out);
      this.closeTick(boundary, out);
      closed = boundary;
    }
    this.meta.closed = closed;
    for (const p of this.buffer.release(lim.release)) this.apply(p, out);
  }

  private apply(p: Pending, _out: Collector): void {
    if (p.ev.published) {
      const pub = p.ev.published;
      const s = applyPublished(this.contents.get(pub.content_id), { ...pub, creator_followers: pub.creator_followers ?? null }, this.cfg);
      this.contents.put(pub.content_id, s, s.version);
      this.changed.add(pub.content_id);
      if (!s.flagged) this.live.add(pub.content_id);
      return;
    }
    const i = p.ev.interaction!;
    const s = this.contents.get(i.content_id) ?? newContentState(i.content_id, i.category, this.cfg);
    applyContentInteraction(s, i as unknown as UserInteraction, i.suspect_clicker ?? false, this.cfg);
    this.contents.put(i.content_id, s, s.version);
    this.changed.add(i.content_id);
    if (i.heated && i.allocation_id) this.withOutcomes.add(i.content_id);
    const totals = this.meta.totals;
    totals.impressions++;
    if (i.heated) totals.heated_impressions++;
    if (i.is_new_content) {
      totals.new_content_impressions++;
      if (i.click) totals.new_content_clicks++;
    }
  }

  private closeTick(boundary: number, out: Collector): void {
    const requests: HeatingRequest[] = [];
    for (const id of [...this.live].sort()) {
      const s = this.contents.get(id);
      if (s === undefined) continue;
      const r = contentTick(s, boundary, this.seed, this.cfg, this.requestPolicy);
      if (r.changed) {
        this.contents.put(id, s, s.version);
        this.changed.add(id);
      }
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
        });
      }
      if (s.flagged || s.publishedAt === null || boundary - s.publishedAt > this.cfg.content.maxHeatingAgeMs) this.live.delete(id);
    }
    const outcomes = [];
    for (const id of [...this.withOutcomes].sort()) {
      const s = this.contents.get(id);
      if (s === undefined) continue;
      for (const o of drainAllocationOutcomes(s)) {
        outcomes.push({ allocation_id: o.allocation_id, content_id: o.content_id, impressions: o.impressions, clicks: o.clicks, completion_sum: o.completions, shares: o.shares });
      }
      // Draining changes the state: bump the version so a checkpoint never restores drained outcomes.
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
      };
      out.send({ topic: this.names.allocatorInput, schema: 'AllocatorInput', key: null, value, partition: 0 });
    }
    this.meta.totals = emptyTotals();
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
    for (const id of this.changed) {
      const s = this.contents.get(id);
      if (s) out.send({ topic: this.names.contentChangelog, schema: 'ContentState', key: id, value: toContentState(s) });
    }
    this.changed.clear();
  }

  snapshot(): TaskSnapshot {
    this.meta.buffer = this.buffer.snapshot();
    this.meta.dedupe = this.dedupe.snapshot();
    this.meta.live = [...this.live].sort();
    this.meta.withOutcomes = [...this.withOutcomes].sort();
    return { meta: JSON.stringify(this.meta), entries: this.contents.commit(), positions: this.positions() };
  }
}
