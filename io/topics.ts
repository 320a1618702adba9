// Topic names of the public contract (SPEC §2) and of the job's internal topics, plus idempotent
// topic creation. Internal topics are prefixed with the application id, like Kafka Streams, so
// two deployments on one cluster never share them.
import rdkafka from '@confluentinc/kafka-javascript';
import type { IAdminClient, NewTopic } from '@confluentinc/kafka-javascript';
import { ThermostatError } from '../core/errors.js';
import { dlqTopic } from '../pipelines/topology.js';

export const TOPICS = {
  userInteractions: 'user-interactions',
  contentPublished: 'content-published',
  businessObjectives: 'business-objectives',
  heatingAllocations: 'heating-allocations',
  userMindState: 'user-mind-state',
  contentState: 'content-state',
} as const;

export const INPUT_TOPICS = [
  TOPICS.userInteractions,
  TOPICS.contentPublished,
  TOPICS.businessObjectives,
] as const;

/** Dead-letter topic of an input topic: `<topic>.dlq`. */
export { dlqTopic };

/** Internal topics, named `<appId>-<name>`. */
export const internalTopics = (appId: string) => ({
  contentEvents: `${appId}-content-events`,
  allocatorInput: `${appId}-allocator-input`,
});

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Broker topic configs (cleanup.policy, retention.ms, ...), as strings. */
  config?: Record<string, string>;
}

const COMPACT = { 'cleanup.policy': 'compact' };

/**
 * Every topic the job reads or writes. Inputs and the re-keyed internal topic share the input
 * partition count (co-partitioning); the allocator input has ONE partition so the allocator is the
 * single writer of the budget pool; changelogs are compacted.
 */
export function jobTopicSpecs(appId: string, inputPartitions: number): TopicSpec[] {
  const internal = internalTopics(appId);
  const p = inputPartitions;
  return [
    { name: TOPICS.userInteractions, partitions: p },
    { name: TOPICS.contentPublished, partitions: p },
    { name: TOPICS.businessObjectives, partitions: 1 },
    { name: TOPICS.heatingAllocations, partitions: p },
    { name: TOPICS.userMindState, partitions: p, config: COMPACT },
    { name: TOPICS.contentState, partitions: p, config: COMPACT },
    { name: dlqTopic(TOPICS.userInteractions), partitions: 1 },
    { name: dlqTopic(TOPICS.contentPublished), partitions: 1 },
    { name: dlqTopic(TOPICS.businessObjectives), partitions: 1 },
    { name: internal.contentEvents, partitions: p },
    { name: internal.allocatorInput, partitions: 1 },
  ];
}

export interface AdminOptions {
  brokers: string;
  /** librdkafka overrides (SASL/SSL), passed through. */
  rdkafka?: Record<string, string | number | boolean>;
  replicationFactor?: number;
  timeoutMs?: number;
}

const ERR_TOPIC_ALREADY_EXISTS = 36;

function call<T>(
  fn: (cb: (err: { code: number; message: string } | null | undefined, v: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

/**
 * Creates the topics that do not exist yet ("already exists" is success, so concurrent callers are
 * fine) and checks that every topic has the expected partition count: a mismatch breaks
 * co-partitioning and the single-writer allocator, so it fails loudly instead of being "fixed".
 */
export async function ensureTopics(specs: TopicSpec[], opts: AdminOptions): Promise<void> {
  const timeout = opts.timeoutMs ?? 15_000;
  const admin: IAdminClient = rdkafka.AdminClient.create({
    'bootstrap.servers': opts.brokers,
    log_level: 3,
    ...(opts.rdkafka ?? {}),
  } as never);
  try {
    const existing = new Set(await call<string[]>((cb) => admin.listTopics({ timeout }, cb)));
    for (const s of specs.filter((t) => !existing.has(t.name))) {
      const topic: NewTopic = {
        topic: s.name,
        num_partitions: s.partitions,
        replication_factor: opts.replicationFactor ?? 1,
        config: (s.config ?? {}) as NewTopic['config'],
      }; // the binding crashes on config: undefined
      await call<void>((cb) =>
        admin.createTopic(topic, timeout, (err) =>
          cb(err && err.code !== ERR_TOPIC_ALREADY_EXISTS ? err : null, undefined),
        ),
      ).catch((e) => {
        throw new ThermostatError('DEPENDENCY', `cannot create topic ${s.name}: ${(e as Error).message}`, {
          topic: s.name,
          retriable: true,
          cause: e,
        });
      });
    }
    // A topic just created may not be in the metadata yet: describe again for a short while.
    let described: { name: string; partitions: unknown[]; error?: { message: string } }[] = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      described = await call((cb) =>
        admin.describeTopics(
          specs.map((s) => s.name),
          { timeout },
          cb as never,
        ),
      );
      if (described.every((d) => !d.error) || attempt === 49) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const s of specs) {
      const d = described.find((t) => t.name === s.name);
      if (!d || d.error)
        throw new ThermostatError(
          'DEPENDENCY',
          `cannot describe topic ${s.name}: ${d?.error?.message ?? 'missing'}`,
          { topic: s.name, retriable: true },
        );
      if (d.partitions.length !== s.partitions) {
        throw new ThermostatError(
          'CONFIG',
          `topic ${s.name} has ${d.partitions.length} partitions, expected ${s.partitions} (kafka.inputPartitions); recreate it or change the setting`,
          { topic: s.name, key: 'kafka.inputPartitions' },
        );
      }
    }
  } finally {
    admin.disconnect();
  }
}
