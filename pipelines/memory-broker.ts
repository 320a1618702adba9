// In-memory topics with Kafka's shape: named topics, numbered partitions, append-only logs with
// offsets, murmur2 key partitioning. The test driver and the in-process simulator run the real
// graph on it; values are real Avro bytes in the Confluent wire format.
import { partitionForKey } from '../core/hash.js';

export interface StoredRecord {
  offset: number;
  key: string | null;
  value: Buffer;
  timestamp: number;
  headers?: Record<string, string>;
  /** The record as its producer built it, when handed over in process (InProcessOptions.localHop). */
  decoded?: unknown;
}

export class MemoryBroker {
  private readonly topics = new Map<string, StoredRecord[][]>();
  private roundRobin = 0;

  createTopic(name: string, partitions: number): void {
    const existing = this.topics.get(name);
    if (existing) {
      if (existing.length !== partitions)
        throw new Error(`topic ${name} exists with ${existing.length} partitions, not ${partitions}`);
      return;
    }
    this.topics.set(
      name,
      Array.from({ length: partitions }, () => []),
    );
  }

  hasTopic(name: string): boolean {
    return this.topics.has(name);
  }

  partitions(name: string): number {
    return this.log(name).length;
  }

  /** Appends and returns [partition, offset]; partition by murmur2(key) unless given. */
  append(
    topic: string,
    key: string | null,
    value: Buffer,
    timestamp: number,
    partition?: number,
    headers?: Record<string, string>,
    decoded?: unknown,
  ): [number, number] {
    const parts = this.log(topic);
    const p =
      partition ?? (key === null ? this.roundRobin++ % parts.length : partitionForKey(key, parts.length));
    if (p < 0 || p >= parts.length)
      throw new RangeError(`partition ${p} out of range for ${topic} (${parts.length})`);
    const log = parts[p];
    const offset = log.length;
    log.push({ offset, key, value, timestamp, headers, decoded });
    return [p, offset];
  }

  /** Up to `max` records of a partition from `offset`. */
  read(topic: string, partition: number, offset: number, max: number): StoredRecord[] {
    return this.log(topic)[partition].slice(offset, offset + max);
  }

  /** Offset the next appended record will get (Kafka's high watermark). */
  end(topic: string, partition: number): number {
    return this.log(topic)[partition].length;
  }

  /** Every record of a topic, partition by partition. */
  all(topic: string): (StoredRecord & { partition: number })[] {
    return this.log(topic).flatMap((log, partition) => log.map((r) => ({ ...r, partition })));
  }

  private log(topic: string): StoredRecord[][] {
    const t = this.topics.get(topic);
    if (!t) throw new Error(`unknown topic ${topic}`);
    return t;
  }
}
