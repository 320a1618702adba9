// Redis commands per processed event: write-behind checkpoints (this state layer) vs a naive
// write-through store (one HSET per state update), on the same synthetic update stream, measured
// from INFO commandstats deltas on a private redis-server. Prints JSON.
//
//   npx tsx bench/redis-cmds.ts [--updates 200000] [--keys 20000] [--partitions 6]
//                               [--checkpoint-every 20000] [--dist zipf|uniform] [--cache 100000]
//                               [--idle-ttl-ms 2592000000]
//
// "client" = commands the clients sent (EVALSHA/SCRIPT or HSET): what the seed's "Redis QPS" is.
// "server" = every command Redis executed, including the calls made inside our Lua scripts
// (HMGET + HSET + PEXPIRE per written key), i.e. the per-key work that remains after coalescing.
// The user keys expire as in the job (state.userIdleTtlMs, default 30 days; 0: no expiry).
// "scriptUsecPerCommit" = Redis's own time in the commit scripts (INFO commandstats usec).
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { Rng } from '../core/rng.js';
import { partitionForKey } from '../core/hash.js';
import { ManualClock } from '../core/clock.js';
import { createMetrics } from '../core/metrics.js';
import type { UserMindState } from '../schemas/types.js';
import { userMindCodec } from '../state/codecs.js';
import { IDLE_TTL } from '../core/config.js';
import { stateExpiry } from '../state/expiry.js';
import { STAGE_USER, STORE_USER_MIND, userMindKey } from '../state/keys.js';
import { RedisCheckpointStore } from '../state/redis-checkpoint.js';
import { connectStateRedis } from '../state/redis-options.js';
import { VersionedCache } from '../state/versioned-cache.js';
import { WriteBehind } from '../state/write-behind.js';
import type { TaskId } from '../state/store.js';
import { TestRedis } from './support/redis-server.js';

const { values: a } = parseArgs({
  options: {
    updates: { type: 'string', default: '200000' },
    keys: { type: 'string', default: '20000' },
    partitions: { type: 'string', default: '6' },
    'checkpoint-every': { type: 'string', default: '20000' },
    dist: { type: 'string', default: 'zipf' },
    cache: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '42' },
    'idle-ttl-ms': { type: 'string', default: String(IDLE_TTL.userIdleTtlMs) },
  },
});
const UPDATES = Number(a.updates);
const KEYS = Number(a.keys);
const PARTS = Number(a.partitions);
const EVERY = Number(a['checkpoint-every']);
const CACHE = Number(a.cache);
const IDLE_TTL_MS = Number(a['idle-ttl-ms']);

/** Deterministic key sequence: Zipf(s=1) over KEYS (inverse CDF table) or uniform. */
function keyStream(): string[] {
  const rng = new Rng(Number(a.seed));
  const out: string[] = new Array(UPDATES);
  if (a.dist === 'uniform') {
    for (let i = 0; i < UPDATES; i++) out[i] = `u${rng.int(KEYS)}`;
    return out;
  }
  const cdf = new Float64Array(KEYS);
  let sum = 0;
  for (let r = 0; r < KEYS; r++) cdf[r] = sum += 1 / (r + 1);
  for (let i = 0; i < UPDATES; i++) {
    const x = rng.next() * sum;
    let lo = 0;
    let hi = KEYS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    out[i] = `u${lo}`;
  }
  return out;
}

function nextState(prev: UserMindState | undefined, userId: string, offset: number): UserMindState {
  const p = prev ?? {
    user_id: userId,
    exploitation: 0.7,
    curiosity: 0.5,
    fatigue: 0.2,
    satisfaction: 0.6,
    explore_probability: 0.1,
    exploration_protected: false,
    interest_breadth: 1,
    version: 0,
    updated_at: 0,
  };
  return {
    ...p,
    satisfaction: 0.9 * p.satisfaction + 0.1 * (offset % 3 === 0 ? 1 : -0.5),
    interest_breadth: (p.interest_breadth % 20) + 1,
    version: offset,
    updated_at: 1_700_000_000_000 + offset,
  };
}

async function commandStats(r: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await r.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) {
      out.set(m[1], Number(m[2]));
      out.set(`${m[1]}.usec`, Number(m[3]));
    }
  }
  return out;
}

function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of after) {
    if (k === 'info' || k === 'ping' || k === 'hello' || k === 'client|setinfo' || k === 'select') continue;
    const x = v - (before.get(k) ?? 0);
    if (x > 0) d[k] = x;
  }
  return d;
}

/** `clientCmds`: the commands that client sends itself; everything else ran inside its scripts. */
function summarize(d: Record<string, number>, clientCmds: string[]) {
  const calls = Object.fromEntries(Object.entries(d).filter(([k]) => !k.endsWith('.usec')));
  const client = clientCmds.reduce((s, k) => s + (calls[k] ?? 0), 0);
  const server = Object.values(calls).reduce((s, v) => s + v, 0);
  return {
    commandstats: calls,
    clientCommands: client,
    clientPerEvent: client / UPDATES,
    serverCalls: server,
    serverCallsPerEvent: server / UPDATES,
  };
}

async function writeBehindRun(url: string, stream: string[], admin: Redis) {
  const redis = await connectStateRedis(url);
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const store = new RedisCheckpointStore({
    redis,
    appId: 'bench',
    metrics,
    expireAfterMs: stateExpiry({ userIdleTtlMs: IDLE_TTL_MS, contentIdleTtlMs: 0 }),
  });
  const wb = new WriteBehind({ store, maxQueuedEntries: 10_000_000, clock: new ManualClock(0), metrics });
  const before = await commandStats(admin);
  const tasks: { task: TaskId; cache: VersionedCache<UserMindState> }[] = [];
  for (let p = 0; p < PARTS; p++) {
    const task = { stage: STAGE_USER, partition: p };
    const { meta } = await wb.acquire(task);
    const cache = new VersionedCache<UserMindState>({
      name: STORE_USER_MIND,
      codec: userMindCodec,
      maxEntries: Math.ceil(CACHE / PARTS),
      loader: (k) => store.load(task, STORE_USER_MIND, k),
      authoritative: meta === null,
    });
    cache.init();
    tasks.push({ task, cache });
  }
  const t0 = performance.now();
  const BATCH = 500;
  for (let start = 0; start < stream.length; start += BATCH) {
    const byTask = new Map<number, number[]>();
    for (let o = start; o < Math.min(start + BATCH, stream.length); o++) {
      const p = partitionForKey(stream[o], PARTS);
      (byTask.get(p) ?? byTask.set(p, []).get(p)!).push(o);
    }
    for (const [p, offsets] of byTask) {
      const { cache } = tasks[p];
      await cache.ensureLoaded(offsets.map((o) => stream[o]));
      for (const o of offsets) cache.put(stream[o], nextState(cache.get(stream[o]), stream[o], o), o);
    }
    // A real stage yields between micro-batches (the next Kafka fetch is I/O): so do we, letting
    // in-flight commits complete instead of coalescing the whole run into one.
    await new Promise((r) => setImmediate(r));
    const done = start + BATCH;
    if (done % EVERY === 0 || done >= stream.length) {
      for (const { task, cache } of tasks)
        wb.checkpoint(task, {
          stores: [cache],
          meta: Buffer.from(String(done)),
          offsets: [{ topic: 'user-interactions', partition: task.partition, offset: String(done) }],
        });
    }
  }
  await wb.flush();
  const ms = performance.now() - t0;
  const d = delta(before, await commandStats(admin));
  const counted = (await metrics.redisCommands.get()).values[0]?.value ?? 0;
  const cacheStats = tasks
    .map((t) => t.cache.stats())
    .reduce(
      (s, c) => ({
        evictions: s.evictions + c.evictions,
        loads: s.loads + c.loads,
        loadedKeys: s.loadedKeys + c.loadedKeys,
      }),
      { evictions: 0, loads: 0, loadedKeys: 0 },
    );
  // Check: what Redis holds is what the cache holds.
  const sample = stream[stream.length - 1];
  const stored = await admin.hget(userMindKey('bench', sample, PARTS), 'version');
  redis.disconnect();
  const scriptUsec = (d['evalsha.usec'] ?? 0) + (d['eval.usec'] ?? 0);
  return {
    ...summarize(d, ['evalsha', 'eval', 'script|load']),
    scriptUsecPerCommit: Math.round(scriptUsec / Math.max(1, wb.stats().commits)),
    scriptUsecPerEvent: scriptUsec / UPDATES,
    metricRedisCommands: counted,
    checkpoints: wb.stats().commits,
    ...cacheStats,
    lastVersionStored: Number(stored),
    wallMs: Math.round(ms),
  };
}

async function writeThroughRun(url: string, stream: string[], admin: Redis) {
  const redis = await connectStateRedis(url);
  const local = new Map<string, UserMindState>();
  const before = await commandStats(admin);
  const t0 = performance.now();
  const inflight: Promise<unknown>[] = [];
  for (let o = 0; o < stream.length; o++) {
    const s = nextState(local.get(stream[o]), stream[o], o);
    local.set(stream[o], s);
    // Write-through: every update is one HSET (auto-pipelined, so this is the cheap naive store).
    inflight.push(redis.hset(`naive:${stream[o]}`, { ...userMindCodec.encode(s), version: String(o) }));
    if (inflight.length >= 1000) await Promise.all(inflight.splice(0));
  }
  await Promise.all(inflight);
  const ms = performance.now() - t0;
  const d = delta(before, await commandStats(admin));
  redis.disconnect();
  return { ...summarize(d, ['hset']), wallMs: Math.round(ms) };
}

const server = await TestRedis.start();
try {
  const admin = server.client();
  const stream = keyStream();
  const distinct = new Set(stream).size;
  const ours = await writeBehindRun(server.url, stream, admin);
  const naive = await writeThroughRun(server.url, stream, admin);
  admin.disconnect();
  console.log(
    JSON.stringify(
      {
        bench: 'redis-commands-per-event',
        redis: (await import('node:child_process'))
          .execFileSync('redis-server', ['--version'])
          .toString()
          .trim(),
        updates: UPDATES,
        keys: KEYS,
        distinctKeysTouched: distinct,
        distribution: a.dist,
        partitions: PARTS,
        checkpointEveryUpdates: EVERY,
        cacheEntries: CACHE,
        idleTtlMs: IDLE_TTL_MS,
        writeBehind: ours,
        writeThrough: naive,
        clientCommandReduction: 1 - ours.clientCommands / naive.clientCommands,
        serverCallReduction: 1 - ours.serverCalls / naive.serverCalls,
      },
      null,
      2,
    ),
  );
} finally {
  await server.dispose();
}
