// Source offsets go to Kafka once the checkpoint that covers them is durable in Redis (for lag
// monitoring only: restore always seeks to the offsets stored with the state). Commits are
// coalesced: one in flight per stage consumer, carrying every task's latest durable offsets. A
// commit is a broker round trip on libuv's 4-thread pool, which the stages' blocking polls share,
// and one commit per task per round (13 with 6 partitions) queued in front of the polls.
import type { Logger } from '../../core/log.js';
import type { SourceOffset } from '../../state/store.js';
import type { TopicPartitionOffset } from './ports.js';
import { taskPartition, tpOf, type StageWorker } from './stage-worker.js';

export class OffsetCommitter {
  /** Durable offsets not yet committed, per stage consumer, and the consumers committing now. */
  private readonly pending = new Map<StageWorker, Map<string, TopicPartitionOffset>>();
  private readonly committing = new Set<StageWorker>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly log: Logger) {}

  /** A checkpoint of `task` is durable: its offsets are committed (coalesced with others pending). */
  async durable(
    worker: StageWorker,
    task: { stage: string; partition: number },
    offsets: readonly SourceOffset[],
  ): Promise<void> {
    let pending = this.pending.get(worker);
    if (!pending) this.pending.set(worker, (pending = new Map()));
    for (const o of offsets)
      pending.set(tpOf(o), { topic: o.topic, partition: o.partition, offset: Number(o.offset) });
    if (this.committing.has(worker)) return;
    this.committing.add(worker);
    const todo = pending;
    const p = (async () => {
      try {
        while (todo.size > 0) {
          // Partitions revoked meanwhile belong to their new owner: not committed from here.
          const batch = [...todo.values()].filter((o) => worker.tasks.has(taskPartition(worker, o)));
          todo.clear();
          if (batch.length === 0) break;
          await worker.source
            .commit(batch)
            .catch((e) =>
              this.log.warn(
                { err: e, task },
                'offset commit failed (state is safe in Redis; lag metrics may lag)',
              ),
            );
        }
      } finally {
        this.committing.delete(worker);
      }
    })();
    this.inFlight.add(p);
    await p;
    this.inFlight.delete(p);
  }

  /** Settles once the commits in flight have. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}
