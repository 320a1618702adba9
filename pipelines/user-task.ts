// Stage 1 task for input partition p: applies interactions of user-interactions[p] to user mind
// state (user agent), forwards them re-keyed by content_id with the anti-cheat bit, forwards
// content-published[p] the same way, decides lateness against p's own watermark (so the
// decision depends only on p's order: deterministic), cuts per-tick audience aggregates where
// p's watermark crosses a tick, and broadcasts watermark markers to every content partition.
//
// Hostile input: a record whose event time is too far ahead goes to the DLQ or is clamped
// (`maxAheadMs`), so no single record moves the watermark beyond that bound; an interaction in a
// partition its user_id does not hash to is re-routed through the user re-key topic to the task
// owning the user (or sent to the DLQ), so a user never has two states.
import type { AgentConfig } from '../agents/config.js';
import { countAudience, emptyAudience, type AudienceAggregate } from '../agents/audience.js';
import { applyUserInteraction, newUserState, toUserMindState, type UserAgentState } from '../agents/user.js';
import { applyExplorePolicy } from '../agents/explore.js';
import type { ExplorePolicy } from '../agents/scorer.js';
import { IDLE_TTL, INPUT_BOUNDS } from '../core/config.js';
import { ThermostatError } from '../core/errors.js';
import type { ContentEvent, ContentPublished, TickAudience, UserInteraction } from '../schemas/types.js';
import { idleExpired } from '../state/expiry.js';
import type { TaskCache } from '../state/versioned-cache.js';
import { originHeaders, rekeyMarkerHeaders, RekeyInbox, type OriginProgress } from './rekey.js';
import { isBehind, NO_WATERMARK } from '../operators/types.js';
import { observeEventTime, sourceWatermark, type EventTimeClock } from '../operators/withWatermarks.js';
import { EventTimeTicks } from '../operators/eventTimeTicks.js';
import { KeyedState } from '../operators/keyedStateUpdate.js';
import { fastPartition, SOURCE_TOPIC, sourceId, type TopologyNames } from './topology.js';
import {
  type Collector,
  InRecord,
  OutRecord,
  SourcePosition,
  StreamTask,
  TaskId,
  TaskSnapshot,
} from './task.js';

export interface StageTiming {
  tickMs: number;
  outOfOrdernessMs: number;
  allowedLatenessMs: number;
  /** Config watermark.idleMaxLagMs (content stage). */
  idleMaxLagMs?: number;
  /** Config watermark.maxAheadMs. */
  maxAheadMs?: number;
  /** Config watermark.aheadPolicy. */
  aheadPolicy?: 'dlq' | 'clamp';
  /** Config state.userIdleTtlMs: event-time idleness after which a user's state starts over (0: never). */
  userIdleTtlMs?: number;
  /** Config state.contentIdleTtlMs: the same for a content. */
  contentIdleTtlMs?: number;
}

export type ResolvedTiming = Required<StageTiming>;

export function resolveTiming(t: StageTiming): ResolvedTiming {
  return {
    idleMaxLagMs: INPUT_BOUNDS.idleMaxLagMs,
    maxAheadMs: INPUT_BOUNDS.maxAheadMs,
    aheadPolicy: INPUT_BOUNDS.aheadPolicy,
    ...IDLE_TTL,
    ...t,
  };
}

/** What the user stage does with an interaction in a partition its user_id does not hash to. */
export type PartitionMismatchPolicy = 'reroute' | 'dlq';

/** Per-source watermark bookkeeping of a stage-1 input partition (max event time -Infinity: none). */
interface SourceClock extends EventTimeClock {
  next: number; // next offset to read
}

interface UserTaskMeta {
  ui: SourceClock;
  cp: SourceClock;
  /**
   * The re-key partition (absent in snapshots of older versions). Its watermark is not its own:
   * the min over origin partitions of what their markers on it said (`rkFrom`).
   */
  rk?: SourceClock;
  /** Per origin partition: its interaction watermark, idleness and first event time, as its re-key markers said. */
  rkFrom?: Record<string, OriginProgress>;
  /** Per origin partition, the last origin offset applied (replays of an origin are dropped). */
  rkOrigins?: Record<string, number>;
  /**
   * Tick whose audience is being accumulated (index of the tick holding ui's watermark; -1: none),
   * and its counts.
   */
  aTick: number;
  audience: AudienceAggregate;
  /** Completed ticks' audiences not yet sent on a marker to content partition 0. */
  pendingAudience: TickAudience[];
}

const EMPTY = Buffer.alloc(0);
/** Version base of a re-routed interaction: the next version of its user's state. */
const REKEYED_BASE = -1;

const freshClock = (): SourceClock => ({ next: 0, maxT: -Infinity, first: null, idle: false });

/**
 * One output position held while records are parked (see `processDegraded`): an output as
 * produced, a parked record whose outputs are produced when it is applied, or a marker, built
 * when sent (its audiences may still grow from parked records of their tick).
 */
type Held =
  | { kind: 'send'; record: OutRecord }
  | { kind: 'parked'; rec: InRecord<UserInteraction>; base: number; aTick: number; source: number }
  | { kind: 'marker'; source: number; clock: SourceClock; audience: HeldAudience[] };

/** A tick's audience aggregate rolled while holding: still open to parked records of that tick. */
interface HeldAudience {
  aTick: number;
  agg: AudienceAggregate;
}

export interface UserTaskOptions {
  partitionMismatch?: PartitionMismatchPolicy;
  /** A record was found in the wrong partition (metric hook). */
  onMisrouted?: (topic: string) => void;
}

export class UserTask implements StreamTask {
  readonly id: TaskId;
  private meta: UserTaskMeta & {
    rk: SourceClock;
    rkOrigins: Record<string, number>;
    rkFrom: Record<string, OriginProgress>;
  };
  private readonly rekey: RekeyInbox;
  private readonly uiSource: number;
  private readonly cpSource: number;
  private readonly rkSource: number;
  /** The users' states: written through here, so the changelog carries every changed user. */
  private readonly state: KeyedState<UserAgentState>;
  private readonly timing: ResolvedTiming;
  /** The audience ticks of ui's watermark (`meta.aTick` is its last tick, as an index). */
  private ticks: EventTimeTicks;
  /** Held outputs in order, while some record is parked; null: not holding. */
  private held: Held[] | null = null;
  private readonly parkedKeys = new Set<string>();
  /** Audiences rolled while holding and not yet on a held marker. */
  private heldAudience: HeldAudience[] = [];
  /** Every audience rolled while holding, by tick: parked records of that tick still count in it. */
  private readonly heldAggregates = new Map<number, AudienceAggregate>();

  constructor(
    partition: number,
    private readonly names: TopologyNames,
    private readonly contentPartitions: number,
    private readonly users: TaskCache<UserAgentState>,
    private readonly cfg: AgentConfig,
    timing: StageTiming,
    restoredMeta: string | null,
    /** A learned explore policy, called once per micro-batch; undefined: the rule (per interaction). */
    private readonly explore?: () => ExplorePolicy,
    private readonly opts: UserTaskOptions = {},
  ) {
    this.id = { stage: 'user', partition };
    this.timing = resolveTiming(timing);
    this.uiSource = sourceId(SOURCE_TOPIC.interactions, partition);
    this.cpSource = sourceId(SOURCE_TOPIC.published, partition);
    this.rkSource = sourceId(SOURCE_TOPIC.rekey, partition);
    const m: UserTaskMeta = restoredMeta
      ? reviveMeta(JSON.parse(restoredMeta))
      : { ui: freshClock(), cp: freshClock(), aTick: -1, audience: emptyAudience(), pendingAudience: [] };
    this.meta = {
      ...m,
      rk: m.rk ?? freshClock(),
      rkOrigins: m.rkOrigins ?? {},
      rkFrom: m.rkFrom ?? {},
    };
    this.state = new KeyedState(users);
    const tickMs = this.timing.tickMs;
    this.ticks =
      m.aTick === -1
        ? new EventTimeTicks({ tickMs })
        : EventTimeTicks.restore({ tickMs }, { lastTick: m.aTick * tickMs });
    this.rekey = new RekeyInbox(
      this.meta.rkOrigins,
      this.meta.rkFrom,
      contentPartitions,
      this.timing.idleMaxLagMs,
    );
  }

  positions(): SourcePosition[] {
    const p = this.id.partition;
    return [
      { topic: this.names.interactions, partition: p, offset: this.meta.ui.next },
      { topic: this.names.published, partition: p, offset: this.meta.cp.next },
      { topic: this.names.userRekey, partition: p, offset: this.meta.rk.next },
    ];
  }

  private clockOf(topic: string): SourceClock {
    if (topic === this.names.interactions) return this.meta.ui;
    if (topic === this.names.published) return this.meta.cp;
    return this.meta.rk;
  }

  consumed(topic: string, partition: number, next: number): void {
    if (partition !== this.id.partition) return;
    const clock = this.clockOf(topic);
    if (next > clock.next) clock.next = next;
  }

  /** Users of the batch and, while holding, every parked user (a successful load applies them). */
  keysFor(batch: readonly InRecord[]): string[] {
    const keys = new Set<string>(this.parkedKeys);
    if (batch.length > 0 && batch[0].topic !== this.names.published)
      for (const r of batch) if (r.value !== null) keys.add((r.value as UserInteraction).user_id);
    return [...keys];
  }

  parked(): number {
    return this.held?.length ?? 0;
  }

  process(batch: readonly InRecord[], out: Collector): void {
    if (this.held !== null) this.resolve(out);
    this.dispatch(batch, out, null);
  }

  processDegraded(batch: readonly InRecord[], out: Collector, resident: (key: string) => boolean): void {
    this.dispatch(batch, out, resident);
  }

  private dispatch(
    batch: readonly InRecord[],
    out: Collector,
    resident: ((key: string) => boolean) | null,
  ): void {
    if (batch.length === 0) return;
    const topic = batch[0].topic;
    if (topic === this.names.published)
      this.processPublished(batch as readonly InRecord<ContentPublished>[], out);
    else this.processInteractions(batch as readonly InRecord<UserInteraction>[], out, resident);
  }

  private watermark(c: SourceClock): number {
    return sourceWatermark(c.maxT, this.timing.outOfOrdernessMs);
  }

  /** Sends now, or holds in order behind a parked record. */
  private emit(out: Collector, record: OutRecord): void {
    if (this.held !== null) this.held.push({ kind: 'send', record });
    else out.send(record);
  }

  /**
   * The event time to use, or null when the record went to the DLQ: beyond `maxAheadMs` ahead of
   * the later of the record's Kafka timestamp (processing time) and the partition's highest event
   * time, it is refused or clamped to that bound. A record without a timestamp (<= 0: the
   * in-memory driver's input) is not bounded: a jump cannot be told from a poison without one.
   */
  private boundedTime(
    rec: InRecord,
    t: number,
    field: string,
    clock: SourceClock,
    out: Collector,
  ): number | null {
    if (!(rec.timestamp > 0)) return t;
    const base = Math.max(rec.timestamp, clock.maxT);
    const limit = base + this.timing.maxAheadMs;
    if (!(t > limit)) return t;
    if (this.timing.aheadPolicy === 'clamp') return limit;
    out.dlq(
      rec,
      new ThermostatError(
        'EVENT_TIME_AHEAD',
        `${field} ${t} is more than watermark.maxAheadMs (${this.timing.maxAheadMs} ms) ahead of ${base} (max of the partition's event times and the record timestamp)`,
        { key: field, topic: rec.topic, partition: rec.partition, offset: String(rec.offset) },
      ),
    );
    return null;
  }

  /** Lateness against the source's own watermark, deterministic in its offset order. */
  private isLate(rec: InRecord, t: number, clock: SourceClock, out: Collector): boolean {
    if (!isBehind(t, this.watermark(clock), this.timing.allowedLatenessMs)) return false;
    out.late(
      rec,
      `event_time ${t} behind watermark ${this.watermark(clock)} beyond allowed lateness ${this.timing.allowedLatenessMs} ms`,
    );
    return true;
  }

  private processInteractions(
    batch: readonly InRecord<UserInteraction>[],
    out: Collector,
    resident: ((key: string) => boolean) | null,
  ): void {
    if (batch[0].topic === this.names.userRekey) return this.processRekeyed(batch, out, resident);
    const clock = this.meta.ui;
    clock.idle = false;
    // Learned explore policy: the batch's states are kept here and stored once, after the batched call.
    const touched = this.explore ? new Map<string, { state: UserAgentState; version: number }>() : null;
    for (const rec of batch) {
      clock.next = rec.offset + 1;
      let ev = rec.value;
      const t = this.boundedTime(rec, ev.event_time, 'event_time', clock, out);
      if (t === null) continue;
      if (t !== ev.event_time) ev = { ...ev, event_time: t };
      if (this.isLate(rec, t, clock, out)) continue;
      if (observeEventTime(clock, t)) this.rollAudience(this.watermark(clock));
      if (fastPartition(ev.user_id, this.contentPartitions) !== this.id.partition) {
        this.misrouted(rec, ev, out);
        continue;
      }
      this.applyOrPark({ ...rec, value: ev }, rec.offset, this.uiSource, out, resident, touched);
    }
    if (touched && touched.size > 0) this.applyExplore(touched);
    this.sendMarker(this.uiSource, clock, out, true);
  }

  /**
   * Interactions re-routed here from other partitions, and their origins' markers. Event time and
   * lateness of a re-routed record were decided at its origin, in its order; it is applied here in
   * the order it arrives. The re-key partition's watermark is the min over origins of their
   * interaction watermarks (idle ones held at most idleMaxLagMs behind the highest): a re-routed
   * record arrives behind its origin's marker that covered it, so the content stage, which counts
   * this partition like any source, never passes it before it is forwarded.
   */
  private processRekeyed(
    batch: readonly InRecord<UserInteraction | null>[],
    out: Collector,
    resident: ((key: string) => boolean) | null,
  ): void {
    const rk = this.meta.rk;
    const touched = this.explore ? new Map<string, { state: UserAgentState; version: number }>() : null;
    for (const rec of batch) {
      rk.next = rec.offset + 1;
      if (rec.value === null) this.rekey.onMarker(rec.headers ?? {});
      else if (this.rekey.accept(rec))
        this.applyOrPark(
          rec as InRecord<UserInteraction>,
          REKEYED_BASE,
          this.rkSource,
          out,
          resident,
          touched,
        );
    }
    if (touched && touched.size > 0) this.applyExplore(touched);
    this.sendRekeyMarker(out);
  }

  /** The re-key partition's marker, from its origins' markers (none until every origin reported). */
  private sendRekeyMarker(out: Collector): void {
    const w = this.rekey.watermark();
    if (w === null) return;
    const rk = this.meta.rk;
    rk.maxT = w.wm <= NO_WATERMARK ? -Infinity : w.wm + this.timing.outOfOrdernessMs;
    rk.first = w.first;
    this.sendMarker(this.rkSource, rk, out, false);
  }

  /** Applies an interaction now, or parks it when its user needs a state load that cannot happen now. */
  private applyOrPark(
    rec: InRecord<UserInteraction>,
    base: number,
    source: number,
    out: Collector,
    resident: ((key: string) => boolean) | null,
    touched: Map<string, { state: UserAgentState; version: number }> | null,
  ): void {
    const user = rec.value.user_id;
    if (this.parkedKeys.has(user) || (resident !== null && !resident(user))) {
      // Parked, and every output from here on held in order behind it, so what leaves this task
      // is the undisturbed sequence.
      this.parkedKeys.add(user);
      (this.held ??= []).push({ kind: 'parked', rec, base, aTick: this.meta.aTick, source });
      return;
    }
    const forward = this.applyInteraction(rec.value, base, this.meta.aTick, source, rec.offset, touched);
    if (forward) this.emit(out, forward);
  }

  /** An interaction of a user another task owns: to that task through the re-key topic, or to the DLQ. */
  private misrouted(rec: InRecord, ev: UserInteraction, out: Collector): void {
    this.opts.onMisrouted?.(rec.topic);
    if (this.opts.partitionMismatch === 'dlq') {
      out.dlq(rec, mismatch(rec, 'user_id', ev.user_id, this.contentPartitions));
      return;
    }
    this.emit(out, {
      topic: this.names.userRekey,
      schema: 'UserInteraction',
      key: ev.user_id,
      value: ev,
      partition: fastPartition(ev.user_id, this.contentPartitions),
      headers: originHeaders(rec.partition, rec.offset),
    });
  }

  /**
   * Applies one interaction to its user's state; returns the content event to forward (null: not
   * applied). The new version is `base` (the interaction's offset; REKEYED_BASE for a re-routed
   * one) or, if the state already holds that much, the next one: strictly increasing per user,
   * equal to the offset for a user whose records all come from its own partition, and a function
   * of the user's own records only for one whose records are all re-routed.
   */
  private applyInteraction(
    ev: UserInteraction,
    base: number,
    aTick: number,
    source: number,
    sourceOffset: number,
    touched: Map<string, { state: UserAgentState; version: number }> | null,
  ): OutRecord | null {
    let state = touched?.get(ev.user_id)?.state ?? this.users.get(ev.user_id);
    if (state === undefined) state = newUserState(ev.user_id, this.cfg);
    else if (idleExpired(state.t, ev.event_time, this.timing.userIdleTtlMs))
      // Idle past the TTL: new again, as when Redis no longer holds the key. The version goes on
      // (versions stay strictly increasing per key, replays stay recognised).
      state = { ...newUserState(ev.user_id, this.cfg), version: state.version };
    const version = Math.max(base, state.version + 1);
    const outcome = applyUserInteraction(state, ev, version, this.cfg);
    if (!outcome.applied) return null;
    // Audience marks are part of the state: counted before put (the store keeps a copy). A
    // re-routed interaction is not counted: the tick it would count in here depends on when it
    // arrives relative to this partition's own records, which is not a function of the logs.
    if (source !== this.rkSource)
      countAudience(
        state,
        this.audienceOf(aTick),
        ev.category,
        aTick,
        state.curiosity >= this.cfg.user.highCuriosity,
      );
    if (touched) {
      touched.set(ev.user_id, { state, version });
      this.state.markChanged(ev.user_id); // stored after the micro-batch's explore call
    } else this.state.put(ev.user_id, state, version);
    const forwarded: ContentEvent = {
      source,
      source_offset: sourceOffset,
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
    return { topic: this.names.contentEvents, schema: 'ContentEvent', key: ev.content_id, value: forwarded };
  }

  /** The aggregate of `aTick`: the open one, or one rolled while holding (a parked record of that tick). */
  private audienceOf(aTick: number): AudienceAggregate {
    if (aTick === this.meta.aTick) return this.meta.audience;
    return this.heldAggregates.get(aTick) ?? emptyAudience();
  }

  private processPublished(batch: readonly InRecord<ContentPublished>[], out: Collector): void {
    const clock = this.meta.cp;
    clock.idle = false;
    for (const rec of batch) {
      clock.next = rec.offset + 1;
      const p = rec.value;
      const t = this.boundedTime(rec, p.published_at, 'published_at', clock, out);
      if (t === null) continue;
      if (fastPartition(p.content_id, this.contentPartitions) !== this.id.partition) {
        // No state of a content lives here (it is re-keyed by content_id below): counted, and
        // refused only if so configured.
        this.opts.onMisrouted?.(rec.topic);
        if (this.opts.partitionMismatch === 'dlq') {
          out.dlq(rec, mismatch(rec, 'content_id', p.content_id, this.contentPartitions));
          continue;
        }
      }
      // Publications are catalogue updates: never dropped as late (the content stage applies a
      // publication behind its watermark immediately), so only the watermark is tracked here.
      observeEventTime(clock, t);
      const forwarded: ContentEvent = {
        source: this.cpSource,
        source_offset: rec.offset,
        interaction: null,
        published: {
          content_id: p.content_id,
          creator_id: p.creator_id,
          category: p.category,
          quality_score: p.quality_score,
          published_at: t,
          creator_followers: p.creator_followers ?? null,
        },
        marker: null,
      };
      this.emit(out, {
        topic: this.names.contentEvents,
        schema: 'ContentEvent',
        key: p.content_id,
        value: forwarded,
      });
    }
    this.sendMarker(this.cpSource, clock, out, false);
  }

  /** Closes the audience tick when ui's watermark leaves it; the tick now holding it opens. */
  private rollAudience(watermark: number): void {
    const m = this.meta;
    const tickMs = this.ticks.tickMs;
    if (this.ticks.step(watermark) > 0) {
      // While holding, the aggregate stays open (a parked record of its tick may still count) until
      // the marker carrying it is sent.
      if (this.held !== null) {
        this.heldAudience.push({ aTick: m.aTick, agg: m.audience });
        this.heldAggregates.set(m.aTick, m.audience);
      } else {
        const entry = this.tickAudience(m.aTick, m.audience);
        if (entry) m.pendingAudience.push(entry);
      }
      m.audience = emptyAudience();
    }
    m.aTick = this.ticks.last / tickMs;
    // -1 is the snapshot's "none": the tick just before the epoch counts as none, so its counts
    // carry into the next tick, as they always have.
    if (m.aTick === -1) this.ticks = new EventTimeTicks({ tickMs });
  }

  /**
   * A tick's audience keyed by its closing boundary, as everything downstream; null when empty.
   * Only the tick that held the watermark can have an audience; the ticks a jump crosses are empty
   * and are not sent (the content stage reads a missing audience as an empty one).
   */
  private tickAudience(aTick: number, agg: AudienceAggregate): TickAudience | null {
    const categories = Object.keys(agg.active)
      .sort()
      .map((category) => ({
        category,
        active: agg.active[category] ?? 0,
        high_curiosity: agg.curious[category] ?? 0,
      }));
    return categories.length > 0 ? { tick: (aTick + 1) * this.timing.tickMs, categories } : null;
  }

  /**
   * A heartbeat: promises that no record with event time below `t` follows on this task's
   * sources. Their watermarks move so that watermark − allowed lateness = `t`: every stage then
   * applies a record at exactly `t` and treats anything below it as late, and the content stage
   * closes every tick boundary up to `t`.
   */
  punctuate(t: number, out: Collector): void {
    const target = t + this.timing.allowedLatenessMs;
    const pairs: [SourceClock, number, boolean][] = [
      [this.meta.ui, this.uiSource, true],
      [this.meta.cp, this.cpSource, false],
    ];
    for (const [clock, source, isUi] of pairs) {
      if (this.watermark(clock) >= target) continue;
      clock.maxT = target + this.timing.outOfOrdernessMs;
      if (isUi) this.rollAudience(this.watermark(clock));
      this.sendMarker(source, clock, out, isUi);
    }
    // Every origin makes the same promise (every user task gets the heartbeat).
    this.rekey.advance(target);
    this.sendRekeyMarker(out);
  }

  setIdle(topic: string, partition: number, idle: boolean, out: Collector): void {
    if (partition !== this.id.partition || topic === this.names.userRekey) return; // no watermark there
    const isUi = topic === this.names.interactions;
    const clock = isUi ? this.meta.ui : this.meta.cp;
    if (clock.idle === idle) return;
    clock.idle = idle;
    this.sendMarker(isUi ? this.uiSource : this.cpSource, clock, out, isUi);
  }

  /**
   * A new owner resumes the task from its checkpoint. Idleness is the previous owner's wall-clock
   * observation, and the log may still carry its last idle markers (declared after that
   * checkpoint, or restored with it) while this owner has a backlog to read: left standing, they
   * let the content stage and the re-key partitions' owners count these sources at the idle floor
   * while other partitions race through their own backlogs, and this partition's records (the
   * re-routed ones last, a hop behind) then arrive behind the released watermark. So before
   * reading anything the sources are announced active at their own watermarks; this owner
   * declares them idle again once it finds them at their end.
   */
  resumed(out: Collector): void {
    for (const [clock, source] of [
      [this.meta.ui, this.uiSource],
      [this.meta.cp, this.cpSource],
    ] as const) {
      clock.idle = false;
      // Sent even when the checkpoint said active: an idle marker may have followed it. Pending
      // audiences wait for the next interaction marker, as they would have.
      this.sendMarker(source, clock, out, false);
    }
  }

  private sendMarker(source: number, clock: SourceClock, out: Collector, withAudience: boolean): void {
    if (this.held !== null) {
      const audience = withAudience ? this.heldAudience.splice(0) : [];
      this.held.push({ kind: 'marker', source, clock: { ...clock }, audience });
      return;
    }
    const audience = withAudience ? this.meta.pendingAudience : [];
    this.broadcastMarker(source, clock, audience, out);
    if (withAudience) this.meta.pendingAudience = [];
  }

  private broadcastMarker(
    source: number,
    clock: SourceClock,
    audience: TickAudience[],
    out: Collector,
  ): void {
    const watermark = this.watermark(clock);
    for (let p = 0; p < this.contentPartitions; p++) {
      const marker: ContentEvent = {
        source,
        source_offset: clock.next - 1,
        interaction: null,
        published: null,
        marker: {
          watermark,
          idle: clock.idle,
          first_event_time: clock.first,
          audience: p === 0 ? audience : [],
        },
      };
      out.send({
        topic: this.names.contentEvents,
        schema: 'ContentEvent',
        key: null,
        value: marker,
        partition: p,
      });
    }
    if (source !== this.uiSource) return;
    // The same progress, to every re-key partition: after any record this task re-routed there.
    const headers = rekeyMarkerHeaders(this.id.partition, watermark, clock.idle, clock.first);
    for (let p = 0; p < this.contentPartitions; p++)
      out.send({
        topic: this.names.userRekey,
        schema: 'UserInteraction',
        key: null,
        value: null,
        partition: p,
        headers,
        bytes: EMPTY,
      });
  }

  /**
   * Every parked user is loaded now: applies the parked records in their order (with the version base
   * and audience tick each got on arrival), then sends the held outputs in order. The output is
   * the sequence an undisturbed run sends, and the user states are the same.
   */
  private resolve(out: Collector): void {
    const held = this.held!;
    this.held = null;
    this.parkedKeys.clear();
    const touched = this.explore ? new Map<string, { state: UserAgentState; version: number }>() : null;
    const forwards = new Map<Held, OutRecord | null>();
    for (const h of held)
      if (h.kind === 'parked')
        forwards.set(h, this.applyInteraction(h.rec.value, h.base, h.aTick, h.source, h.rec.offset, touched));
    if (touched && touched.size > 0) this.applyExplore(touched);
    for (const h of held) {
      if (h.kind === 'send') out.send(h.record);
      else if (h.kind === 'parked') {
        const f = forwards.get(h);
        if (f) out.send(f);
      } else if (h.source === this.uiSource) {
        // Audiences complete now; those rolled before holding began go first, as they would have.
        const audience = this.meta.pendingAudience;
        this.meta.pendingAudience = [];
        for (const a of h.audience) {
          const entry = this.tickAudience(a.aTick, a.agg);
          if (entry) audience.push(entry);
        }
        this.broadcastMarker(h.source, h.clock, audience, out);
      } else this.broadcastMarker(h.source, h.clock, [], out);
    }
    // Audiences rolled since the last held ui marker wait for the next one, as pending.
    for (const a of this.heldAudience.splice(0)) {
      const entry = this.tickAudience(a.aTick, a.agg);
      if (entry) this.meta.pendingAudience.push(entry);
    }
    this.heldAggregates.clear();
  }

  /** One batched explore-policy call for the users this micro-batch changed (sorted: deterministic rows), then stored. */
  private applyExplore(touched: ReadonlyMap<string, { state: UserAgentState; version: number }>): void {
    const ids = [...touched.keys()].sort();
    const entries = ids.map((id) => touched.get(id)!);
    applyExplorePolicy(
      entries.map((e) => e.state),
      this.explore!(),
    );
    entries.forEach((e, i) => this.state.put(ids[i], e.state, e.version));
  }

  flushChangelog(out: Collector): void {
    this.state.flushChanged((key, s) =>
      out.send({
        topic: this.names.userChangelog,
        schema: 'UserMindState',
        key,
        value: toUserMindState(s, this.cfg),
      }),
    );
  }

  snapshot(): TaskSnapshot {
    this.meta.rkOrigins = this.rekey.lastOffsets();
    if (this.held !== null)
      throw new ThermostatError(
        'INTERNAL',
        `user task ${this.id.partition}: snapshot while records are parked`,
      );
    return {
      meta: JSON.stringify(this.meta, (_k, v) => (v === -Infinity ? '-Infinity' : v)),
      entries: this.users.commit(),
      positions: this.positions(),
    };
  }
}

function mismatch(rec: InRecord, field: string, id: string, partitions: number): ThermostatError {
  const owner = fastPartition(id, partitions);
  return new ThermostatError(
    'PARTITION_MISMATCH',
    `${field} ${JSON.stringify(id.slice(0, 200))} hashes (murmur2) to partition ${owner}, not ${rec.partition}${rec.key === null ? ' (null key)' : ''}`,
    { key: field, topic: rec.topic, partition: rec.partition, offset: String(rec.offset) },
  );
}

function reviveMeta(m: UserTaskMeta): UserTaskMeta {
  for (const c of [m.ui, m.cp, m.rk]) if (c && (c.maxT as unknown) === '-Infinity') c.maxT = -Infinity;
  return m;
}
