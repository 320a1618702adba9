// Backpressure is pause/resume of a stage's consumer: the records stay in Kafka and memory stays
// bounded, while polling goes on (it serves rebalances and keeps the member in its group). A
// stage pauses while the graph cannot take more: write-behind's checkpoint queue is over its
// bound (slow Redis), a producer flush is being retried (broker away), or one of its tasks holds
// more records back than redis.maxParkedRecords (Redis cannot load state). It resumes once none
// of these holds.
import type { Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { OwnedTask } from '../../pipelines/task-factory.js';
import { parkedRecords } from '../task-runner.js';
import type { StageWorker } from './stage-worker.js';

/** Default of `maxParkedRecords` (core/config.ts redis.maxParkedRecords). */
export const DEFAULT_MAX_PARKED_RECORDS = 50_000;

/** Records the tasks hold back while state cannot load, and whether one task holds more than `max`. */
export function parkedLoad(tasks: Iterable<OwnedTask>, max: number): { total: number; over: boolean } {
  let total = 0;
  let over = false;
  for (const t of tasks) {
    const n = parkedRecords(t);
    total += n;
    if (n > max) over = true;
  }
  return { total, over };
}

export class Backpressure {
  constructor(
    private readonly o: {
      /** Write-behind's checkpoint queue is over its bound. */
      checkpointQueueFull: () => boolean;
      /** A producer flush failed and is being retried. */
      outputStalled: () => boolean;
      maxParkedRecords: number;
      metrics: Metrics;
      log: Logger;
    },
  ) {}

  /** Why the stage must pause now, or null (also reports its parked records). */
  private reason(worker: StageWorker): string | null {
    const parked = parkedLoad(worker.tasks.values(), this.o.maxParkedRecords);
    this.o.metrics.parkedRecords.set({ stage: worker.stage }, parked.total);
    if (this.o.checkpointQueueFull()) return 'checkpoint queue full';
    if (this.o.outputStalled()) return 'producer flush being retried';
    if (parked.over) return 'a task holds more than redis.maxParkedRecords records back';
    return null;
  }

  /**
   * Pauses or resumes the stage's fetching on every assigned partition, before each poll.
   * Re-applied each round while paused, so partitions assigned meanwhile are paused too.
   */
  apply(worker: StageWorker): void {
    const why = this.reason(worker);
    const want = why !== null;
    if (!want && !worker.paused) return;
    const tps = [...worker.tasks.values()].flatMap((t) =>
      t.task.positions().map((p) => ({ topic: p.topic, partition: p.partition })),
    );
    try {
      if (want) worker.source.pause(tps);
      else worker.source.resume(tps);
    } catch (e) {
      this.o.log.warn(
        { err: e, stage: worker.stage },
        'pause/resume failed (rebalance in progress?); retrying next round',
      );
      return;
    }
    if (want === worker.paused) return;
    worker.paused = want;
    this.o.log.warn(
      { stage: worker.stage, paused: want },
      want ? `${why}: pausing consumption` : 'backpressure cleared: resuming',
    );
  }
}
