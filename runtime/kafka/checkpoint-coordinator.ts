// Checkpoint rounds of the Kafka runtime, at most one at a time: each commit interval, and early
// after a batch when a task passes the dirty-entry bound or, under load, once the minimum interval
// has passed and enough interactions arrived to pay for the round (the interval then counts from
// that round):
//   1. every task's changelog is flushed (latest version per changed key) and a snapshot is cut —
//      synchronously, so state, metadata and positions describe the same instant;
//   2. the producer is flushed: every output caused by the snapshot's input is durable in Kafka;
//   3. the snapshot is handed to write-behind (one atomic, fenced Redis call per task), which
//      reports back once Redis confirms (the offset committer then commits the source offsets).
// Kafka offsets therefore never run ahead of Redis state.
import type { Clock } from '../../core/clock.js';
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

/**
 * Interactions per checkpoint call a busy round must have behind it: one atomic Redis call per
 * task written, so a round after `n × tasks` interactions costs at most 1/n calls per interaction.
 */
export const INTERACTIONS_PER_CHECKPOINT_CALL = 100;

/**
 * Whether a busy checkpoint round should start now, before the commit interval ends: at least
 * `minIntervalMs` since the previous round started, and at least INTERACTIONS_PER_CHECKPOINT_CALL
 * interactions (input records consumed by the user stage; not re-key markers or re-routed copies)
 * since the last cut per task the round could write (`tasksToWrite`: every task it would cut).
 * Under load the serving copy then lags by about the minimum interval plus a round; at a low rate
 * the commit interval ends first and nothing changes. `minIntervalMs` 0 disables it. Never while
 * a round is running, nor while the process is held after a stall (stall.ts).
 */
export function busyCheckpointDue(o: {
  sinceLastRoundMs: number;
  minIntervalMs: number;
  interactions: number;
  tasksToWrite: number;
  roundRunning: boolean;
  held: boolean;
}): boolean {
  if (o.minIntervalMs <= 0 || o.roundRunning || o.held) return false;
  if (o.sinceLastRoundMs < o.minIntervalMs || o.tasksToWrite === 0) return false;
  return o.interactions >= INTERACTIONS_PER_CHECKPOINT_CALL * o.tasksToWrite;
}

/** What started a checkpoint round (label of thermostat_checkpoint_rounds_total). */
export type RoundTrigger = 'interval' | 'dirty' | 'busy';

/** Per task that a round could cut now: dirty cache entries and interactions since its last cut. */
interface TaskLoad {
  dirty: number;
  interactions: number;
}

export interface CheckpointDeps {
  workers: readonly StageWorker[];
  runner: TaskRunner;
  sink: SinkPort;
  writeBehind: WriteBehind;
  metrics: Metrics;
  log: Logger;
  stall: StallGuard;
  clock: Clock;
  timers: Timers;
  sleep: (ms: number) => Promise<void>;
  commitIntervalMs: number;
  /** Config commitMinIntervalMs: the busy trigger (busyCheckpointDue); 0 disables it. */
  commitMinIntervalMs: number;
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
  private busyRounds = 0;
  /** Wall time the last round started (any trigger): the busy trigger's minimum interval. */
  private lastRoundAt: number;
  /** Interactions each task consumed since its last cut (a revoked task's entry goes with it). */
  private readonly interactionsSinceCut = new WeakMap<OwnedTask, number>();
  /** A producer flush failed and is being retried: consumption pauses until it succeeds. */
  private stalledOutput = false;

  constructor(private readonly d: CheckpointDeps) {
    this.lastRoundAt = d.clock.now();
  }

  /** Starts the commit timer: a round every interval, skipped once after a stall of the process. */
  start(): void {
    this.d.stall.restart();
    this.armTimer();
  }

  private armTimer(): void {
    this.timer = this.d.timers.setInterval(() => {
      const gap = this.d.stall.round();
      if (gap !== null) {
        this.d.log.warn(
          { stalledMs: gap },
          'process stalled: skipping one checkpoint round until group membership is confirmed',
        );
        return;
      }
      this.runRound('interval');
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

  /** Checkpoint rounds started by the busy trigger so far (tests, logs). */
  get busyCheckpoints(): number {
    return this.busyRounds;
  }

  /**
   * After a batch of `owned` that held `interactions` input interactions: starts a checkpoint
   * round at once if a task passed the dirty-entry bound, or if the busy trigger is due.
   */
  afterBatch(owned: OwnedTask, interactions: number): void {
    if (interactions > 0)
      this.interactionsSinceCut.set(owned, (this.interactionsSinceCut.get(owned) ?? 0) + interactions);
    // A frozen process must not write before the timer confirmed it is not a zombie.
    if (this.round !== null || this.d.stall.held()) return;
    const trigger = this.earlyTrigger();
    if (trigger === null) return;
    if (trigger === 'dirty') {
      this.earlyRounds++;
      this.d.log.debug({ earlyRounds: this.earlyRounds }, 'dirty entries over the bound: early checkpoint');
    } else this.busyRounds++;
    // The interval counts from this round: a timer round right after it would write every task
    // again for a fraction of the interactions. The stall guard counts it as a round.
    this.d.stall.earlyRound();
    if (this.timer !== null) {
      this.d.timers.clearInterval(this.timer);
      this.armTimer();
    }
    this.runRound(trigger);
  }

  /** Which early trigger is due now, if any (no round running, not held: checked by the caller). */
  private earlyTrigger(): RoundTrigger | null {
    const load = this.taskLoads();
    const free = { roundRunning: false, held: false };
    const dirtyPerTask = load.map((t) => t.dirty);
    if (earlyCheckpointDue({ dirtyPerTask, max: this.d.maxDirtyBeforeCheckpoint, ...free })) return 'dirty';
    const busy = busyCheckpointDue({
      sinceLastRoundMs: this.d.clock.now() - this.lastRoundAt,
      minIntervalMs: this.d.commitMinIntervalMs,
      interactions: load.reduce((n, t) => n + t.interactions, 0),
      // Every task the round could write, not only those with something new yet: batches still
      // in flight (tasks run theirs concurrently) and the content tasks' forwarded records land
      // before the cut as often as not, and each such task is one more call.
      tasksToWrite: load.length,
      ...free,
    });
    return busy ? 'busy' : null;
  }

  private runRound(trigger: RoundTrigger): void {
    void this.checkpointAll(trigger).catch((e) => this.d.log.error({ err: e }, LOG_EVENTS.checkpointFailed));
  }

  /** The tasks a round would cut now (not those with parked records: no cut until they are applied). */
  private taskLoads(): TaskLoad[] {
    const out: TaskLoad[] = [];
    for (const w of this.d.workers)
      for (const t of w.tasks.values()) {
        if (parkedRecords(t) > 0) continue;
        let dirty = 0;
        for (const c of t.caches) dirty += c.stats().dirty;
        out.push({ dirty, interactions: this.interactionsSinceCut.get(t) ?? 0 });
      }
    return out;
  }

  /** Settles when the round in flight (if any) has handed its cut to write-behind. */
  async settled(): Promise<void> {
    await this.round?.catch(() => undefined);
  }

  /** One checkpoint round over every task (at most one round at a time). */
  async checkpointAll(trigger: RoundTrigger = 'interval'): Promise<void> {
    const { workers, metrics } = this.d;
    for (const w of workers) metrics.consumerLag.set({ stage: w.stage }, w.source.lag());
    recordCacheGauges(
      metrics,
      workers.flatMap((w) => [...w.tasks.values()].flatMap((t) => t.caches)),
    );
    if (this.round) return this.round;
    metrics.checkpointRounds.inc({ trigger });
    this.lastRoundAt = this.d.clock.now();
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
      this.interactionsSinceCut.delete(owned);
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
