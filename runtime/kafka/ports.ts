// What the Kafka runtime needs from a Kafka client: a consumer per stage (SourcePort) and one
// producer (SinkPort). io/kafka.ts implements them on node-rdkafka; the unit tests use fakes.
import type { RawRecord } from '../task-runner.js';

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  offset: number;
}

/** What the job needs from a Kafka consumer (io/kafka provides it). */
export interface SourcePort {
  connect(): Promise<void>;
  /** Up to `max` records, waiting at most `timeoutMs`. */
  poll(max: number, timeoutMs: number): Promise<RawRecord[]>;
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /** Records behind the partition ends, summed over this consumer's assignment. */
  lag(): number;
  /**
   * The partition's end offset, asked of the broker (a round trip); rejects when the broker does
   * not answer. Confirms idleness (poll-loop.ts `markIdle`); optional: without it, idleness is EOF + time only.
   */
  endOffset?(tp: TopicPartition): Promise<number>;
  pause(tps: readonly TopicPartition[]): void;
  resume(tps: readonly TopicPartition[]): void;
  disconnect(): Promise<void>;
}

export interface SourceOptions {
  groupId: string;
  topics: string[];
  /** Returns where to start reading each assigned partition. */
  onAssign(tps: TopicPartition[]): Promise<TopicPartitionOffset[]>;
  /** `lost`: the group already gave the partitions to another member: drop, do not write. */
  onRevoke(tps: TopicPartition[], lost?: boolean): Promise<void>;
  /** The consumer reached the end of a partition; `end` is the next offset to be written. */
  onEof?(tp: TopicPartition, end: number): void;
}

/** What the job needs from a Kafka producer. */
export interface SinkPort {
  send(
    topic: string,
    key: string | null,
    value: Buffer,
    opts?: { partition?: number; headers?: Record<string, string> },
  ): void;
  /**
   * Resolves once every record sent so far is acknowledged. Rejects with an error whose
   * `outputLost` is true when a record was given up (io/kafka.ts DeliveryError); any other
   * rejection (a timeout while the broker is away) leaves the records queued for delivery.
   */
  flush(): Promise<void>;
  disconnect(): Promise<void>;
}

/** A record the producer gave up on: the outputs of the current cut cannot all reach Kafka. */
export const isOutputLost = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && (e as { outputLost?: unknown }).outputLost === true;
