// Creates a task for an assigned partition: acquires the task's epoch from the checkpoint store
// (fencing any older owner), restores its metadata, and wires a versioned cache that loads keys
// from the store on demand. Used by every transport (in-memory driver, Kafka).
import type { AgentConfig } from '../agents/config.js';
import { systemClock, type Clock } from '../core/clock.js';
import { INPUT_BOUNDS } from '../core/config.js';
import type { HeatingRequestPolicy } from '../agents/content.js';
import type { AllocationScorer, ExplorePolicy } from '../agents/scorer.js';
import { STORE_CONTENT, STORE_USER_MIND } from '../state/keys.js';
import type { AcquireResult, CheckpointStore } from '../state/store.js';
import { CompactUserStore } from '../state/compact-user-store.js';
import { VersionedCache, type TaskCache } from '../state/versioned-cache.js';
import { liveModelOf, type AllocatorModelPort } from './allocator-control.js';
import { AllocatorTask, type TickReport } from './allocator-task.js';
import { ContentTask } from './content-task.js';
import { contentAgentCodec, userStateCodec } from './state-codecs.js';
import { LoadHealth, StateGate } from '../runtime/state-gate.js';
import type { StreamTask, TaskId } from './task.js';
import { inputTopics, type TopologyNames } from './topology.js';
import { UserTask, type PartitionMismatchPolicy, type StageTiming } from './user-task.js';

export interface GraphSettings {
  names: TopologyNames;
  /** Partitions of user-interactions, content-published and content-events. */
  partitions: number;
  objectivesPartitions: number;
  agents: AgentConfig;
  timing: StageTiming;
  seed: number;
  /** Resident entries per task cache before clean entries are evicted. */
  cacheMaxEntries: number;
  /** The allocation scorer in use (read once per tick, so a swapped model applies at the next tick). */
  scorer: () => AllocationScorer;
  /** A learned user explore policy (one batched call per micro-batch); absent: the rule. */
  explore?: () => ExplorePolicy;
  requestPolicy?: HeatingRequestPolicy;
  onTick?: (report: TickReport) => void;
  /** Online learning: the allocator's models, switched by control records (learn/online/). */
  models?: AllocatorModelPort;
  /** A content was flagged by anti-cheat (metric hook; replays after a restart call it again). */
  onFlagged?: () => void;
  /** Content-task work per call before a catch-up continues as a backlog (default CONTENT_STEP_WORK). */
  contentStepWork?: number;
  /** Config kafka.maxRecordBytes (default INPUT_BOUNDS). */
  maxRecordBytes?: number;
  /** Config kafka.partitionMismatch (default INPUT_BOUNDS). */
  partitionMismatch?: PartitionMismatchPolicy;
  /** A record was found in a partition its id does not hash to (metric hook). */
  onMisrouted?: (topic: string) => void;
  /** Wall clock for load-retry pacing only (default: the system clock). */
  clock?: Clock;
  /** Load health of the checkpoint store, shared by every task (default: one per task). */
  loadHealth?: LoadHealth;
}

export interface OwnedTask {
  task: StreamTask;
  epoch: number;
  /** Next checkpoint sequence number within the epoch. */
  seq: number;
  caches: TaskCache<unknown>[];
  /** Whether state can be loaded now, and the batches held while it cannot. */
  gate: StateGate;
  /** Input topics of the task and the size bound on their records. */
  limits: { inputTopics: ReadonlySet<string>; maxRecordBytes: number };
}

/**
 * `acquire` defaults to the store's; the Kafka runtime passes write-behind's, which retries while
 * Redis is down and registers the epoch for later commits.
 */
export async function createTask(
  id: TaskId,
  g: GraphSettings,
  store: CheckpointStore,
  acquire: (id: TaskId) => Promise<AcquireResult> = (t) => store.acquire(t),
): Promise<OwnedTask> {
  const { epoch, meta } = await acquire(id);
  const restored = meta === null ? null : meta.toString('utf8');
  // No checkpoint (acquire returned no metadata): the store holds nothing for this task, so a miss
  // is absent without a round trip.
  const cacheOptions = <C>(name: string, codec: C) => ({
    name,
    codec,
    maxEntries: g.cacheMaxEntries,
    loader: (keys: readonly string[]) => store.load(id, name, keys),
    authoritative: meta === null,
  });
  const runtime = {
    gate: new StateGate(g.loadHealth ?? new LoadHealth(g.clock ?? systemClock)),
    limits: {
      inputTopics: new Set(inputTopics(g.names)),
      maxRecordBytes: g.maxRecordBytes ?? INPUT_BOUNDS.maxRecordBytes,
    },
  };
  switch (id.stage) {
    case 'user': {
      // Struct-of-arrays user state, same semantics (one-interaction user ≈ 170 B instead of ≈ 970 B).
      const users = new CompactUserStore(cacheOptions(STORE_USER_MIND, userStateCodec(g.agents)));
      users.init();
      const task = new UserTask(
        id.partition,
        g.names,
        g.partitions,
        users,
        g.agents,
        g.timing,
        restored,
        g.explore,
        {
          partitionMismatch: g.partitionMismatch ?? INPUT_BOUNDS.partitionMismatch,
          onMisrouted: g.onMisrouted,
        },
      );
      return { task, epoch, seq: 1, caches: [users as TaskCache<unknown>], ...runtime };
    }
    case 'content': {
      const contents = new VersionedCache(cacheOptions(STORE_CONTENT, contentAgentCodec));
      contents.init();
      const task = new ContentTask(
        id.partition,
        g.names,
        g.partitions,
        contents,
        g.agents,
        g.timing,
        g.seed,
        restored,
        g.requestPolicy,
        g.onFlagged,
        g.contentStepWork,
      );
      return { task, epoch, seq: 1, caches: [contents as TaskCache<unknown>], ...runtime };
    }
    case 'allocator': {
      // The model the checkpoint names is loaded before the task processes anything.
      await g.models?.restore(liveModelOf(restored));
      const task = new AllocatorTask(
        g.names,
        g.partitions,
        g.objectivesPartitions,
        g.agents,
        g.timing.tickMs,
        g.scorer,
        restored,
        g.onTick,
        g.models,
      );
      return { task, epoch, seq: 1, caches: [], ...runtime };
    }
  }
}
