// Reads of the serving copies the job keeps in Redis (layout in docs/STATE.md): a user's mind
// state, a content's state and the allocator's active allocations with their remaining
// impressions. Any client with `hgetall` works (ioredis `Redis` or `Cluster`).
import {
  contentStateCodec,
  parseActiveAllocations,
  userMindCodec,
  type ActiveAllocation,
} from '../state/codecs.js';
import { activeAllocationsKey, contentStateKey, userMindKey } from '../state/keys.js';
import type { ContentState, UserMindState } from '../schemas/types.js';

export interface HashReader {
  hgetall(key: string): Promise<Record<string, string>>;
}

/** A stored state hash, or undefined when the key is absent or a tombstone. */
async function readStateHash(redis: HashReader, key: string): Promise<Record<string, Buffer> | undefined> {
  const hash = await redis.hgetall(key);
  if (hash.version === undefined || hash.deleted !== undefined) return undefined;
  return Object.fromEntries(Object.entries(hash).map(([k, v]) => [k, Buffer.from(v)]));
}

/**
 * A user's mind state (explore_probability, curiosity, fatigue, ...), or undefined before the job
 * has seen the user. `partitions` is the partition count of `user-interactions`.
 */
export async function readUserMind(
  redis: HashReader,
  appId: string,
  userId: string,
  partitions: number,
): Promise<UserMindState | undefined> {
  const fields = await readStateHash(redis, userMindKey(appId, userId, partitions));
  return fields && userMindCodec.decode(fields, Number(fields.version.toString()));
}

/** A content's CTR and heating state, or undefined; `partitions` as for `readUserMind`. */
export async function readContentState(
  redis: HashReader,
  appId: string,
  contentId: string,
  partitions: number,
): Promise<ContentState | undefined> {
  const fields = await readStateHash(redis, contentStateKey(appId, contentId, partitions));
  return fields && contentStateCodec.decode(fields, Number(fields.version.toString()));
}

/**
 * The allocator's active allocations, allocation_id → content, heated impressions still to serve
 * and valid_until. Rewritten at each checkpoint, so it lags outcomes by one commit interval.
 */
export async function readActiveAllocations(
  redis: HashReader,
  appId: string,
): Promise<Map<string, ActiveAllocation>> {
  return parseActiveAllocations(await redis.hgetall(activeAllocationsKey(appId)));
}
