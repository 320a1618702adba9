// The state contracts shared by operators, the versioned cache and the checkpoint stores.
// Lifecycle (init/commit/close/isOpen) is kept apart from access (get/put/delete/has/entries),
// as in Kafka Streams' StateStore vs KeyValueStore; `commit` is the Flink `snapshotState` hook.

/** A task is one (stage, partition): the unit of ownership, fencing and atomic checkpoints. */
export interface TaskId<Stage extends string = string> {
  /** Stable stage name ([A-Za-z0-9_-]): part of every Redis key of the task. */
  readonly stage: Stage;
  readonly partition: number;
}

/** A hash field value as written to Redis. Strings are stored as UTF-8. */
export type FieldValue = string | Buffer;

/** Internal field of an expiring key: the day and TTL of its last PEXPIRE (state/lua.ts COMMIT_LUA). */
export const EXPIRY_FIELD = '_expiry';

/** Field names the checkpoint layer writes itself; a codec must not emit them. */
export const RESERVED_FIELDS = ['version', 'epoch', 'deleted', EXPIRY_FIELD] as const;

/**
 * One key's state inside a checkpoint. `fields === null` is a tombstone: the key was deleted at
 * `version` (the version is kept so an older write cannot resurrect it).
 */
export interface CheckpointEntry {
  /** Store name inside the task (becomes part of the Redis key). */
  readonly store: string;
  readonly key: string;
  /** Strictly increasing per key; a finite safe integer >= 0. */
  readonly version: number;
  readonly fields: Readonly<Record<string, FieldValue>> | null;
  /**
   * True: the stored hash is rewritten (fields not in `fields` disappear), for values whose field
   * set varies (the active-allocations hash). False/absent: fields are set over the stored ones,
   * enough for fixed-shape records and one write cheaper.
   */
  readonly replace?: boolean;
}

/** What a checkpoint store holds for one key. */
export interface StoredEntry {
  readonly version: number;
  readonly epoch: number;
  /** null: tombstone (deleted at `version`). Values are raw bytes; codecs decode them. */
  readonly fields: Record<string, Buffer> | null;
}

/** A source offset the task consumed up to (Kafka semantics: the NEXT offset to read). */
export interface SourceOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export interface CommitRequest {
  /** Epoch returned by `acquire`; a call with any other epoch is refused (FencedError). */
  readonly epoch: number;
  /**
   * Checkpoint sequence within the epoch, strictly increasing from 1. A call whose seq is not
   * above the stored one is a late duplicate (e.g. a timed-out call that landed after its retry)
   * and is ignored as a whole, so task metadata never moves backwards.
   */
  readonly seq: number;
  readonly entries: readonly CheckpointEntry[];
  /** Opaque task metadata (source offsets, watermarks, pending buffers) stored with the entries. */
  readonly meta: Buffer;
}

export interface CommitResult {
  /** Keys written. */
  readonly written: number;
  /** Keys skipped because the stored version was >= the written one. */
  readonly skippedStale: number;
  /** True when the whole call was a duplicate of an already applied seq (nothing written). */
  readonly duplicate: boolean;
}

export interface AcquireResult {
  /** The new epoch, strictly greater than every epoch handed out before for this task. */
  readonly epoch: number;
  /** Metadata of the last successful checkpoint, null when the task never checkpointed. */
  readonly meta: Buffer | null;
}

/**
 * Checkpoint storage (Flink's checkpoint storage role): durable, atomic per task, fenced.
 *
 * Guarantees every implementation keeps (the in-memory one for tests and the simulator too):
 * - `commit` is atomic: either every entry and `meta` are applied, or nothing is.
 * - Epoch fencing: `acquire` bumps the epoch; a `commit` whose epoch differs from the stored one
 *   throws `FencedError` and changes nothing (a zombie after a rebalance cannot write).
 * - Version fencing: an entry whose stored version is >= its version is skipped (counted).
 * - Failures to reach the backend reject with a retriable `ThermostatError('DEPENDENCY')`.
 */
export interface CheckpointStore {
  acquire(task: TaskId): Promise<AcquireResult>;
  /** Reads keys of one store in ONE round trip. Absent keys are absent from the map. */
  load(task: TaskId, store: string, keys: readonly string[]): Promise<Map<string, StoredEntry>>;
  commit(task: TaskId, req: CommitRequest): Promise<CommitResult>;
  /** Removes every key of the task, epoch included (tests, tooling). */
  deleteTask(task: TaskId): Promise<void>;
  /** False while the backend is known to be unreachable (optional fast signal for health). */
  isAvailable?(): boolean;
}

/** Lifecycle of a state store, separate from data access. */
export interface StateStore {
  readonly name: string;
  /** Opens the store; called once before any access. Idempotent. */
  init(): void;
  /**
   * Snapshot hook: returns the entries changed since the last commit (latest value per key) and
   * marks them pending until `markDurable` reports them written. Hands over; never awaits Redis.
   */
  commit(): CheckpointEntry[];
  /** Drops local state. Idempotent; access after close throws. */
  close(): void;
  isOpen(): boolean;
}

/**
 * Read access. Absent semantics: `get` returns `undefined` when the key has no value (never
 * written, or deleted); values are never null. Reading a key that is neither resident nor known
 * to be absent throws `ThermostatError('INTERNAL')`: call `ensureLoaded` for the batch first.
 */
export interface ReadOnlyKeyValueStore<K, V> {
  get(key: K): V | undefined;
  has(key: K): boolean;
  /** Version of the key's current value or tombstone; undefined when unknown/never written. */
  version(key: K): number | undefined;
  /** Resident keys with a value (not the whole backing store). Do not mutate while iterating. */
  entries(): IterableIterator<[K, V]>;
}

/**
 * Write access with version fencing: every write carries the key's version, strictly greater
 * than the key's current version, else it throws `ThermostatError('INTERNAL')` (a broken
 * invariant, never a data condition). Epoch fencing happens at checkpoint time (CheckpointStore).
 */
export interface KeyValueStore<K, V> extends ReadOnlyKeyValueStore<K, V>, StateStore {
  put(key: K, value: V, version: number): void;
  /** Deletes at `version` (a tombstone is checkpointed so older writes cannot resurrect it). */
  delete(key: K, version: number): void;
}

export function taskLabel(task: TaskId): string {
  return `${task.stage}/${task.partition}`;
}
