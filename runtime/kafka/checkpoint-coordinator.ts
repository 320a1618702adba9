// Checkpoint rounds of the Kafka runtime: each commit interval (and early, when a task passes the
// dirty-entry bound), at most one round at a time:
//   1. every task's changelog is flushed (latest version per changed key) and a snapshot is cut —
//      synchronously, so state, metadata and positions describe the same instant;
//   2. the producer is flushed: every output caused by the snapshot's input is durable in Kafka;
//   3. the snapshot is handed to write-behind (one atomic, fenced Redis call per task), which
//      reports back once Redis confirms (the offset committer then commits the source offsets).
// Kafka offsets therefore never run ahead of Redis state.
import { retry } from '../../core/retry.js';
import { SerialQueue } from '../../core/serial-queue.js';
import type { Timers } from '../../core/timers.js';
import { LOG_EVENTS, type Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { OwnedTask } from '../../pipelines/task-factory.js';
import type { SourceOffset } from '../../state/store.js';
import { recordCacheGauges } from '../../state/versioned-cache.js';
import type { WriteBehind } from '../../state/write-behind.js';
import { parkedRecords, type TaskRunner } from '../task-runner.js';
import { isOutputLost, type SinkPort } from './ports.js';
import { StallGuard } from './stall.js';
import { owns, type StageWorker } from './stage-worker.js';

/** Backoff of a producer flush that failed (broker unreachable): the same cut is retried. */
const FLUSH_BACKOFF = { initialMs: 500, maxMs: 5000 };

/** Default of `maxDirtyBeforeCheckpoint` (core/config.ts state.maxDirtyBeforeCheckpoint). */
export const DEFAULT_MAX_DIRTY_BEFORE_CHECKPOINT = 20_000;

/**
 * Whether a checkpoint round should start now, before the commit interval ends: some task has more
 * dirty entries than the bound. A catch-up burst (tens of thousands of records per second) could
 * otherwise put ~150k entries in one task's checkpoint, whose final atomic apply outlasts the 2 s
 * Redis command timeout: it times out, is retried merged with the next one, which is larger still.
 * Never while a round is running, nor while the process is held after a stall (stall.ts).
 */
export function earlyCheckpointDue(o: {
  dirtyPerTask: Iterable<number>;
  max: number;
  roundRunning: boolean;
  held: boolean;
}): boolean {
  if (o.roundRunning || o.held) return false;
  for (const d of o.dirtyPerTask) if (d > o.max) return true;
  return false;
}

export interface CheckpointDeps {
  workers: readonly StageWorker[];
  runner: TaskRunner;
  sink: SinkPort;
  writeBehind: WriteBehind;
  metrics: Metrics;
  log: Logger;
  stall: StallGuard;
  timers: Timers;
  sleep: (ms: number) => Promise<void>;
  commitIntervalMs: number;
  maxDirtyBeforeCheckpoint: number;
  /** The job still runs (a flush that fails while stopping is tried a few times only). */
  running: () => boolean;
  /** An output was lost: this process must not checkpoint again (KafkaJobDeps.onFatal). */
  fatal: (e: Error) => void;
}

export class CheckpointCoordinator {
  private round: Promise<void> | null = null;
  /** Cuts with their hand-over, one at a time: rounds, revocations and the stop (checkpointTasks). */
  private readonly cuts = new SerialQueue();
  private timer: unknown = null;
  private earlyRounds = 0;
  /** A producer flush failed and is being retried: consumption pauses until it succeeds. */
  private stalledOutput = false;

  constructor(private readonly d: CheckpointDeps) {}

  /** Starts the commit timer: a round every interval, skipped once after a stall of the process. */
  start(): void {
    this.d.stall.restart();
    this.timer = this.d.timers.setInterval(() => {
      const gap = this.d.stall.round();
      if (gap !== null) {
        this.d.log.warn(
          { stalledMs: gap },
          'process stalled: skipping one checkpoint round until group membership is confirmed',
        );
        return;
      }
      this.runRound();
    }, this.d.commitIntervalMs);
  }

  /** No more rounds from the timer. */
  stopTimer(): void {
    if (this.timer !== null) this.d.timers.clearInterval(this.timer);
    this.timer = null;
  }

  get outputStalled(): boolean {
    return this.stalledOutput;
  }

  /** Early checkpoint rounds started by the dirty bound so far (tests, logs). */
  get earlyCheckpoints(): number {
    return this.earlyRounds;
  }

  /** After a batch: starts a checkpoint round at once if a task passed the dirty-entry bound. */
  maybeCheckpointEarly(): void {
    const due = earlyCheckpointDue({
      dirtyPerTask: this.dirtyPerTask(),
      max: this.d.maxDirtyBeforeCheckpoint,
      roundRunning: this.round !== null,
      // A frozen process must not write before the timer confirmed it is not a zombie.
      held: this.d.stall.held(),
    });
    if (!due) return;
    this.earlyRounds++;
    this.d.log.debug({ earlyRounds: this.earlyRounds }, 'dirty entries over the bound: early checkpoint');
    this.runRound();
  }

  private runRound(): void {
    void this.checkpointAll().catch((e) => this.d.log.error({ err: e }, LOG_EVENTS.checkpointFailed));
  }

  private *dirtyPerTask(): Generator<number> {
    for (const w of this.d.workers)
      for (const t of w.tasks.values()) {
        if (parkedRecords(t) > 0) continue; // no cut until its parked records are applied
        let n = 0;
        for (const c of t.caches) n += c.stats().dirty;
        yield n;
      }
  }

  /** Settles when the round in flight (if any) has handed its cut to write-behind. */
  async settled(): Promise<void> {
    await this.round?.catch(() => undefined);
  }

  /** One checkpoint round over every task (at most one round at a time). */
  async checkpointAll(): Promise<void> {
    const { workers, metrics } = this.d;
    for (const w of workers) metrics.consumerLag.set({ stage: w.stage }, w.source.lag());
    recordCacheGauges(
      metrics,
      workers.flatMap((w) => [...w.tasks.values()].flatMap((t) => t.caches)),
    );
    if (this.round) return this.round;
    const tasks = workers.flatMap((w) => [...w.tasks.values()]);
    this.round = this.checkpointTasks(tasks).finally(() => {
      this.round = null;
    });
    return this.round;
  }

  /**
   * Cuts, flushes and hands over a checkpoint of `all` (revocation and stop call it directly),
   * after the cut in flight, if any, was handed over. A cut drains the caches' dirty entries: a
   * revocation's cut taken while a round's cut waited for the producer was written first, with
   * later positions, and the round then skipped the task it no longer owned. The entries drained
   * into the round's cut were in no checkpoint, yet the stored positions were past their records:
   * the next owner never applied them.
   */
  checkpointTasks(all: OwnedTask[]): Promise<void> {
    return this.cuts.push(() => this.cutAndHandOver(all));
  }

  private async cutAndHandOver(all: OwnedTask[]): Promise<void> {
    // A task with parked records is past outputs it has not sent: no cut until they are applied
    // (Redis, which parked them, could not take the checkpoint anyway). A revoked one is dropped
    // without; its next owner replays from the last checkpoint. Nor for a task given up while
    // this cut waited for the one before it.
    const tasks = all.filter((t) => parkedRecords(t) === 0 && this.owned(t));
    if (tasks.length === 0) return;
    const { sink, writeBehind, runner } = this.d;
    // 1. Cut: changelogs and snapshots in one synchronous section.
    const snaps = tasks.map((owned) => {
      runner.flushChangelog(owned);
      return { owned, snap: owned.task.snapshot() };
    });
    // 2. Outputs of everything before the cut are durable in Kafka. The cut is already taken
    // (dirty entries drained, changelog sent): giving up on it would leave its entries out of
    // every later checkpoint while the next cut's offsets cover them, so a flush that fails
    // because the broker is away is retried with the same cut until it succeeds. Meanwhile no
    // other round starts (this one is in flight) and consumption is paused (backpressure.ts).
    await retry(() => sink.flush(), {
      backoff: FLUSH_BACKOFF,
      retriable: (e, attempt) => {
        if (isOutputLost(e)) {
          this.d.fatal(e as Error);
          return false;
        }
        // Stopping: a few tries, then the process exits and the next owner replays the cut.
        return this.d.running() || attempt < 2;
      },
      onRetry: (e, attempt) => {
        this.stalledOutput = true;
        this.d.log.warn(
          { err: e, attempt },
          'producer flush failed (broker unreachable?); retrying the same checkpoint cut',
        );
      },
      wait: this.d.sleep,
    });
    this.stalledOutput = false;
    // 3. Hand over to write-behind: one atomic, fenced Redis call per task (not for a task
    // revoked or fenced while the flush waited: its new owner replays from its checkpoint).
    for (const { owned, snap } of snaps) {
      if (!this.owned(owned)) continue;
      const offsets: SourceOffset[] = snap.positions.map((p) => ({
        topic: p.topic,
        partition: p.partition,
        offset: String(p.offset),
      }));
      writeBehind.submit(owned.task.id, {
        entries: snap.entries,
        meta: Buffer.from(snap.meta),
        offsets,
        stores: owned.caches,
      });
    }
  }

  /** Whether `owned` is still its stage's task for its partition (not revoked or fenced). */
  private owned(owned: OwnedTask): boolean {
    const worker = this.d.workers.find((w) => w.stage === owned.task.id.stage);
    return worker !== undefined && owns(worker, owned);
  }
}
