// A stage's poll loop: poll its consumer, run each partition's records through its task (a batch
// whose state cannot load is retried after a backoff), then, after every poll: parked batches
// whose state has loaded, one backlog step, and idleness. Backpressure is applied before each poll.
import { retry } from '../../core/retry.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { OwnedTask } from '../../pipelines/task-factory.js';
import { hasBacklog, runBacklogStep } from '../backlog.js';
import { parkedRecords, type RawRecord, type TaskRunner } from '../task-runner.js';
import type { Backpressure } from './backpressure.js';
import { owns, taskPartition, tpOf, type StageWorker } from './stage-worker.js';

/** Backoff of a batch whose state load failed (Redis down, paused or slow). */
const BATCH_BACKOFF = { initialMs: 100, maxMs: 2000 };
/** Wait after a failed poll. */
const POLL_RETRY_MS = 200;
/** Wait between polls that brought nothing while the stage is paused. */
const PAUSED_IDLE_MS = 50;

export interface PollLoopDeps {
  runner: TaskRunner;
  backpressure: Backpressure;
  clock: Clock;
  metrics: Metrics;
  log: Logger;
  batchSize: number;
  sleep: (ms: number) => Promise<void>;
  running: () => boolean;
  /** After each batch of `records` of `topic` run by `owned` (CheckpointCoordinator.afterBatch). */
  afterBatch: (owned: OwnedTask, topic: string, records: number) => void;
}

/** The batches of one poll, by task partition (each with its topic partition key). */
type PolledBatches = Map<number, [string, RawRecord[]][]>;

export class PollLoop {
  constructor(private readonly d: PollLoopDeps) {}

  /** Runs until the job stops. */
  async run(worker: StageWorker): Promise<void> {
    const { metrics, batchSize, log } = this.d;
    while (this.d.running()) {
      this.d.backpressure.apply(worker);
      let records: RawRecord[];
      try {
        // Paused partitions return nothing, but polling goes on: it serves rebalances and keeps
        // the member in its group (a consumer that stops polling is evicted after max.poll.interval.ms).
        records = await worker.source.poll(batchSize, 100);
      } catch (e) {
        log.warn({ err: e, stage: worker.stage }, 'poll failed; retrying');
        await this.d.sleep(POLL_RETRY_MS);
        continue;
      }
      if (!this.d.running()) break;
      const started = performance.now();
      const ran = records.length > 0 ? await this.runPolled(worker, records) : undefined;
      // After every poll, with records or without: parked batches whose state has loaded, one
      // backlog step, and idleness (under steady traffic every poll brings records of some
      // partition, and a quiet one, a catalogue topic published once, must still turn idle).
      await this.resumeParked(worker, ran);
      await this.runBacklogs(worker);
      if (ran)
        metrics.processingLatency.observe({ stage: worker.stage }, (performance.now() - started) / 1000);
      await this.markIdle(worker);
      if (!ran && worker.paused) await this.d.sleep(PAUSED_IDLE_MS);
    }
  }

  /** Runs a poll's records through their tasks; the tasks that got a batch, by partition. */
  private async runPolled(worker: StageWorker, records: RawRecord[]): Promise<PolledBatches> {
    const { metrics, runner, clock } = this.d;
    // Group by partition, keeping each partition's offset order.
    const groups = new Map<string, RawRecord[]>();
    for (const r of records) {
      const k = tpOf(r);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = []));
      g.push(r);
    }
    // Tasks run their batches concurrently, each task's own batches in order: a batch's state
    // load (a Redis round trip for keys not resident) then overlaps with the other tasks' CPU
    // work instead of being awaited once per partition in turn. Tasks share no state; each
    // task's outputs keep their order (the content stage orders its input canonically anyway).
    const byTask: PolledBatches = new Map();
    for (const [k, batch] of groups) {
      const p = taskPartition(worker, batch[0]);
      let list = byTask.get(p);
      if (!list) byTask.set(p, (list = []));
      list.push([k, batch]);
    }
    const runTask = async (list: [string, RawRecord[]][]): Promise<void> => {
      for (const [, batch] of list) {
        const owned = worker.tasks.get(taskPartition(worker, batch[0]));
        if (!owned) continue; // revoked while the batch was in flight: the next owner reprocesses it
        const { topic, partition } = batch[0];
        if (worker.idle.received(topic, partition, batch[batch.length - 1].offset + 1))
          runner.setIdle(owned, topic, partition, false);
        if (!(await this.runBatchRetrying(worker, owned, batch))) continue;
        this.d.afterBatch(owned, topic, batch.length);
        const lag = clock.now() - batch[batch.length - 1].timestamp;
        if (lag >= 0) metrics.eventLatency.observe({ stage: worker.stage }, lag / 1000);
      }
    };
    if (byTask.size === 1) await runTask(byTask.values().next().value!);
    else await Promise.all([...byTask.values()].map(runTask));
    return byTask;
  }

  /**
   * Runs one partition's batch. A retriable failure (the cache could not load the batch's keys:
   * Redis down, paused or slow) happens before the task processed anything, so the same batch is
   * run again after a backoff: the job waits for Redis instead of crashing (a rejection escaping
   * this loop ended the process). Gives up (false) when the job stops or the task was revoked or
   * fenced meanwhile: the next owner re-reads the batch from its checkpoint. A retried batch with
   * poison records sends them to the DLQ again (same bytes and source coordinates).
   */
  private async runBatchRetrying(
    worker: StageWorker,
    owned: OwnedTask,
    batch: RawRecord[],
  ): Promise<boolean> {
    const done = await retry(
      async () => {
        await this.d.runner.run(owned, batch[0].topic, batch[0].partition, batch);
        return true;
      },
      {
        backoff: BATCH_BACKOFF,
        onRetry: (e, attempt) =>
          this.d.log.warn(
            { err: e, stage: worker.stage, partition: owned.task.id.partition, attempt },
            'batch failed (state load); retrying',
          ),
        stop: () => !this.d.running() || !owns(worker, owned),
        wait: this.d.sleep,
      },
    );
    return done === true;
  }

  /**
   * Retries the parked work of tasks that got no batch this round (`skip`: the tasks that did;
   * feeding them already retried): applied as soon as a state load succeeds.
   */
  private async resumeParked(worker: StageWorker, skip?: ReadonlyMap<number, unknown>): Promise<void> {
    for (const [p, owned] of worker.tasks) {
      if (skip?.has(p) || parkedRecords(owned) === 0) continue;
      await this.d.runner
        .resumeHeld(owned)
        .catch((e) =>
          this.d.log.warn({ err: e, stage: worker.stage, partition: p }, 'resuming parked records failed'),
        );
    }
  }

  /** One backlog step of each task that has one (a long catch-up of ticks, closed in steps). */
  private async runBacklogs(worker: StageWorker): Promise<void> {
    for (const [p, owned] of worker.tasks) {
      if (!hasBacklog(owned)) continue;
      const current = () => this.d.running() && owns(worker, owned);
      await runBacklogStep(owned, this.d.runner.collector(worker.stage), current).catch((e) =>
        this.d.log.warn({ err: e, stage: worker.stage, partition: p }, 'backlog step failed'),
      );
    }
  }

  /**
   * Declares partitions idle that sat at their end for the idle timeout, whatever the stage's other
   * partitions are doing (called after every poll). "At its end" is only true while the broker
   * says so: during a broker outage or restart every partition looks idle (no records arrive), and
   * records produced meanwhile would be late once it is back. So the end is confirmed with the
   * broker first; if it does not answer, the idle clock restarts.
   */
  private async markIdle(worker: StageWorker): Promise<void> {
    if (worker.stage !== 'user') return;
    for (const st of worker.idle.dueEntries()) {
      const { topic, partition } = st;
      const owned = worker.tasks.get(partition);
      if (!owned) continue;
      if (worker.source.endOffset) {
        const end = await worker.source.endOffset({ topic, partition }).catch(() => null);
        // Revoked, woken up or moved on while the broker was asked: nothing to declare.
        if (!worker.idle.current(st) || !owns(worker, owned)) continue;
        if (end === null || end > st.end) {
          worker.idle.restart(st); // unreachable, or records are coming: not idle yet
          continue;
        }
      }
      worker.idle.declare(st);
      this.d.runner.setIdle(owned, topic, partition, true);
    }
  }
}
