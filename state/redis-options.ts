// ioredis options for the state layer, chosen so that Redis trouble surfaces quickly as errors
// the write-behind queue handles (bounded, coalescing, with backoff) instead of piling up
// invisibly inside the client.
import { Redis, type RedisOptions } from 'ioredis';

export interface StateRedisTuning {
  /** A command not answered within this fails (a paused/hung server is detected). */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Reconnect backoff: min(base·2^attempt, max). */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
}

export function stateRedisOptions(t: StateRedisTuning = {}): RedisOptions {
  const base = t.reconnectBaseMs ?? 50;
  const max = t.reconnectMaxMs ?? 2_000;
  return {
    // No offline queue: while disconnected a command fails at once. Our own queue coalesces per
    // key (memory bounded by distinct keys) and drives backpressure; ioredis' queue would hold
    // every command unboundedly and replay stale ones.
    enableOfflineQueue: false,
    // No client-side re-send of in-flight commands after a reconnect: the write-behind layer owns
    // retries (one policy, with coalescing). Re-sends would be harmless (seq dedupe) but hidden.
    maxRetriesPerRequest: 0,
    // SIGSTOP'd or overloaded Redis keeps the TCP connection open: only a timeout notices it. A
    // timed-out EVALSHA may still run later; the seq check makes that late run a no-op.
    commandTimeout: t.commandTimeoutMs ?? 2_000,
    connectTimeout: t.connectTimeoutMs ?? 2_000,
    // Reconnect forever with capped exponential backoff: an outage must never end the job.
    retryStrategy: (times: number) => Math.min(base * 2 ** Math.min(times, 16), max),
    // After a failover the old primary answers READONLY: reconnect (to the new primary via DNS/LB).
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
    // Commits of different tasks are already pipelined on the one connection (ioredis writes each
    // command without waiting for earlier replies). Auto-pipelining is off: in ioredis 5.x its
    // pipeline callback crashes the process (`results[i] is not iterable`) under EVALSHA load.
    enableAutoPipelining: false,
    keepAlive: 10_000,
    lazyConnect: true,
  };
}

/**
 * Connects a client for the state layer and resolves once it is ready (with the offline queue
 * off, commands sent before 'ready' fail). Connection errors are reported to `onError` (count
 * them); the client keeps reconnecting on its own.
 */
export async function connectStateRedis(
  url: string,
  t: StateRedisTuning = {},
  onError: (e: Error) => void = () => {},
): Promise<Redis> {
  const redis = new Redis(url, stateRedisOptions(t));
  redis.on('error', onError);
  await redis.connect();
  return redis;
}
