// Reads of the serving copies the job keeps in Redis (layout in docs/STATE.md): a user's mind
// state, a content's state and the allocator's active allocations with their remaining
// impressions. Any client with `hgetall` works (ioredis `Redis` or `Cluster`).
import {
  contentStateCodec,
  parseActiveAllocations,
  userMindCodec,
  type ActiveAllocation,
  type ValueCodec,
} from '../state/codecs.js';
import { activeAllocationsKey, contentStateKey, userMindKey } from '../state/keys.js';
import type { ContentState, UserMindState } from '../schemas/types.js';

export interface HashReader {
  hgetall(key: string): Promise<Record<string, string>>;
}

/** The record stored under `key`, or undefined when the key is absent or a tombstone. */
async function readRecord<V>(redis: HashReader, key: string, codec: ValueCodec<V>): Promise<V | undefined> {
  const hash = await redis.hgetall(key);
  if (hash.version === undefined || hash.deleted !== undefined) return undefined;
  const fields = Object.fromEntries(Object.entries(hash).map(([k, v]) => [k, Buffer.from(v)]));
  return codec.decode(fields, Number(hash.version));
}

/**
 * A user's mind state (explore_probability, curiosity, fatigue, ...), or undefined before the job
 * has seen the user. `partitions` is the partition count of `user-interactions`.
 */
export function readUserMind(
  redis: HashReader,
  appId: string,
  userId: string,
  partitions: number,
): Promise<UserMindState | undefined> {
  return readRecord(redis, userMindKey(appId, userId, partitions), userMindCodec);
}

/** A content's CTR and heating state, or undefined; `partitions` as for `readUserMind`. */
export function readContentState(
  redis: HashReader,
  appId: string,
  contentId: string,
  partitions: number,
): Promise<ContentState | undefined> {
  return readRecord(redis, contentStateKey(appId, contentId, partitions), contentStateCodec);
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
