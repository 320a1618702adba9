// One stage of the graph on this instance: its consumer (one group per stage, like Kafka Streams'
// sub-topologies), the tasks of the partitions it was assigned, and its idleness and pause state.
import type { OwnedTask } from '../../pipelines/task-factory.js';
import { tpKey, type StageName, type TopologyNames } from '../../pipelines/topology.js';
import type { IdleSources } from '../idle-sources.js';
import type { SourcePort, TopicPartition } from './ports.js';

export interface StageWorker {
  stage: StageName;
  source: SourcePort;
  /** By task partition. */
  tasks: Map<number, OwnedTask>;
  /** Partitions at their end, and which are declared idle. */
  idle: IdleSources;
  paused: boolean;
  /** The group gave this member its first assignment (possibly empty) and its tasks are restored. */
  joined: boolean;
}

/** The stages and the topics each one's consumer reads. */
export const stageSources = (n: TopologyNames): { stage: StageName; topics: string[] }[] => [
  { stage: 'user', topics: [n.interactions, n.published, n.userRekey] },
  { stage: 'content', topics: [n.contentEvents] },
  { stage: 'allocator', topics: [n.allocatorInput, n.objectives] },
];

/** A topic partition's key in maps. */
export const tpOf = (t: TopicPartition): string => tpKey(t.topic, t.partition);

/** The allocator stage's single task is partition 0 of its topics; other stages: one task per partition index. */
export const taskPartition = (worker: StageWorker, tp: TopicPartition): number =>
  worker.stage === 'allocator' ? 0 : tp.partition;

/** Whether `owned` is still the worker's task for its partition (not revoked or fenced meanwhile). */
export const owns = (worker: StageWorker, owned: OwnedTask): boolean =>
  worker.tasks.get(owned.task.id.partition) === owned;
