// Write-behind checkpointing. The stage hands a checkpoint over (`checkpoint`/`submit`) and goes on
// processing; commits run in the background, at most one in flight per task (later checkpoints
// wait and coalesce). When the store is down, pending checkpoints of a task merge per key (latest
// version wins) with the latest metadata, so memory is bounded by distinct dirty keys, and they
// are retried with capped exponential backoff. Merging consecutive checkpoints is safe because
// each commit is atomic: Redis jumps from one consistent (state, offsets) point to a later one.
//
// Kafka offsets must never get ahead of Redis state: `onDurable` reports a checkpoint's source
// offsets only after its commit succeeded; the stage commits them to Kafka then.
//
// A checkpoint that changes nothing (no entries; metadata and offsets byte-equal to the newest one
// handed over) is not sent: its commit would only bump the task's seq. Such a task still writes
// once per `maxSkipMs`, so an idle zombie learns of its fence, and an idle task of a Redis that
// lost its checkpoints, within that bound.
import type { Clock } from '../core/clock.js';
import { FencedError, ThermostatError } from '../core/errors.js';
import { LOG_EVENTS, type Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import { backoffMs, isRetriable, retry } from '../core/retry.js';
import { sleepOn, systemTimers, type Timers } from '../core/timers.js';
import type {
  AcquireResult,
  CheckpointEntry,
  CheckpointStore,
  CommitResult,
  SourceOffset,
  TaskId,
} from './store.js';
import { taskLabel } from './store.js';

/** What write-behind needs from a cache: its dirty entries, and news of their durability. */
export interface DrainableStore {
  drainDirty(): CheckpointEntry[];
  markDurable(entries: readonly CheckpointEntry[]): void;
}

export interface Checkpoint {
  entries: readonly CheckpointEntry[];
  /** Opaque task metadata written atomically with the entries. */
  meta: Buffer;
  /** Source offsets this checkpoint covers: reported by `onDurable` once it is written. */
  offsets: readonly SourceOffset[];
  /** Caches to tell when the entries are durable (so they become evictable). */
  stores?: readonly DrainableStore[];
}

export interface Health {
  /** False while degraded or applying backpressure. */
  ready: boolean;
  /** True while the checkpoint store is unreachable or commits are failing. */
  degraded: boolean;
  reason: string;
}

export interface WriteBehindStats {
  tasks: number;
  queued: number;
  /** Tasks with a commit in flight. */
  inflight: number;
  /** Tasks whose last commit failed (retrying). */
  failing: number;
  commits: number;
  failures: number;
  fenced: number;
  /** Checkpoints not sent because they changed nothing. */
  skipped: number;
}

export interface WriteBehindOptions {
  store: CheckpointStore;
  /** Config redis.maxQueuedEntries: above this many queued entries `backpressure()` is true. */
  maxQueuedEntries: number;
  /** Wall clock: checkpoint age and `maxSkipMs`. */
  clock: Clock;
  metrics?: Metrics;
  log?: Logger;
  /** Longest a task goes without a commit while its checkpoints change nothing (default 10 s). */
  maxSkipMs?: number;
  /** Retry backoff: min(initialMs·2^attempt, maxMs). */
  backoff?: { initialMs: number; maxMs: number };
  timers?: Timers;
  onDurable?: (task: TaskId, offsets: readonly SourceOffset[], result: CommitResult) => void;
  /** The task lost ownership (a newer epoch holds it): stop processing it and drop its cache. */
  onFenced?: (task: TaskId, err: FencedError) => void;
}

interface Batch {
  entries: Map<string, CheckpointEntry>;
  meta: Buffer;
  offsets: readonly SourceOffset[];
  stores: Set<DrainableStore>;
}

interface TaskQueue {
  task: TaskId;
  epoch: number;
  seq: number;
  pending: Batch | null;
  inflight: Batch | null;
  /** Metadata and offsets of the newest checkpoint handed over (pending, in flight or written). */
  newest: { meta: Buffer; offsets: readonly SourceOffset[] } | null;
  timer: unknown;
  attempt: number;
  failing: string | null;
  fenced: FencedError | null;
  lastOkAt: number;
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
}

const id = (e: CheckpointEntry): string => `${e.store}\0${e.key}`;
const tid = (t: TaskId): string => `${t.stage}\0${t.partition}`;

/** Default of `maxSkipMs`: an idle task still commits this often (fence and loss detection). */
export const DEFAULT_MAX_SKIP_MS = 10_000;

function sameOffsets(a: readonly SourceOffset[], b: readonly SourceOffset[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++)
    if (a[i].topic !== b[i].topic || a[i].partition !== b[i].partition || a[i].offset !== b[i].offset)
      return false;
  return true;
}

export class WriteBehind {
  private readonly store: CheckpointStore;
  private readonly max: number;
  private readonly clock: Clock;
  private readonly metrics?: Metrics;
  private readonly log?: Logger;
  private readonly backoffCfg: { initialMs: number; maxMs: number };
  private readonly maxSkipMs: number;
  private readonly timers: Timers;
  private readonly onDurable?: WriteBehindOptions['onDurable'];
  private readonly onFenced?: WriteBehindOptions['onFenced'];
  private readonly tasks = new Map<string, TaskQueue>();
  private queued = 0;
  private commits = 0;
  private failures = 0;
  private fencedCount = 0;
  private skipped = 0;
  private wasDegraded = false;
  private closed = false;

  constructor(opts: WriteBehindOptions) {
    this.store = opts.store;
    this.max = opts.maxQueuedEntries;
    this.clock = opts.clock;
    this.metrics = opts.metrics;
    this.log = opts.log;
    this.backoffCfg = opts.backoff ?? { initialMs: 100, maxMs: 2_000 };
    this.maxSkipMs = opts.maxSkipMs ?? DEFAULT_MAX_SKIP_MS;
    this.timers = opts.timers ?? systemTimers;
    this.onDurable = opts.onDurable;
    this.onFenced = opts.onFenced;
  }

  /**
   * Takes ownership of a task: bumps its epoch (fencing older owners) and returns the last
   * checkpoint's metadata. Retries retriable failures with backoff until it succeeds or `close`.
   */
  async acquire(task: TaskId): Promise<AcquireResult> {
    const r = await retry(() => this.store.acquire(task), {
      backoff: this.backoffCfg,
      retriable: (e) => !this.closed && isRetriable(e),
      onRetry: () => this.metrics?.redisErrors.inc(),
      wait: sleepOn(this.timers),
    });
    this.register(task, r!.epoch);
    return r!;
  }

  /** Starts queuing for `task` at `epoch` (done by `acquire`); drops any older queue of the task. */
  register(task: TaskId, epoch: number): void {
    this.release(task);
    this.tasks.set(tid(task), {
      task,
      epoch,
      seq: 0,
      pending: null,
      inflight: null,
      newest: null,
      timer: null,
      attempt: 0,
      failing: null,
      fenced: null,
      lastOkAt: this.clock.now(),
      waiters: [],
    });
  }

  /** Drains the caches' dirty entries and queues them with `meta`/`offsets`. Never blocks. */
  checkpoint(
    task: TaskId,
    c: { stores: readonly DrainableStore[]; meta: Buffer; offsets: readonly SourceOffset[] },
  ): void {
    const entries: CheckpointEntry[] = [];
    for (const s of c.stores) for (const e of s.drainDirty()) entries.push(e);
    this.submit(task, { entries, meta: c.meta, offsets: c.offsets, stores: c.stores });
  }

  /** Queues a checkpoint (coalescing with any not yet sent) and starts a commit if none is in flight. */
  submit(task: TaskId, c: Checkpoint): void {
    const q = this.queue(task);
    if (q.fenced) throw q.fenced;
    if (this.changesNothing(q, c)) {
      this.skipped++;
      this.metrics?.checkpointsSkipped.inc();
      return;
    }
    q.newest = { meta: c.meta, offsets: c.offsets };
    if (q.pending === null)
      q.pending = { entries: new Map(), meta: c.meta, offsets: c.offsets, stores: new Set() };
    const p = q.pending;
    for (const e of c.entries) {
      const prev = p.entries.get(id(e));
      if (prev === undefined) this.queued++;
      if (prev === undefined || prev.version < e.version) p.entries.set(id(e), e);
    }
    p.meta = c.meta;
    p.offsets = c.offsets;
    for (const s of c.stores ?? []) p.stores.add(s);
    this.updateGauges();
    this.pump(q);
  }

  /**
   * Resolves once everything queued for the task (or all tasks) is durable; rejects if fenced, or
   * if the task is not acquired (released meanwhile: fenced during a revocation's checkpoint). It
   * never throws: a revocation flushing several tasks must still give up every one of them.
   */
  flush(task?: TaskId): Promise<void> {
    const q = task ? this.tasks.get(tid(task)) : undefined;
    if (task && q === undefined)
      return Promise.reject(new ThermostatError('INTERNAL', `task ${taskLabel(task)} not acquired`));
    const qs = q ? [q] : [...this.tasks.values()];
    return Promise.all(
      qs.map((q) => {
        if (q.fenced) return Promise.reject(q.fenced);
        if (q.pending === null && q.inflight === null) return Promise.resolve();
        if (q.timer !== null) this.retryNow(q);
        return new Promise<void>((resolve, reject) => q.waiters.push({ resolve, reject }));
      }),
    ).then(() => undefined);
  }

  /** Retries every waiting task now (wire to the Redis client's 'ready' event). */
  kick(): void {
    for (const q of this.tasks.values()) if (q.timer !== null) this.retryNow(q);
  }

  /** Forgets a task (after revoke): unsent checkpoints are dropped; Kafka replays them. */
  release(task: TaskId): void {
    const q = this.tasks.get(tid(task));
    if (q === undefined) return;
    if (q.timer !== null) this.timers.clearTimeout(q.timer);
    this.queued -= (q.pending?.entries.size ?? 0) + (q.inflight?.entries.size ?? 0);
    this.tasks.delete(tid(task));
    const err = new ThermostatError(
      'INTERNAL',
      `task ${taskLabel(task)} released before its checkpoint was durable`,
    );
    for (const w of q.waiters.splice(0)) w.reject(err);
    this.updateGauges();
  }

  /** Counters for metrics, logs and tests. */
  stats(): WriteBehindStats {
    let inflight = 0;
    let failing = 0;
    for (const q of this.tasks.values()) {
      if (q.inflight !== null) inflight++;
      if (q.failing !== null) failing++;
    }
    return {
      tasks: this.tasks.size,
      queued: this.queued,
      inflight,
      failing,
      commits: this.commits,
      failures: this.failures,
      fenced: this.fencedCount,
      skipped: this.skipped,
    };
  }

  /**
   * Entries waiting to be written (pending + in flight), all tasks. A key changed again while its
   * previous checkpoint is in flight counts twice, so the bound is 2 × distinct dirty keys.
   */
  queuedEntries(): number {
    return this.queued;
  }

  /** True when the stage must pause its consumer: the queue reached redis.maxQueuedEntries. */
  backpressure(): boolean {
    return this.queued >= this.max;
  }

  health(): Health {
    const failing = [...this.tasks.values()].filter((q) => q.failing !== null);
    const down = this.store.isAvailable?.() === false;
    const degraded = down || failing.length > 0;
    const bp = this.backpressure();
    let reason = 'ok';
    if (degraded)
      reason = down
        ? 'checkpoint store unreachable'
        : `checkpoints failing for ${failing.length} task(s): ${failing[0].failing}`;
    if (bp) reason += `; backpressure: ${this.queued} queued entries >= ${this.max}`;
    return { ready: !degraded && !bp, degraded, reason };
  }

  /** Stops retries. Call `flush` first for a graceful shutdown. */
  close(): void {
    this.closed = true;
    for (const q of this.tasks.values()) if (q.timer !== null) this.timers.clearTimeout(q.timer);
    for (const q of this.tasks.values()) q.timer = null;
  }

  // ---- internals ----
  private queue(task: TaskId): TaskQueue {
    const q = this.tasks.get(tid(task));
    if (q === undefined) throw new ThermostatError('INTERNAL', `task ${taskLabel(task)} not acquired`);
    return q;
  }

  /**
   * The checkpoint adds nothing to the newest one handed over: no entries, the same metadata and
   * offsets. That one is written or will be (a failed commit is retried; a fenced or released
   * task drops its queue), so Redis and the Kafka offsets end up the same without this one.
   * Not once the last successful commit is `maxSkipMs` old: see the file comment.
   */
  private changesNothing(q: TaskQueue, c: Checkpoint): boolean {
    return (
      c.entries.length === 0 &&
      q.newest !== null &&
      q.newest.meta.equals(c.meta) &&
      sameOffsets(q.newest.offsets, c.offsets) &&
      this.clock.now() - q.lastOkAt < this.maxSkipMs
    );
  }

  private pump(q: TaskQueue): void {
    if (this.closed || q.inflight !== null || q.timer !== null || q.fenced !== null || q.pending === null)
      return;
    const batch = q.pending;
    q.pending = null;
    q.inflight = batch;
    const seq = ++q.seq;
    this.store
      .commit(q.task, { epoch: q.epoch, seq, entries: [...batch.entries.values()], meta: batch.meta })
      .then(
        (r) => this.succeeded(q, batch, r),
        (e: unknown) => this.failed(q, batch, e),
      );
  }

  private succeeded(q: TaskQueue, batch: Batch, r: CommitResult): void {
    if (this.tasks.get(tid(q.task)) !== q) return; // released meanwhile
    q.inflight = null;
    this.queued -= batch.entries.size;
    q.attempt = 0;
    q.failing = null;
    q.lastOkAt = this.clock.now();
    this.commits++;
    this.metrics?.checkpoints.inc({ outcome: 'ok' });
    const entries = [...batch.entries.values()];
    for (const s of batch.stores) s.markDurable(entries);
    this.updateGauges();
    this.onDurable?.(q.task, batch.offsets, r);
    if (q.pending === null) for (const w of q.waiters.splice(0)) w.resolve();
    else this.pump(q);
  }

  private failed(q: TaskQueue, batch: Batch, e: unknown): void {
    if (this.tasks.get(tid(q.task)) !== q) return;
    q.inflight = null;
    if (e instanceof FencedError) {
      q.fenced = e;
      this.queued -= batch.entries.size + (q.pending?.entries.size ?? 0);
      q.pending = null;
      this.fencedCount++;
      this.metrics?.checkpoints.inc({ outcome: 'fenced' });
      this.log?.warn({ event: LOG_EVENTS.checkpointFenced, task: taskLabel(q.task), err: e.message });
      for (const w of q.waiters.splice(0)) w.reject(e);
      this.updateGauges();
      this.onFenced?.(q.task, e);
      return;
    }
    this.failures++;
    this.metrics?.checkpoints.inc({ outcome: 'failed' });
    q.failing = (e as Error).message ?? String(e);
    this.log?.warn({
      event: LOG_EVENTS.checkpointFailed,
      task: taskLabel(q.task),
      attempt: q.attempt,
      err: q.failing,
    });
    // Put the batch back under anything newer: per key the higher version wins; newer meta wins.
    if (q.pending === null) {
      q.pending = batch;
    } else {
      const p = q.pending;
      for (const [k, en] of batch.entries) {
        const newer = p.entries.get(k);
        if (newer === undefined) p.entries.set(k, en);
        else if (newer.version < en.version) p.entries.set(k, en);
        if (newer !== undefined) this.queued--; // counted twice: once in flight, once pending
      }
      for (const s of batch.stores) p.stores.add(s);
    }
    this.updateGauges();
    q.timer = this.timers.setTimeout(() => {
      q.timer = null;
      this.pump(q);
    }, this.backoff(q.attempt++));
  }

  private retryNow(q: TaskQueue): void {
    this.timers.clearTimeout(q.timer);
    q.timer = null;
    this.pump(q);
  }

  private backoff(attempt: number): number {
    return backoffMs(this.backoffCfg, attempt);
  }

  private updateGauges(): void {
    const m = this.metrics;
    const h = this.health();
    if (h.degraded !== this.wasDegraded) {
      this.wasDegraded = h.degraded;
      this.log?.[h.degraded ? 'warn' : 'info']({
        event: h.degraded ? LOG_EVENTS.redisDown : LOG_EVENTS.redisUp,
        reason: h.reason,
      });
    }
    if (!m) return;
    m.checkpointQueued.set(this.queued);
    m.degraded.set(h.degraded ? 1 : 0);
    let oldest = Infinity;
    for (const q of this.tasks.values()) oldest = Math.min(oldest, q.lastOkAt);
    m.checkpointAge.set(oldest === Infinity ? 0 : Math.max(0, (this.clock.now() - oldest) / 1000));
  }
}
