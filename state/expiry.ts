// Idle state expiry. The job decides by event time when a user's or a content's state starts
// over (`idleExpired`, applied by the stages to resident and loaded state alike, so a replay
// decides as the first run did); Redis only collects the keys afterwards, by wall-clock TTL, a
// margin later, so that expiry never removes a key the job would still read as it was.
import { DAY_MS } from '../core/clock.js';
import { STORE_CONTENT, STORE_USER_MIND } from './keys.js';

/**
 * How much longer than the event-time idle TTL Redis keeps a key after its last write: covers
 * how far processing may lag behind event time (a key written late, read back for a record that
 * is still within the idle TTL in event time). A week: Kafka's default retention, beyond which
 * the input of such a lag would no longer exist.
 */
export const EXPIRY_MARGIN_MS = 7 * DAY_MS;

/** True when a state last updated at event time `lastMs` starts over for an event at `eventMs` (ttl 0: never). */
export function idleExpired(lastMs: number, eventMs: number, idleTtlMs: number): boolean {
  return idleTtlMs > 0 && eventMs - lastMs > idleTtlMs;
}

/** Redis TTL of a key whose state starts over after `idleTtlMs` of event-time idleness (0: none). */
export function redisExpiryMs(idleTtlMs: number): number {
  return idleTtlMs > 0 ? idleTtlMs + EXPIRY_MARGIN_MS : 0;
}

/** The checkpoint store's per-store expiry (RedisCheckpointStore `expireAfterMs`) for the job's idle TTLs. */
export function stateExpiry(idle: {
  userIdleTtlMs: number;
  contentIdleTtlMs: number;
}): Record<string, number> {
  return {
    [STORE_USER_MIND]: redisExpiryMs(idle.userIdleTtlMs),
    [STORE_CONTENT]: redisExpiryMs(idle.contentIdleTtlMs),
  };
}
