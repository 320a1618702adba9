// Keyed event-time windows (tumbling, sliding, session) fired by the watermark, with allowed
// lateness and a late side output. Pure core + thin operator.
import type { OperatorFunction } from 'rxjs';
import { coreOperator } from './internal/coreOperator.js';
import { ConfigError } from '../core/errors.js';
import { NumberHeap } from './internal/NumberHeap.js';
import { NO_WATERMARK, type Sink, type WatermarkedBatch, compareStrings, sinkFn } from './types.js';

/** How records are assigned to windows. All windows are half-open `[start, end)` and epoch-aligned. */
export type WindowAssigner =
  | { readonly kind: 'tumbling'; readonly sizeMs: number }
  | { readonly kind: 'sliding'; readonly sizeMs: number; readonly slideMs: number }
  | { readonly kind: 'session'; readonly gapMs: number };

/**
 * Incremental aggregation. `add` may mutate and return `acc`. Accumulators must be plain JSON
 * data so that snapshots are. `merge` is required for session windows (a record can bridge two
 * sessions).
 */
export interface WindowAggregator<T, A> {
  init(): A;
  add(acc: A, record: T): A;
  merge?(a: A, b: A): A;
}

export interface EventTimeWindowsOptions<T, A> {
  readonly assigner: WindowAssigner;
  readonly keyOf: (record: T) => string;
  readonly eventTimeOf: (record: T) => number;
  readonly aggregator: WindowAggregator<T, A>;
  /** A window fires when the watermark reaches `end + allowedLatenessMs`. Default 0. */
  readonly allowedLatenessMs?: number;
}

/** One fired window. */
export interface WindowResult<A> {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  readonly value: A;
}

export interface EventTimeWindowsSnapshot<A> {
  readonly watermark: number;
  readonly lateCount: number;
  /** Open windows as [key, start, end, accumulator], sorted by (end, key, start). */
  readonly windows: readonly (readonly [string, number, number, A])[];
}

interface Session<A> {
  start: number;
  end: number;
  acc: A;
}

/**
 * The windowing core. Feed records with `process(records)` (returns the late ones) and move event
 * time with `advanceWatermark(wm)` (returns the windows that fired, ordered by (end, key)).
 *
 * Semantics (watermark W asserts that every record with event_time < W has arrived):
 * - tumbling `size`: the window of t is `[floor(t/size)·size, +size)`;
 * - sliding `size, slide`: every `[k·slide, k·slide + size)` that contains t;
 * - session `gap`: a record opens `[t, t + gap)`; windows of one key that overlap or touch merge.
 * - A window fires exactly once, when `W >= end + allowedLateness`, and is then forgotten.
 * - A record is late when every window it would belong to has fired (for sessions: the window
 *   after merging). Late records are returned, counted in `lateCount`, and change no state.
 *   A sliding-window record whose older windows fired but newer ones are open is added to the open
 *   ones only (as Flink does).
 */
export class EventTimeWindows<T, A> {
  private readonly assigner: WindowAssigner;
  private readonly keyOf: (record: T) => string;
  private readonly eventTimeOf: (record: T) => number;
  private readonly agg: WindowAggregator<T, A>;
  private readonly lateness: number;
  private readonly session: boolean;
  private readonly sizeMs: number;
  private readonly slideMs: number;
  private readonly gapMs: number;
  /** Fixed windows: end -> key -> accumulator. */
  private readonly byEnd = new Map<number, Map<string, A>>();
  /** Session windows: key -> sessions sorted by start, disjoint. */
  private readonly sessions = new Map<string, Session<A>[]>();
  /** Session timers: end -> keys with a session ending there (lazy: entries may be stale). */
  private readonly timers = new Map<number, Set<string>>();
  private readonly ends = new NumberHeap();
  private wm = NO_WATERMARK;
  private late = 0;
  private open = 0;

  constructor(options: EventTimeWindowsOptions<T, A>) {
    const a = options.assigner;
    this.assigner = a;
    this.keyOf = options.keyOf;
    this.eventTimeOf = options.eventTimeOf;
    this.agg = options.aggregator;
    this.lateness = options.allowedLatenessMs ?? 0;
    if (!(this.lateness >= 0)) throw new ConfigError('windows.allowedLatenessMs', 'must be >= 0');
    this.session = a.kind === 'session';
    this.sizeMs = a.kind === 'session' ? 0 : a.sizeMs;
    this.slideMs = a.kind === 'sliding' ? a.slideMs : a.kind === 'tumbling' ? a.sizeMs : 0;
    this.gapMs = a.kind === 'session' ? a.gapMs : 0;
    if (a.kind === 'session') {
      if (!(a.gapMs > 0)) throw new ConfigError('windows.gapMs', 'must be > 0');
      if (typeof this.agg.merge !== 'function')
        throw new ConfigError('windows.aggregator.merge', 'session windows need a merge function');
    } else {
      if (!(this.sizeMs > 0)) throw new ConfigError('windows.sizeMs', 'must be > 0');
      if (!(this.slideMs > 0)) throw new ConfigError('windows.slideMs', 'must be > 0');
    }
  }

  static restore<T, A>(
    options: EventTimeWindowsOptions<T, A>,
    snapshot: EventTimeWindowsSnapshot<A>,
  ): EventTimeWindows<T, A> {
    const w = new EventTimeWindows(options);
    w.wm = snapshot.watermark;
    w.late = snapshot.lateCount;
    for (const [key, start, end, acc] of snapshot.windows) {
      if (w.session) {
        let list = w.sessions.get(key);
        if (list === undefined) w.sessions.set(key, (list = []));
        list.push({ start, end, acc });
        list.sort((x, y) => x.start - y.start);
        w.addTimer(end, key);
        w.open++;
      } else {
        w.fixedWindow(end, key).set(key, acc);
      }
    }
    return w;
  }

  snapshot(): EventTimeWindowsSnapshot<A> {
    const windows: [string, number, number, A][] = [];
    if (this.session) {
      for (const [key, list] of this.sessions)
        for (const s of list) windows.push([key, s.start, s.end, s.acc]);
    } else {
      for (const [end, m] of this.byEnd)
        for (const [key, acc] of m) windows.push([key, end - this.sizeMs, end, acc]);
    }
    windows.sort((x, y) => x[2] - y[2] || compareStrings(x[0], y[0]) || x[1] - y[1]);
    return { watermark: this.wm, lateCount: this.late, windows };
  }

  /** The last watermark applied. */
  get watermark(): number {
    return this.wm;
  }

  /** Records sent to the late output so far. */
  get lateCount(): number {
    return this.late;
  }

  /** Open (not yet fired) windows, over all keys. */
  get openWindows(): number {
    return this.open;
  }

  /** Frees every open window (teardown). */
  clear(): void {
    this.byEnd.clear();
    this.sessions.clear();
    this.timers.clear();
    this.ends.clear();
    this.open = 0;
  }

  /** Adds records to their windows; returns the late ones (in input order). */
  process(records: readonly T[]): T[] {
    const late: T[] = [];
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      const accepted = this.session ? this.addSession(r) : this.addFixed(r);
      if (!accepted) {
        this.late++;
        late.push(r);
      }
    }
    return late;
  }

  private fired(end: number): boolean {
    return this.wm !== NO_WATERMARK && end + this.lateness <= this.wm;
  }

  private fixedWindow(end: number, _key: string): Map<string, A> {
    let m = this.byEnd.get(end);
    if (m === undefined) {
      m = new Map();
      this.byEnd.set(end, m);
      this.ends.push(end);
    }
    if (!m.has(_key)) this.open++;
    return m;
  }

  private addFixed(r: T): boolean {
    const t = this.eventTimeOf(r);
    const key = this.keyOf(r);
    const size = this.sizeMs;
    const slide = this.slideMs;
    let accepted = false;
    // Windows containing t: starts k·slide with t - size < start <= t, newest first.
    for (let start = Math.floor(t / slide) * slide; start > t - size; start -= slide) {
      const end = start + size;
      if (this.fired(end)) break; // older windows end earlier: fired too
      const m = this.fixedWindow(end, key);
      const acc = m.get(key);
      m.set(key, this.agg.add(acc === undefined ? this.agg.init() : acc, r));
      accepted = true;
    }
    return accepted;
  }

  private addTimer(end: number, key: string): void {
    let keys = this.timers.get(end);
    if (keys === undefined) {
      keys = new Set();
      this.timers.set(end, keys);
      this.ends.push(end);
    }
    keys.add(key);
  }

  private addSession(r: T): boolean {
    const t = this.eventTimeOf(r);
    const key = this.keyOf(r);
    let start = t;
    let end = t + this.gapMs;
    let list = this.sessions.get(key);
    // Sessions of a key are disjoint and sorted: the ones to merge are a contiguous run.
    let first = -1;
    let last = -1;
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        if (s.start > end) break;
        if (s.end >= start) {
          if (first < 0) first = i;
          last = i;
        }
      }
      if (first >= 0) {
        if (list[first].start < start) start = list[first].start;
        if (list[last].end > end) end = list[last].end;
      }
    }
    if (this.fired(end)) return false;
    if (list === undefined) {
      list = [];
      this.sessions.set(key, list);
    }
    if (first < 0) {
      const s: Session<A> = { start, end, acc: this.agg.add(this.agg.init(), r) };
      let i = 0;
      while (i < list.length && list[i].start < start) i++;
      list.splice(i, 0, s);
      this.open++;
      this.addTimer(end, key);
      return true;
    }
    const merge = this.agg.merge as (a: A, b: A) => A;
    const target = list[first];
    let acc = target.acc;
    for (let i = first + 1; i <= last; i++) acc = merge(acc, list[i].acc);
    target.acc = this.agg.add(acc, r);
    const oldEnd = target.end;
    target.start = start;
    target.end = end;
    if (last > first) {
      this.open -= last - first;
      list.splice(first + 1, last - first);
    }
    if (end !== oldEnd) this.addTimer(end, key);
    return true;
  }

  /**
   * Moves event time to `watermark` (ignored unless it advances) and returns the windows that
   * fire, ordered by (end, key). Fired windows are forgotten.
   */
  advanceWatermark(watermark: number): WindowResult<A>[] {
    const out: WindowResult<A>[] = [];
    if (!(watermark > this.wm)) return out;
    this.wm = watermark;
    for (
      let end = this.ends.peek();
      end !== undefined && end + this.lateness <= watermark;
      end = this.ends.peek()
    ) {
      this.ends.pop();
      if (this.session) this.fireSessions(end, out);
      else this.fireFixed(end, out);
    }
    return out;
  }

  private fireFixed(end: number, out: WindowResult<A>[]): void {
    const m = this.byEnd.get(end);
    if (m === undefined) return;
    this.byEnd.delete(end);
    const start = end - this.sizeMs;
    const keys = [...m.keys()].sort(compareStrings);
    for (const key of keys) out.push({ key, start, end, value: m.get(key) as A });
    this.open -= keys.length;
  }

  private fireSessions(end: number, out: WindowResult<A>[]): void {
    const keys = this.timers.get(end);
    if (keys === undefined) return;
    this.timers.delete(end);
    for (const key of [...keys].sort(compareStrings)) {
      const list = this.sessions.get(key);
      if (list === undefined) continue;
      const i = list.findIndex((s) => s.end === end);
      if (i < 0) continue; // stale timer: the session grew and has a later one
      const s = list[i];
      list.splice(i, 1);
      this.open--;
      if (list.length === 0) this.sessions.delete(key);
      out.push({ key, start: s.start, end: s.end, value: s.acc });
    }
  }
}

/**
 * Windows each `WatermarkedBatch`: adds its records, then applies its watermark and emits the
 * windows that fired (one array per input batch; nothing when none fired). Late records go to `late`.
 *
 * `--{[a@1 b@4], wm 2}--{[c@12], wm 12}--|` with tumbling 10 becomes `-----[{k,[0,10),a+b}]--|`.
 * Completing the input does not fire open windows (a restart must not differ from a run that went on).
 *
 * @param windows a shared core (the caller snapshots it and frees it), or options or a factory
 * (`() => core`, like a Kafka Streams supplier) for a core per subscription, cleared on teardown.
 * @param late the late side output.
 */
export function eventTimeWindows<T, A>(
  windows: EventTimeWindows<T, A> | EventTimeWindowsOptions<T, A> | (() => EventTimeWindows<T, A>),
  late: Sink<T>,
): OperatorFunction<WatermarkedBatch<T>, WindowResult<A>[]> {
  const toLate = sinkFn(late);
  return coreOperator(
    windows,
    (x): x is EventTimeWindows<T, A> => x instanceof EventTimeWindows,
    (o: EventTimeWindowsOptions<T, A>) => new EventTimeWindows(o),
    (core, batch: WatermarkedBatch<T>) => {
      const lateRecords = core.process(batch.records);
      for (let i = 0; i < lateRecords.length; i++) toLate(lateRecords[i]);
      return core.advanceWatermark(batch.watermark);
    },
  );
}
