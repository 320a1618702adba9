// Stable names of the dataflow: stages, topics, consumer groups, stores. Renaming any of these is a
// migration (consumer offsets, Redis keys and changelogs are keyed by them), like Kafka Streams'
// named processors.
import { murmur2, partitionForKey } from '../core/hash.js';

export const STAGES = ['user', 'content', 'allocator'] as const;
export type StageName = (typeof STAGES)[number];

/** Public topics of SPEC §2. */
export const PUBLIC_TOPICS = {
  interactions: 'user-interactions',
  published: 'content-published',
  objectives: 'business-objectives',
  allocations: 'heating-allocations',
  userChangelog: 'user-mind-state',
  contentChangelog: 'content-state',
} as const;

export const dlqTopic = (topic: string): string => `${topic}.dlq`;

export interface TopologyNames {
  interactions: string;
  published: string;
  objectives: string;
  allocations: string;
  userChangelog: string;
  contentChangelog: string;
  /** Internal, by content_id, same partition count as the inputs. */
  contentEvents: string;
  /** Internal, one partition: the allocator is the single writer of the budget pool. */
  allocatorInput: string;
  /**
   * Internal, by user_id, same partition count as the inputs: interactions found in a partition
   * their user_id does not hash to, on their way to the user task that owns the user.
   */
  userRekey: string;
  /** Late records (beyond allowed lateness) — a side output, never silently dropped. */
  late: string;
}

/**
 * `topicPrefix` (config `topicPrefix`, default none) prefixes the public topics too: for tests and
 * for several isolated deployments on one cluster. Production keeps the contract's plain names.
 */
export function topologyNames(appId: string, topicPrefix = ''): TopologyNames {
  const pub = Object.fromEntries(
    Object.entries(PUBLIC_TOPICS).map(([k, v]) => [k, topicPrefix + v]),
  ) as Record<keyof typeof PUBLIC_TOPICS, string>;
  return {
    ...pub,
    contentEvents: `${appId}-content-events`,
    allocatorInput: `${appId}-allocator-input`,
    userRekey: `${appId}-user-rekey`,
    late: `${appId}-late-records`,
  };
}

/** Every topic of the graph with its partition count and configs (created by the job at start). */
export function topicSpecs(
  n: TopologyNames,
  partitions: number,
): { name: string; partitions: number; config?: Record<string, string> }[] {
  const compact = { 'cleanup.policy': 'compact' };
  return [
    { name: n.interactions, partitions },
    { name: n.published, partitions },
    { name: n.objectives, partitions: 1 },
    { name: n.allocations, partitions },
    { name: n.userChangelog, partitions, config: compact },
    { name: n.contentChangelog, partitions, config: compact },
    { name: n.contentEvents, partitions },
    { name: n.allocatorInput, partitions: 1 },
    { name: n.userRekey, partitions },
    { name: n.late, partitions: 1 },
    ...[n.interactions, n.published, n.objectives, n.contentEvents, n.allocatorInput, n.userRekey].map(
      (t) => ({
        name: dlqTopic(t),
        partitions: 1,
      }),
    ),
  ];
}

/** Name of a topic partition in maps and logs: `topic:partition`. */
export const tpKey = (topic: string, partition: number): string => `${topic}:${partition}`;

export const consumerGroup = (appId: string, stage: StageName): string => `${appId}-${stage}`;

/** Upstream source ids carried on content events: which input topic and partition a record came from. */
export const SOURCE_TOPIC = { interactions: 0, published: 1, rekey: 2 } as const;
export const sourceId = (topicIndex: number, partition: number): number => (topicIndex << 16) | partition;
export const sourceTopicIndex = (source: number): number => source >>> 16;
export const sourcePartition = (source: number): number => source & 0xffff;

/** The value schema of every topic of the graph (reader schema when decoding). */
export function topicSchemas(n: TopologyNames): Record<string, import('../schemas/types.js').SchemaName> {
  return {
    [n.interactions]: 'UserInteraction',
    [n.published]: 'ContentPublished',
    [n.objectives]: 'BusinessObjectives',
    [n.allocations]: 'HeatingAllocation',
    [n.userChangelog]: 'UserMindState',
    [n.contentChangelog]: 'ContentState',
    [n.contentEvents]: 'ContentEvent',
    [n.allocatorInput]: 'AllocatorInput',
    [n.userRekey]: 'UserInteraction',
  };
}

/** Topics the outside world writes (the input size bound applies to them; re-keyed copies included). */
export const inputTopics = (n: TopologyNames): string[] => [
  n.interactions,
  n.published,
  n.objectives,
  n.userRekey,
];

/** Headers of a re-keyed interaction: where it was read (replays of that partition are dropped by them). */
export const ORIGIN_HEADERS = {
  partition: 'thermostat.origin.partition',
  offset: 'thermostat.origin.offset',
} as const;

/**
 * A watermark marker on the re-key topic: header-only (empty value), from origin partition
 * `ORIGIN_HEADERS.partition`. Every user task sends one to every re-key partition with each of
 * its interaction markers, so the owner of a re-routed record knows how far its origin got.
 */
export const REKEY_MARKER_HEADERS = {
  watermark: 'thermostat.marker.watermark',
  idle: 'thermostat.marker.idle',
  first: 'thermostat.marker.first',
} as const;

const scratch = new Uint8Array(256);

/**
 * The partition Kafka's Java default partitioner gives `key` (murmur2 over UTF-8, core/hash.ts
 * partitionForKey), without allocating: ASCII keys (every id the graph writes) are hashed from
 * their char codes; anything else takes the general path. Same result.
 */
export function fastPartition(key: string, partitions: number): number {
  const length = key.length;
  if (length > scratch.length) return partitionForKey(key, partitions);
  for (let i = 0; i < length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) return partitionForKey(key, partitions);
    scratch[i] = c;
  }
  return (murmur2(scratch, length) & 0x7fffffff) % partitions;
}
