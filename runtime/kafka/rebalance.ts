// Rebalance handling: tasks are created on partition assignment (epoch acquired → state restored →
// consumer positioned at the checkpointed offsets) and checkpointed on revocation, unless the
// assignment was lost (another member owns it already: dropped without writing).
import { LOG_EVENTS, type Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import { createTask, type GraphSettings, type OwnedTask } from '../../pipelines/task-factory.js';
import type { TaskId } from '../../pipelines/task.js';
import type { CheckpointStore } from '../../state/store.js';
import type { WriteBehind } from '../../state/write-behind.js';
import type { TaskRunner } from '../task-runner.js';
import type { TopicPartition, TopicPartitionOffset } from './ports.js';
import { taskPartition, tpOf, type StageWorker } from './stage-worker.js';

export interface RebalanceDeps {
  settings: GraphSettings;
  store: CheckpointStore;
  writeBehind: WriteBehind;
  runner: TaskRunner;
  metrics: Metrics;
  log: Logger;
  /** Checkpoints tasks about to be revoked (CheckpointCoordinator.checkpointTasks). */
  checkpoint: (tasks: OwnedTask[]) => Promise<void>;
  /** The job still runs (false once a graceful stop began). */
  running: () => boolean;
}

export class Rebalance {
  private restoring = 0;
  private assigned = 0;

  constructor(private readonly d: RebalanceDeps) {}

  /** Assignments whose tasks are being restored now. */
  get restoringNow(): boolean {
    return this.restoring > 0;
  }

  get partitionsAssigned(): number {
    return this.assigned;
  }

  /** Creates (restores) the tasks of the assigned partitions; returns where to start reading them. */
  async onAssign(worker: StageWorker, tps: TopicPartition[]): Promise<TopicPartitionOffset[]> {
    const { settings, store, writeBehind, runner, metrics, log } = this.d;
    this.restoring++;
    try {
      const indices = [...new Set(tps.map((tp) => taskPartition(worker, tp)))].sort((a, b) => a - b);
      for (const p of indices) {
        if (worker.tasks.has(p)) continue;
        // A stopping instance takes nothing over. An assignment served while it leaves the group
        // (a rejoin after a lost session answered during the stop) is refused by librdkafka once
        // the consumer unsubscribed, and the member that gets the partition next may acquire it
        // before this acquire lands. The later epoch fences that owner while the group still
        // assigns it the partition, whose records it then skips until the next rebalance.
        if (!this.d.running()) break;
        const id: TaskId = { stage: worker.stage, partition: p };
        const owned = await createTask(id, settings, store, (t) => writeBehind.acquire(t));
        worker.tasks.set(p, owned);
        // Before any of its records is fetched: the previous owner's idleness is not taken over.
        runner.resumed(owned);
      }
      this.assigned += tps.length;
      metrics.assignedPartitions.set({ stage: worker.stage }, worker.tasks.size);
      log.info(
        { event: LOG_EVENTS.partitionsAssigned, stage: worker.stage, partitions: tps.map(tpOf) },
        'partitions assigned',
      );
      const wanted = new Set(tps.map(tpOf));
      const out: TopicPartitionOffset[] = [];
      for (const p of indices) {
        for (const pos of worker.tasks.get(p)?.task.positions() ?? [])
          if (wanted.has(tpOf(pos))) out.push(pos);
      }
      worker.joined = true;
      return out;
    } finally {
      this.restoring--;
    }
  }

  /** Checkpoints (unless `lost`) and closes the tasks of the revoked partitions. */
  async onRevoke(worker: StageWorker, tps: TopicPartition[], lost: boolean): Promise<void> {
    const { writeBehind, runner, metrics, log } = this.d;
    const indices = [...new Set(tps.map((tp) => taskPartition(worker, tp)))];
    const revoked = indices.map((p) => worker.tasks.get(p)).filter((t): t is OwnedTask => t !== undefined);
    // A lost assignment belongs to another member already: no checkpoint and no changelog (a
    // zombie's stale changelog records would land after the new owner's). The new owner replays
    // from the last durable checkpoint.
    if (!lost) {
      await this.d
        .checkpoint(revoked)
        .catch((e) => log.warn({ err: e, stage: worker.stage }, 'checkpoint on revoke failed'));
      await Promise.all(revoked.map((t) => writeBehind.flush(t.task.id).catch(() => undefined)));
    } else
      log.warn(
        { stage: worker.stage, partitions: tps.map(tpOf) },
        'partitions lost (session expired): dropped without checkpoint',
      );
    for (const t of revoked) {
      writeBehind.release(t.task.id);
      worker.tasks.delete(t.task.id.partition);
      runner.close(t);
    }
    for (const tp of tps) worker.idle.forget(tp.topic, tp.partition);
    this.assigned -= tps.length;
    metrics.assignedPartitions.set({ stage: worker.stage }, worker.tasks.size);
    log.info(
      { event: LOG_EVENTS.partitionsRevoked, stage: worker.stage, partitions: tps.map(tpOf) },
      'partitions revoked',
    );
  }
}
