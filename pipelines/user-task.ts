// Stage 1 task for input partition p: applies interactions of user-interactions[p] to user mind
// state (user agent), forwards them re-keyed by content_id with the anti-cheat bit, forwards
// content-published[p] the same way, decides lateness against p's own watermark (so the
// decision depends only on p's order: deterministic), cuts per-tick audience aggregates where
// p's watermark crosses a tick, and broadcasts watermark markers to every content partition.
import type { AgentConfig } from '../agents/config.js';
import { countAudience, emptyAudience, type AudienceAggregate } from '../agents/audience.js';
import { applyUserInteraction, newUserState, toUserMindState, type UserAgentState } from '../agents/user.js';
import { applyExplorePolicy } from '../agents/explore.js';
import type { ExplorePolicy } from '../agents/scorer.js';
import type { ContentEvent, ContentPublished, TickAudience, UserInteraction } from '../schemas/types.js';
import type { TaskCache } from '../state/versioned-cache.js';
import { NO_WATERMARK, SOURCE_TOPIC, sourceId, type TopologyNames } from './topology.js';
import type { Collector, InRecord, SourcePosition, StreamTask, TaskId, TaskSnapshot } from './task.js';

export interface StageTiming {
  tickMs: number;
  outOfOrdernessMs: number;
  allowedLatenessMs: number;
}

/** Per-source watermark bookkeeping of a stage-1 input partition. */
interface SourceClock {
  next: number; // next offset to read
  maxT: number; // max event time seen (-Infinity: none)
  first: number | null; // first event time seen
  idle: boolean;
}

interface UserTaskMeta {
  ui: SourceClock;
  cp: SourceClock;
  /** Tick whose audience is being accumulated (tick of ui's watermark), and its counts. */
  aTick: number;
  audience: AudienceAggregate;
  /** Completed ticks' audiences not yet sent on a marker to content partition 0. */
  pendingAudience: TickAudience[];
}

const freshClock = (): SourceClock => ({ next: 0, maxT: -Infinity, first: null, idle: false });

export class UserTask implements StreamTask {
  readonly id: TaskId;
  private meta: UserTaskMeta;
  private readonly uiSource: number;
  private readonly cpSource: number;
  private readonly changed = new Set<string>();

  constructor(
    partition: number,
    private readonly names: TopologyNames,
    private readonly contentPartitions: number,
    private readonly users: TaskCache<UserAgentState>,
    private readonly cfg: AgentConfig,
    private readonly timing: StageTiming,
    restoredMeta: string | null,
    /** A learned explore policy, called once per micro-batch; undefined: the rule (per interaction). */
    private readonly explore?: () => ExplorePolicy,
  ) {
    this.id = { stage: 'user', partition };
    this.uiSource = sourceId(SOURCE_TOPIC.interactions, partition);
    this.cpSource = sourceId(SOURCE_TOPIC.published, partition);
    this.meta = restoredMeta
      ? reviveMeta(JSON.parse(restoredMeta))
      : { ui: freshClock(), cp: freshClock(), aTick: -1, audience: emptyAudience(), pendingAudience: [] };
  }

  positions(): SourcePosition[] {
    return [
      { topic: this.names.interactions, partition: this.id.partition, offset: this.meta.ui.next },
      { topic: this.names.published, partition: this.id.partition, offset: this.meta.cp.next },
    ];
  }

  consumed(topic: string, partition: number, next: number): void {
    if (partition !== this.id.partition) return;
    const clock = topic === this.names.interactions ? this.meta.ui : this.meta.cp;
    if (next > clock.next) clock.next = next;
  }

  keysFor(batch: readonly InRecord[]): string[] {
    if (batch.length === 0 || batch[0].topic !== this.names.interactions) return [];
    const keys = new Set<string>();
    for (const r of batch) keys.add((r.value as UserInteraction).user_id);
    return [...keys];
  }

  process(batch: readonly InRecord[], out: Collector): void {
    if (batch.length === 0) return;
    if (batch[0].topic === this.names.interactions)
      this.processInteractions(batch as readonly InRecord<UserInteraction>[], out);
    else this.processPublished(batch as readonly InRecord<ContentPublished>[], out);
  }

  private watermark(c: SourceClock): number {
    return c.maxT - this.timing.outOfOrdernessMs;
  }

  private processInteractions(batch: readonly InRecord<UserInteraction>[], out: Collector): void {
    const clock = this.meta.ui;
    const { allowedLatenessMs, tickMs } = this.timing;
    const highCuriosity = this.cfg.user.highCuriosity;
    clock.idle = false;
    // Learned explore policy: the batch's states are kept here and stored once, after the batched call.
    const touched = this.explore ? new Map<string, { state: UserAgentState; offset: number }>() : null;
    for (const rec of batch) {
      clock.next = rec.offset + 1;
      const ev = rec.value;
      if (ev.event_time < this.watermark(clock) - allowedLatenessMs) {
        out.late(
          rec,
          `event_time ${ev.event_time} behind watermark ${this.watermark(clock)} beyond allowed lateness ${allowedLatenessMs} ms`,
        );
        continue;
      }
      if (clock.first === null) clock.first = ev.event_time;
      if (ev.event_time > clock.maxT) {
        clock.maxT = ev.event_time;
        this.rollAudience(Math.floor(this.watermark(clock) / tickMs));
      }
      let state = touched?.get(ev.user_id)?.state ?? this.users.get(ev.user_id);
      if (state === undefined) state = newUserState(ev.user_id, this.cfg);
      const outcome = applyUserInteraction(state, ev, rec.offset, this.cfg);
      if (!outcome.applied) continue;
      // Audience marks are part of the state: counted before put (the store keeps a copy).
      countAudience(
        state,
        this.meta.audience,
        ev.category,
        this.meta.aTick,
        state.curiosity >= highCuriosity,
      );
      if (touched) touched.set(ev.user_id, { state, offset: rec.offset });
      else this.users.put(ev.user_id, state, rec.offset);
      this.changed.add(ev.user_id);
      const forwarded: ContentEvent = {
        source: this.uiSource,
        source_offset: rec.offset,
        interaction: {
          event_id: ev.event_id,
          user_id: ev.user_id,
          content_id: ev.content_id,
          category: ev.category,
          event_time: ev.event_time,
          click: ev.click,
          dwell_ms: ev.dwell_ms,
          completion: ev.completion,
          shared: ev.shared,
          is_new_content: ev.is_new_content,
          heated: ev.heated,
          allocation_id: ev.allocation_id ?? null,
          suspect_clicker: outcome.suspectClicker,
        },
        published: null,
        marker: null,
      };
      out.send({
        topic: this.names.contentEvents,
        schema: 'ContentEvent',
        key: ev.content_id,
        value: forwarded,
      });
    }
    if (touched && touched.size > 0) this.applyExplore(touched);
    this.sendMarker(this.uiSource, clock, out, true);
  }

  private processPublished(batch: readonly InRecord<ContentPublished>[], out: Collector): void {
    const clock = this.meta.cp;
    clock.idle = false;
    for (const rec of batch) {
      clock.next = rec.offset + 1;
      const p = rec.value;
      // Publications are catalogue updates: never dropped as late (the content stage applies a
      // publication behind its watermark immediately), so only the watermark is tracked here.
      if (clock.first === null) clock.first = p.published_at;
      if (p.published_at > clock.maxT) clock.maxT = p.published_at;
      const forwarded: ContentEvent = {
        source: this.cpSource,
        source_offset: rec.offset,
        interaction: null,
        published: {
          content_id: p.content_id,
          creator_id: p.creator_id,
          category: p.category,
          quality_score: p.quality_score,
          published_at: p.published_at,
          creator_followers: p.creator_followers ?? null,
        },
        marker: null,
      };
      out.send({
        topic: this.names.contentEvents,
        schema: 'ContentEvent',
        key: p.content_id,
        value: forwarded,
      });
    }
    this.sendMarker(this.cpSource, clock, out, false);
  }

  /** Closes audience ticks up to (not including) `tick`, the tick now holding the watermark. */
  private rollAudience(tick: number): void {
    const m = this.meta;
    if (m.aTick === -1) {
      m.aTick = tick;
      return;
    }
    if (m.aTick < tick) {
      const categories = Object.keys(m.audience.active)
        .sort()
        .map((category) => ({
          category,
          active: m.audience.active[category] ?? 0,
          high_curiosity: m.audience.curious[category] ?? 0,
        }));
      // Keyed by the tick's closing boundary, as everything downstream. Only the tick that held the
      // watermark can have an audience; the ticks a jump crosses are empty and are not sent (the
      // content stage reads a missing audience as an empty one), so a jump costs O(1).
      if (categories.length > 0)
        m.pendingAudience.push({ tick: (m.aTick + 1) * this.timing.tickMs, categories });
      m.audience = emptyAudience();
      m.aTick = tick;
    }
  }

  /**
   * A heartbeat: promises that no record with event time below `t` follows on this task's
   * sources, so their watermarks move to `t` (the simulator's clock, or a producer's heartbeat).
   */
  advanceWatermark(t: number, out: Collector): void {
    const pairs: [SourceClock, number, boolean][] = [
      [this.meta.ui, this.uiSource, true],
      [this.meta.cp, this.cpSource, false],
    ];
    for (const [clock, source, isUi] of pairs) {
      if (this.watermark(clock) >= t) continue;
      clock.maxT = t + this.timing.outOfOrdernessMs;
      if (isUi) this.rollAudience(Math.floor(this.watermark(clock) / this.timing.tickMs));
      this.sendMarker(source, clock, out, isUi);
    }
  }

  setIdle(topic: string, partition: number, idle: boolean, out: Collector): void {
    if (partition !== this.id.partition) return;
    const isUi = topic === this.names.interactions;
    const clock = isUi ? this.meta.ui : this.meta.cp;
    if (clock.idle === idle) return;
    clock.idle = idle;
    this.sendMarker(isUi ? this.uiSource : this.cpSource, clock, out, isUi);
  }

  private sendMarker(source: number, clock: SourceClock, out: Collector, withAudience: boolean): void {
    const watermark = Number.isFinite(clock.maxT) ? this.watermark(clock) : NO_WATERMARK;
    for (let p = 0; p < this.contentPartitions; p++) {
      const audience = withAudience && p === 0 ? this.meta.pendingAudience : [];
      const marker: ContentEvent = {
        source,
        source_offset: clock.next - 1,
        interaction: null,
        published: null,
        marker: { watermark, idle: clock.idle, first_event_time: clock.first, audience },
      };
      out.send({
        topic: this.names.contentEvents,
        schema: 'ContentEvent',
        key: null,
        value: marker,
        partition: p,
      });
    }
    if (withAudience) this.meta.pendingAudience = [];
  }

  /** One batched explore-policy call for the users this micro-batch changed (sorted: deterministic rows), then stored. */
  private applyExplore(touched: ReadonlyMap<string, { state: UserAgentState; offset: number }>): void {
    const ids = [...touched.keys()].sort();
    const entries = ids.map((id) => touched.get(id)!);
    applyExplorePolicy(
      entries.map((e) => e.state),
      this.explore!(),
    );
    entries.forEach((e, i) => this.users.put(ids[i], e.state, e.offset));
  }

  flushChangelog(out: Collector): void {
    for (const userId of this.changed) {
      const state = this.users.get(userId);
      if (state)
        out.send({
          topic: this.names.userChangelog,
          schema: 'UserMindState',
          key: userId,
          value: toUserMindState(state, this.cfg),
        });
    }
    this.changed.clear();
  }

  snapshot(): TaskSnapshot {
    return {
      meta: JSON.stringify(this.meta, (_k, v) => (v === -Infinity ? '-Infinity' : v)),
      entries: this.users.commit(),
      positions: this.positions(),
    };
  }
}

function reviveMeta(m: UserTaskMeta): UserTaskMeta {
  for (const c of [m.ui, m.cp]) if ((c.maxT as unknown) === '-Infinity') c.maxT = -Infinity;
  return m;
}
