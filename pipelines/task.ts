// The unit of work and of recovery: a task is one stage on one partition (Kafka Streams' task).
// A task is fed decoded micro-batches in offset order, emits through a Collector, and can be cut
// into a snapshot (state entries + metadata) at any batch boundary. Transports (in-memory test
// driver, Kafka) only move bytes and call these methods; all semantics live in the tasks.
// Lifecycle, as Kafka Streams' Processor: init — task-factory.ts creates the task from its restored
// snapshot (metadata; state loads on demand), then `resumed`; `process` per micro-batch; `punctuate`
// at event-time heartbeats (ticks close inside `process` as watermarks pass them); `flushChangelog`
// + `snapshot` at each checkpoint; `close` when the runtime gives it up. Runtimes see only this
// interface (runtime/task-runner.ts): no casts to a stage's class.
import type { ThermostatError } from '../core/errors.js';
import type { SchemaName } from '../schemas/types.js';
import type { StageName } from './topology.js';
import type { CheckpointEntry, TaskId as StoreTaskId } from '../state/store.js';

/** A task of this graph: one of its stages on one partition. */
export type TaskId = StoreTaskId<StageName>;

/** A decoded input record. `offset` is the Kafka offset in its partition. */
export interface InRecord<V = unknown> {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: V;
  /** Produce/append timestamp (wall time, ms). */
  timestamp: number;
  /** The original bytes (for the DLQ and late side outputs). */
  raw?: Buffer;
  headers?: Record<string, string>;
}

export interface OutRecord {
  topic: string;
  schema: SchemaName;
  key: string | null;
  value: unknown;
  /** Explicit partition (markers, single-partition topics); otherwise murmur2(key). */
  partition?: number;
  headers?: Record<string, string>;
  /** The value's bytes as they are (header-only records: empty), instead of encoding `value`. */
  bytes?: Buffer;
}

/** Bytes ↔ records on the wire (Confluent wire format + Avro in production). */
export interface RecordSerde {
  encode(schema: SchemaName, value: unknown): Buffer;
  /** Decodes and validates; throws ThermostatError with a reason code on bad input. */
  decode(topic: string, bytes: Buffer): unknown;
  /** Fetches writer schemas the batch needs (an HTTP registry) before the synchronous decodes. */
  prefetch?(values: Iterable<Buffer | null>): Promise<void>;
}

export interface Collector {
  send(record: OutRecord): void;
  /** Side output for records behind the watermark beyond allowed lateness. */
  late(record: InRecord, reason: string): void;
  /** A decoded record the task refuses (event time too far ahead, wrong partition): to the DLQ. */
  dlq(record: InRecord, error: ThermostatError): void;
}

export interface SourcePosition {
  topic: string;
  partition: number;
  /** Next offset to read. */
  offset: number;
}

export interface TaskSnapshot {
  /** Opaque task metadata (offsets, watermarks, buffers): JSON. */
  meta: string;
  /** State changed since the previous snapshot, latest version per key. */
  entries: CheckpointEntry[];
  /** Source positions this snapshot covers (committed to Kafka after the checkpoint is durable). */
  positions: SourcePosition[];
}

export interface StreamTask {
  readonly id: TaskId;
  /** Input partitions of this task and the offsets to resume from. */
  positions(): SourcePosition[];
  /** Keys the task will need for the batch (loaded from the checkpoint store before `process`). */
  keysFor?(batch: readonly InRecord[]): string[];
  /** Processes one micro-batch from one input partition, in offset order. */
  process(batch: readonly InRecord[], out: Collector): void;
  /**
   * `process` while the checkpoint store cannot load state: records of keys not in memory
   * (`resident` false) are parked and the task's outputs held, in order, until a later `process`
   * (every key loaded) applies them. Tasks without it have their batches held whole by the runner.
   */
  processDegraded?(batch: readonly InRecord[], out: Collector, resident: (key: string) => boolean): void;
  /**
   * Output work left from input already consumed (a catch-up the task closes in bounded steps):
   * while true, the runtime calls `process([])` (after loading `keysFor([])`) between its reads.
   */
  backlog?(): boolean;
  /** Records parked or outputs held (0: none). While > 0 no snapshot may be cut. */
  parked?(): number;
  /**
   * The runtime consumed `topic/partition` up to `next` (exclusive), including records that never
   * reached `process` (sent to the DLQ): the resume position moves past them.
   */
  consumed(topic: string, partition: number, next: number): void;
  /**
   * An event-time heartbeat from the embedding process: no input record with event time below `t`
   * follows on this task's sources, so its watermarks move to `t` (the stage-1 tasks; others ignore it).
   */
  punctuate?(t: number, out: Collector): void;
  /** An input partition reached its end / got data again (watermark idleness). */
  setIdle(topic: string, partition: number, idle: boolean, out: Collector): void;
  /**
   * This runtime has just (re)created the task (a start, a restart, a rebalance), before reading
   * any of its records: idleness was the previous owner's observation and is not taken over.
   */
  resumed?(out: Collector): void;
  /** Emits changelog records for keys changed since the last call (latest version only). */
  flushChangelog(out: Collector): void;
  /** Cut a snapshot at this batch boundary. */
  snapshot(): TaskSnapshot;
  /**
   * The runtime gives the task up (revoked, fenced, stopped, replaced by a restart): release what it
   * holds. Nothing is emitted or checkpointed any more; state lives on in the last checkpoint.
   * The stage tasks hold nothing beyond their caches, which go with them: they leave it out.
   */
  close?(): void;
}
