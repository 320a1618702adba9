// In-memory topics with Kafka's shape: named topics, numbered partitions, append-only logs with
// offsets, murmur2 key partitioning, consumer groups with committed offsets. The test driver and
// the in-process simulator run the real graph on it; values are real Avro bytes in the Confluent
// wire format.
//
// Memory follows state, not run length, as on a Kafka cluster with retention:
//   - 'delete' topics drop records once every consumer group subscribed to them has committed
//     past them (a topic nobody subscribed to keeps everything: the tests' DLQs and side outputs);
//   - 'compact' topics (changelogs) keep, below the lowest committed offset, only the latest
//     record per key, so a reader joining late still sees every key's latest value.
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

/** Kafka's `cleanup.policy`. */
export type CleanupPolicy = 'delete' | 'compact';

/**
 * A compacted log is only cleaned once its dirty part is at least this long and as long as its
 * clean part: each record is then copied O(1) times on average, and the log holds at most about
 * twice its distinct keys plus what some group has not committed yet.
 */
const MIN_DIRTY = 1024;

class PartitionLog {
  /** Compacted records below `head`: the latest per key, in offset order (empty for 'delete'). */
  private clean: StoredRecord[] = [];
  /** Every record from offset `head` on. */
  private tail: StoredRecord[] = [];
  private head = 0;

  constructor(private readonly cleanup: CleanupPolicy) {}

  get end(): number {
    return this.head + this.tail.length;
  }

  /** Offset of the first record still held (Kafka's log start offset). */
  get start(): number {
    return this.clean.length > 0 ? this.clean[0].offset : this.head;
  }

  get size(): number {
    return this.clean.length + this.tail.length;
  }

  append(r: Omit<StoredRecord, 'offset'>): number {
    const offset = this.end;
    this.tail.push({ offset, ...r });
    return offset;
  }

  read(offset: number, max: number, name: string): StoredRecord[] {
    if (offset >= this.head) return this.tail.slice(offset - this.head, offset - this.head + max);
    if (this.cleanup === 'delete')
      throw new RangeError(
        `${name}: offset ${offset} was deleted (the log starts at ${this.head}); a reader below every group's commit`,
      );
    let lo = 0;
    let hi = this.clean.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.clean[mid].offset < offset) lo = mid + 1;
      else hi = mid;
    }
    const out = this.clean.slice(lo, lo + max);
    return out.length < max ? out.concat(this.tail.slice(0, max - out.length)) : out;
  }

  /** Drops (or compacts) what lies below `low`, an offset every subscribed group committed. */
  cleanBelow(low: number): void {
    const upTo = Math.min(low, this.end);
    const dirty = upTo - this.head;
    if (dirty <= 0) return;
    if (this.cleanup === 'delete') {
      this.tail.splice(0, dirty);
      this.head = upTo;
      return;
    }
    if (dirty < MIN_DIRTY || dirty < this.clean.length) return;
    const merged = this.clean.concat(this.tail.splice(0, dirty));
    this.head = upTo;
    const last = new Map<string | null, number>();
    merged.forEach((r, i) => last.set(r.key, i));
    this.clean = merged.filter((r, i) => r.key === null || last.get(r.key) === i);
  }

  all(): StoredRecord[] {
    return this.clean.concat(this.tail);
  }
}

interface Topic {
  cleanup: CleanupPolicy;
  logs: PartitionLog[];
  /** Consumer group → committed offset per partition (the next offset it will read). */
  groups: Map<string, number[]>;
}

export class MemoryBroker {
  private readonly topics = new Map<string, Topic>();
  private roundRobin = 0;

  createTopic(name: string, partitions: number, cleanup: CleanupPolicy = 'delete'): void {
    const existing = this.topics.get(name);
    if (existing) {
      if (existing.logs.length !== partitions)
        throw new Error(`topic ${name} exists with ${existing.logs.length} partitions, not ${partitions}`);
      if (existing.cleanup !== cleanup)
        throw new Error(`topic ${name} exists with cleanup policy ${existing.cleanup}, not ${cleanup}`);
      return;
    }
    this.topics.set(name, {
      cleanup,
      logs: Array.from({ length: partitions }, () => new PartitionLog(cleanup)),
      groups: new Map(),
    });
  }

  hasTopic(name: string): boolean {
    return this.topics.has(name);
  }

  partitions(name: string): number {
    return this.topic(name).logs.length;
  }

  /**
   * Declares that `group` reads `topic`: from now on its records are kept until the group has
   * committed past them. A new group starts at each partition's log start. Idempotent.
   */
  subscribe(group: string, topic: string): void {
    const t = this.topic(topic);
    if (!t.groups.has(group))
      t.groups.set(
        group,
        t.logs.map((l) => l.start),
      );
  }

  /** `group` has processed `topic`/`partition` below `offset` (Kafka's committed offset). */
  commit(group: string, topic: string, partition: number, offset: number): void {
    const t = this.topic(topic);
    const committed = t.groups.get(group);
    if (!committed) throw new Error(`group ${group} is not subscribed to ${topic}`);
    committed[partition] = offset;
    t.logs[partition].cleanBelow(this.low(t, partition));
  }

  /** The partition a record goes to: `given`, else murmur2(key), else round robin (null key). */
  protected partitionOf(key: string | null, partitions: number, given?: number): number {
    return given ?? (key === null ? this.roundRobin++ % partitions : partitionForKey(key, partitions));
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
    const t = this.topic(topic);
    const n = t.logs.length;
    const p = this.partitionOf(key, n, partition);
    if (p < 0 || p >= n) throw new RangeError(`partition ${p} out of range for ${topic} (${n})`);
    const log = t.logs[p];
    const offset = log.append({ key, value, timestamp, headers, decoded });
    // A changelog nobody reads here is compacted as it grows, not only when a group commits.
    if (t.cleanup === 'compact' && t.groups.size === 0) log.cleanBelow(log.end);
    return [p, offset];
  }

  /**
   * Up to `max` records of a partition from `offset`. Below a compacted topic's cleaned part it
   * returns the surviving records (latest per key); below a deleted prefix it throws.
   */
  read(topic: string, partition: number, offset: number, max: number): StoredRecord[] {
    return this.topic(topic).logs[partition].read(offset, max, `${topic}/${partition}`);
  }

  /** Offset the next appended record will get (Kafka's high watermark). */
  end(topic: string, partition: number): number {
    return this.topic(topic).logs[partition].end;
  }

  /** Records held for a partition (what retention and compaction left). */
  retained(topic: string, partition: number): number {
    return this.topic(topic).logs[partition].size;
  }

  /** Every record still held of a topic, partition by partition. */
  all(topic: string): (StoredRecord & { partition: number })[] {
    return this.topic(topic).logs.flatMap((log, partition) => log.all().map((r) => ({ ...r, partition })));
  }

  /** The lowest committed offset of the partition over the topic's groups (none: the end). */
  private low(t: Topic, partition: number): number {
    let low = t.logs[partition].end;
    for (const committed of t.groups.values()) low = Math.min(low, committed[partition]);
    return low;
  }

  private topic(name: string): Topic {
    const t = this.topics.get(name);
    if (!t) throw new Error(`unknown topic ${name}`);
    return t;
  }
}
