// ioredis options for the state layer, chosen so that Redis trouble surfaces quickly as errors
// the write-behind queue handles (bounded, coalescing, with backoff) instead of piling up
// invisibly inside the client.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseRedisUrl, type RedisTopology } from './redis-url.js';

/** A client on one server, a Sentinel-managed master, or a Cluster: the state layer uses any. */
export type StateRedis = Redis | Cluster;

/** Where the state lives (the `redis` config section): URL plus credentials that override the URL's. */
export interface RedisConnection {
  url: string;
  username?: string;
  password?: string;
  sentinelPassword?: string;
}

export interface StateRedisTuning {
  /** A command not answered within this fails (a paused/hung server is detected). */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Reconnect backoff: min(base·2^attempt, max). */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
}

/** Reconnect backoff: min(base·2^attempt, max), never giving up. */
function backoff(t: StateRedisTuning): (times: number) => number {
  const base = t.reconnectBaseMs ?? 50;
  const max = t.reconnectMaxMs ?? 2_000;
  return (times: number) => Math.min(base * 2 ** Math.min(times, 16), max);
}

export function stateRedisOptions(t: StateRedisTuning = {}): RedisOptions {
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
    retryStrategy: backoff(t),
    // After a failover the old primary answers READONLY: reconnect (to the new primary via DNS/LB,
    // or the one the sentinels name).
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
 * A client for the state layer on the topology of `conn.url` (state/redis-url.ts), not yet
 * connected. Sentinel: the client asks the sentinels for the master and asks again after a
 * failover (a dropped connection, READONLY, or the +switch-master the failover detector hears).
 * Cluster: commands go to the node owning their slot (every multi-key call of the state layer
 * stays in one slot: docs/STATE.md); MOVED/ASK and failovers are followed by ioredis.
 */
export function createStateRedis(conn: RedisConnection | string, t: StateRedisTuning = {}): StateRedis {
  const c = typeof conn === 'string' ? { url: conn } : conn;
  const topo = parseRedisUrl(c.url);
  const auth = {
    username: c.username ?? topo.username,
    password: c.password ?? topo.password,
  };
  const options = stateRedisOptions(t);
  switch (topo.mode) {
    case 'standalone':
      return new Redis(withCredentials(topo, auth), options);
    case 'sentinel':
      return new Redis({
        ...options,
        ...auth,
        sentinels: topo.sentinels,
        name: topo.masterName,
        db: topo.db,
        role: 'master',
        sentinelPassword: c.sentinelPassword,
        // Reconnect to the sentinels forever, as to a single server.
        sentinelRetryStrategy: backoff(t),
        sentinelCommandTimeout: options.connectTimeout,
        // Subscribes to +switch-master: the client moves to the new master at once.
        failoverDetector: true,
        ...(topo.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
      });
    case 'cluster':
      return new Cluster(topo.nodes, clusterOptions(options, backoff(t), auth, topo.tls));
  }
}

function clusterOptions(
  o: RedisOptions,
  retry: (times: number) => number,
  auth: { username?: string; password?: string },
  tls: boolean,
): ClusterOptions {
  return {
    // Per-node connections: same timeouts and credentials as a single server. (ioredis does not
    // reconnect a lost node on its own: it refreshes the slot map and follows MOVED.)
    redisOptions: {
      ...auth,
      commandTimeout: o.commandTimeout,
      connectTimeout: o.connectTimeout,
      keepAlive: o.keepAlive,
      maxRetriesPerRequest: o.maxRetriesPerRequest,
      ...(tls ? { tls: {} } : {}),
    },
    enableOfflineQueue: false,
    enableAutoPipelining: false,
    // All seed nodes unreachable: keep trying, as with a single server.
    clusterRetryStrategy: retry,
    // Reads and writes on masters: the state layer reads what it just wrote.
    scaleReads: 'master',
    lazyConnect: true,
  };
}

/** The standalone URL with credentials from the settings (URL-encoded into it) when they are set. */
function withCredentials(
  topo: Extract<RedisTopology, { mode: 'standalone' }>,
  auth: { username?: string; password?: string },
): string {
  if (auth.username === topo.username && auth.password === topo.password) return topo.url;
  const u = new URL(topo.url);
  u.username = auth.username ? encodeURIComponent(auth.username) : '';
  u.password = auth.password ? encodeURIComponent(auth.password) : '';
  return u.toString();
}

/**
 * Connects a client for the state layer and resolves once it is ready (with the offline queue
 * off, commands sent before 'ready' fail). Connection errors are reported to `onError` (count
 * them); the client keeps reconnecting on its own.
 */
export async function connectStateRedis(
  conn: RedisConnection | string,
  t: StateRedisTuning = {},
  onError: (e: Error) => void = () => {},
): Promise<StateRedis> {
  const redis = createStateRedis(conn, t);
  redis.on('error', onError);
  await redis.connect();
  return redis;
}
