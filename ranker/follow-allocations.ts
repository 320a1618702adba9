// Follows the `heating-allocations` topic into an ActiveAllocationsView for a ranker. Every
// partition is assigned directly (no consumer group, no commits): each ranker replica keeps the
// whole view, and a restart rebuilds it from the records written in the last `lookbackMs`.
import rdkafka from '@confluentinc/kafka-javascript';
import type { LibrdKafkaError, Message, TopicPartitionOffset } from '@confluentinc/kafka-javascript';
import { ThermostatError } from '../core/errors.js';
import { Serde } from '../io/serde.js';
import { PUBLIC_TOPICS } from '../pipelines/topology.js';
import type { HeatingAllocation } from '../schemas/types.js';
import { ActiveAllocationsView } from './allocations-view.js';

export interface FollowAllocationsOptions {
  /** Kafka bootstrap servers. */
  brokers: string;
  /** Extra librdkafka properties (SASL/SSL...). */
  rdkafka?: Record<string, string | number | boolean>;
  /** Default `heating-allocations` (prefix it when the job runs with a topicPrefix). */
  topic?: string;
  /** Decodes the records: `Serde.local()` (default) or one on the Schema Registry. */
  serde?: Serde;
  view?: ActiveAllocationsView;
  /**
   * How far back to read at start. At least the allocation validity (agents.system.
   * allocationValidityMs, default 1 h), so every allocation still valid is seen.
   */
  lookbackMs?: number;
  /** The ranker's time, against which [valid_from, valid_until) is checked (the job's event time). */
  now?: () => number;
  /** Wall clock of the lookback: record timestamps are the producer's wall time. */
  wallClock?: () => number;
  /** A record that is not a valid HeatingAllocation: reported here and skipped. */
  onError?: (err: Error) => void;
  clientId?: string;
}

export interface AllocationsFollower {
  readonly view: ActiveAllocationsView;
  /** Resolves once every partition has been read up to its end as of the start. */
  readonly caughtUp: Promise<void>;
  stop(): Promise<void>;
}

const HOUR = 3_600_000;
/** librdkafka's logical offset "end of partition": no record since the lookback point. */
const OFFSET_END = -1;

function call<T>(fn: (cb: (err: LibrdKafkaError | null | undefined, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

export async function followAllocations(o: FollowAllocationsOptions): Promise<AllocationsFollower> {
  const topic = o.topic ?? PUBLIC_TOPICS.allocations;
  const serde = o.serde ?? Serde.local();
  const view = o.view ?? new ActiveAllocationsView();
  const now = o.now ?? Date.now;
  const consumer = new rdkafka.KafkaConsumer(
    {
      'bootstrap.servers': o.brokers,
      // Required by the client; never joined (assign, not subscribe) and never committed to.
      'group.id': `${o.clientId ?? 'thermostat-ranker'}-view`,
      'client.id': o.clientId ?? 'thermostat-ranker',
      'enable.auto.commit': false,
      'enable.partition.eof': true,
      log_level: 3,
      ...o.rdkafka,
    } as never,
    {},
  );
  const fail = (what: string, e: unknown) =>
    new ThermostatError('DEPENDENCY', `${what} (${topic} on ${o.brokers}): ${(e as Error).message}`, {
      topic,
      retriable: true,
      cause: e,
    });
  try {
    await call((cb) => consumer.connect({ timeout: 10_000 }, cb));
  } catch (e) {
    throw fail('cannot connect to Kafka', e);
  }
  let starts: TopicPartitionOffset[];
  try {
    const meta = await call<{ topics: { name: string; partitions: { id: number }[] }[] }>((cb) =>
      consumer.getMetadata({ topic, timeout: 10_000 }, cb as never),
    );
    const partitions = meta.topics.find((t) => t.name === topic)?.partitions ?? [];
    if (partitions.length === 0) throw new Error('topic has no partitions');
    const since = Math.max(0, (o.wallClock ?? Date.now)() - (o.lookbackMs ?? HOUR));
    starts = await call<TopicPartitionOffset[]>((cb) =>
      consumer.offsetsForTimes(
        partitions.map((p) => ({ topic, partition: p.id, offset: since })),
        10_000,
        cb,
      ),
    );
  } catch (e) {
    consumer.disconnect();
    throw fail('cannot find the start offsets', e);
  }
  consumer.assign(
    starts.map((s) => ({ topic, partition: s.partition, offset: s.offset < 0 ? OFFSET_END : s.offset })),
  );

  const pendingEof = new Set(starts.map((s) => s.partition));
  let markCaughtUp = () => {};
  const caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));
  consumer.on('partition.eof', (e) => {
    pendingEof.delete(e.partition);
    if (pendingEof.size === 0) markCaughtUp();
  });
  consumer.setDefaultConsumeTimeout(200);

  const apply = (m: Message) => {
    if (!m.value) return;
    try {
      const d = serde.decode(m.value);
      if (d.schema !== 'HeatingAllocation')
        throw new ThermostatError('SCHEMA_INCOMPATIBLE', `expected HeatingAllocation, got ${d.schema}`, {
          topic,
        });
      view.apply(d.value as HeatingAllocation, now());
    } catch (e) {
      o.onError?.(e as Error);
    }
  };
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      const batch = await call<Message[]>((cb) => consumer.consume(500, cb)).catch((e) => {
        o.onError?.(fail('consume failed', e));
        return [] as Message[];
      });
      for (const m of batch) apply(m);
    }
  })();

  return {
    view,
    caughtUp,
    async stop() {
      stopping = true;
      await loop;
      await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
    },
  };
}
