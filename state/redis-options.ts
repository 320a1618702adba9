// ioredis options for the state layer, chosen so that Redis trouble surfaces quickly as errors
// the write-behind queue handles (bounded, coalescing, with backoff) instead of piling up
// invisibly inside the client.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ConfigError, ThermostatError } from '../core/errors.js';
import { parseRedisUrl, redactUrl, type RedisTopology } from './redis-url.js';
import { backoffMs } from '../core/retry.js';

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
  /**
   * `connectStateRedis` gives up when Redis is not ready within this (config
   * redis.connectTimeoutMs); one connection attempt gets at most 2 s of it.
   */
  connectTimeoutMs?: number;
  /** Reconnect backoff: min(base·2^attempt, max). */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
}

/** Default of config redis.connectTimeoutMs. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Replicas a checkpoint needs (config redis.minReplicaAcks) when not set: 1 behind Sentinel, whose
 * whole point is a replica to fail over to; 0 on one server or a Cluster (which may have none).
 */
export function defaultMinReplicaAcks(url: string): number {
  return parseRedisUrl(url).mode === 'sentinel' ? 1 : 0;
}

/** Reconnect backoff: min(base·2^attempt, max), never giving up. */
function backoff(t: StateRedisTuning): (times: number) => number {
  const base = t.reconnectBaseMs ?? 50;
  const max = t.reconnectMaxMs ?? 2_000;
  return (times: number) => backoffMs({ initialMs: base, maxMs: max }, times);
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
    connectTimeout: Math.min(t.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, 2_000),
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
      return new SentinelStateRedis(backoff(t), {
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

/**
 * A Sentinel client that an accident does not end. ioredis ends a Sentinel client for good when
 * its failover detector closes it while it is reconnecting: the promoted master's +switch-master
 * comes from each sentinel in turn, and one arriving during the reconnect makes the connect
 * reject. Such an end is followed here by a new connect (with the reconnect backoff); an end
 * through `disconnect()` is final.
 */
class SentinelStateRedis extends Redis {
  private closing = false;

  constructor(retry: (attempt: number) => number, options: RedisOptions) {
    super(options);
    let attempts = 0;
    this.on('ready', () => (attempts = 0));
    this.on('end', () => {
      if (this.closing) return;
      setTimeout(() => {
        if (!this.closing && this.status === 'end') this.connect().catch(() => undefined);
      }, retry(++attempts)).unref();
    });
  }

  override connect(callback?: Parameters<Redis['connect']>[0]): Promise<void> {
    this.closing = false;
    return super.connect(callback);
  }

  override disconnect(reconnect = false): void {
    if (!reconnect) this.closing = true;
    super.disconnect(reconnect);
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
 * off, commands sent before 'ready' fail). At start a failure is final, so a job never hangs on a
 * Redis it cannot use: refused credentials or an unknown master name reject at once with a
 * ConfigError naming the key, and no ready connection within `t.connectTimeoutMs` (10 s) rejects
 * with a DEPENDENCY error naming the address (never the password). Once ready, connection errors
 * go to `onError` (count them) and the client reconnects on its own, forever.
 */
export async function connectStateRedis(
  conn: RedisConnection | string,
  t: StateRedisTuning = {},
  onError: (e: Error) => void = () => {},
): Promise<StateRedis> {
  const c = typeof conn === 'string' ? { url: conn } : conn;
  const redis = createStateRedis(c, t);
  const timeoutMs = t.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  let last: Error | undefined;
  let timer: NodeJS.Timeout | undefined;
  let onStartError: (e: Error) => void = () => {};
  try {
    await new Promise<void>((resolve, reject) => {
      onStartError = (e: Error) => {
        // The generic "Connection is closed." follows the error that says why (ECONNREFUSED…).
        if (!last || !/^Connection is closed/.test(e.message)) last = e;
        const refused = refusal(e, c);
        if (refused) reject(refused);
      };
      redis.on('error', onStartError);
      redis.on('node error', onStartError); // a Cluster reports each node's refusal here
      redis.once('ready', () => resolve());
      timer = setTimeout(() => reject(unreachable(c.url, timeoutMs, last)), timeoutMs);
      // Rejects on the first failed attempt while the client retries on: 'ready' or the bound decides.
      redis.connect().catch(() => undefined);
    });
  } catch (e) {
    redis.disconnect();
    throw e;
  } finally {
    clearTimeout(timer);
    redis.off('error', onStartError);
    redis.off('node error', onStartError);
  }
  redis.on('error', onError);
  return redis;
}

/** Replies no retry fixes: credentials (WRONGPASS, NOAUTH, "invalid password") or ACL rights. */
const AUTH_REFUSED = /\b(WRONGPASS|NOAUTH|NOPERM)\b|ERR invalid password/;
/** A Sentinel that does not monitor the master named in the URL. */
const UNKNOWN_MASTER = /No such master with that name/;

/** The configuration error behind a start-up failure, or null when a retry may still succeed. */
function refusal(e: Error, c: RedisConnection): ConfigError | null {
  const msg = describe(e);
  const at = redactUrl(c.url);
  // ioredis reports what the sentinels answered as "All sentinels are unreachable… Last error: …".
  const fromSentinels = /sentinels/i.test(msg);
  if (UNKNOWN_MASTER.test(msg))
    return new ConfigError('redis.url', `the sentinels of ${at} know no such master (${msg})`);
  if (!AUTH_REFUSED.test(msg)) return null;
  if (fromSentinels)
    return new ConfigError(
      'redis.sentinelPassword',
      `the sentinels of ${at} refused the credentials (${msg})`,
    );
  const key = /NOPERM/.test(msg) ? 'redis.username' : 'redis.password';
  return new ConfigError(key, `Redis at ${at} refused the credentials (${msg})`);
}

function unreachable(url: string, timeoutMs: number, last: Error | undefined): ThermostatError {
  return new ThermostatError(
    'DEPENDENCY',
    `cannot reach Redis at ${redactUrl(url)} within ${timeoutMs / 1000} s` +
      (last ? ` (${describe(last)})` : ''),
    { retriable: true, cause: last },
  );
}

/** An error's message on one line; a Cluster's names the last node error too. */
function describe(e: Error): string {
  const node = (e as { lastNodeError?: Error }).lastNodeError;
  return oneLine(node ? `${e.message} ${node.message}` : e.message);
}

/** One line, without ioredis' "Retrying from scratch…" (the start does not retry). */
const oneLine = (s: string): string =>
  s
    .replace(/Retrying from scratch after \d+ms\.\s*/, '')
    .replace(/\s+/g, ' ')
    .trim();
