// Redis key layout (documented in docs/STATE.md; renaming anything here is a data migration).
// Every key of a task starts with the hash tag `{<appId>.<stage>.<partition>}` so one Lua call
// can touch all of them on Redis Cluster (all in one slot).
import { partitionForKey } from '../core/hash.js';
import type { TaskId } from './store.js';

/** Stage names used in keys: stable, part of the serving contract. */
export const STAGE_USER = 'user';
export const STAGE_CONTENT = 'content';
export const STAGE_ALLOCATOR = 'allocator';

/** Store names inside a task. */
export const STORE_USER_MIND = 'user';
export const STORE_CONTENT = 'content';
export const STORE_ALLOCATIONS = 'alloc';
/** The single key of the allocator's active-allocations hash. */
export const ACTIVE_ALLOCATIONS_KEY = 'active';

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function assertName(kind: string, name: string): void {
  if (!NAME.test(name)) throw new RangeError(`${kind} name "${name}" must match ${NAME}`);
}

/** `{<appId>.<stage>.<partition>}`: the Redis Cluster hash tag shared by all keys of a task. */
export function taskTag(appId: string, task: TaskId): string {
  return `{${appId}.${task.stage}.${task.partition}}`;
}

/** Task hash: fields epoch, seq, meta (opaque bytes), checkpoints (count of applied commits). */
export function taskKey(appId: string, task: TaskId): string {
  return `${taskTag(appId, task)}:task`;
}

/**
 * The per-task versions hash earlier releases kept (field `<store>:<key>` → version); it never
 * shrank, so the stale check now reads each key's own `version` and acquire drops this hash.
 */
export function versionsKey(appId: string, task: TaskId): string {
  return `${taskTag(appId, task)}:versions`;
}

/** One state key: a hash of the value's fields plus `version`, `epoch` (and `deleted` for tombstones). */
export function stateKey(appId: string, task: TaskId, store: string, key: string): string {
  return `${taskTag(appId, task)}:${store}:${key}`;
}

/**
 * Redis key of a user's mind state, for the ranker: `HGETALL <key>` returns the UserMindState
 * fields plus `version` and `epoch` in one call. `partitions` is the partition count of the
 * `user-interactions` topic (the user stage's task = Kafka murmur2 partition of user_id).
 */
export function userMindKey(appId: string, userId: string, partitions: number): string {
  return stateKey(
    appId,
    { stage: STAGE_USER, partition: partitionForKey(userId, partitions) },
    STORE_USER_MIND,
    userId,
  );
}

/** Redis key of a content's state (partition of content_id in the content stage's topic). */
export function contentStateKey(appId: string, contentId: string, partitions: number): string {
  return stateKey(
    appId,
    { stage: STAGE_CONTENT, partition: partitionForKey(contentId, partitions) },
    STORE_CONTENT,
    contentId,
  );
}

/** Redis key of the active heating allocations (allocator is a single task, partition 0). */
export function activeAllocationsKey(appId: string): string {
  return stateKey(appId, { stage: STAGE_ALLOCATOR, partition: 0 }, STORE_ALLOCATIONS, ACTIVE_ALLOCATIONS_KEY);
}
