// The Redis checkpoint store against a private redis-server: atomicity, fencing, version skips,
// the serving layout, and command counts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { TestRedis } from '../../../bench/support/redis-server.js';
import { RedisCheckpointStore } from '../../../state/redis-checkpoint.js';
import { connectStateRedis, type StateRedis } from '../../../state/redis-options.js';
import { createMetrics, type Metrics } from '../../../core/metrics.js';
import { FencedError } from '../../../core/errors.js';
import { VersionedCache } from '../../../state/versioned-cache.js';
import {
  activeAllocationsCodec,
  parseActiveAllocations,
  userMindCodec,
  type ActiveAllocation,
} from '../../../state/codecs.js';
import {
  ACTIVE_ALLOCATIONS_KEY,
  STAGE_ALLOCATOR,
  STAGE_USER,
  STORE_ALLOCATIONS,
  STORE_USER_MIND,
  activeAllocationsKey,
  userMindKey,
  taskKey,
  stateKey,
  versionsKey,
} from '../../../state/keys.js';
import type { CheckpointEntry, TaskId } from '../../../state/store.js';
import type { UserMindState } from '../../../schemas/types.js';
import { partitionForKey } from '../../../core/hash.js';

let server: TestRedis;
let raw: Redis;
const clients: StateRedis[] = [];

before(async () => {
  server = await TestRedis.start({ args: ['--appendfsync', 'always'] });
  raw = server.client();
});
after(async () => {
  for (const c of clients) c.disconnect();
  raw.disconnect();
  await server.dispose();
});

async function newStore(
  appId: string,
  maxEntriesPerCall?: number,
): Promise<{ store: RedisCheckpointStore; metrics: Metrics; redis: StateRedis }> {
  const redis = await connectStateRedis(server.url, { commandTimeoutMs: 1000, reconnectMaxMs: 100 });
  clients.push(redis);
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  return { store: new RedisCheckpointStore({ redis, appId, metrics, maxEntriesPerCall }), metrics, redis };
}
const value = async (m: Metrics, name: 'redisCommands' | 'fencedWrites') =>
  (await m[name].get()).values[0]?.value ?? 0;
const entry = (key: string, version: number, v: string | null): CheckpointEntry => ({
  store: 's',
  key,
  version,
  fields: v === null ? null : { v },
});

test('acquire/commit/load round trip: one EVALSHA per commit and per load batch', async () => {
  const { store, metrics } = await newStore('rt');
  const task: TaskId = { stage: 'user', partition: 1 };
  assert.deepEqual(await store.acquire(task), { epoch: 1, meta: null });
  const meta = Buffer.from([0, 1, 2, 255, 0]);
  const r = await store.commit(task, {
    epoch: 1,
    seq: 1,
    entries: [entry('a', 3, 'A'), entry('b', 4, 'B'), entry('gone', 2, null)],
    meta,
  });
  assert.deepEqual(r, { written: 3, skippedStale: 0, duplicate: false });
  const loaded = await store.load(task, 's', ['a', 'b', 'gone', 'missing']);
  assert.deepEqual(
    [...loaded].map(([k, s]) => [k, s.version, s.epoch, s.fields === null ? null : s.fields.v.toString()]),
    [
      ['a', 3, 1, 'A'],
      ['b', 4, 1, 'B'],
      ['gone', 2, 1, null],
    ],
  );
  // First call of each script (acquire, commit, load): EVALSHA answered NOSCRIPT, then EVAL.
  assert.equal(await value(metrics, 'redisCommands'), 6);
  const again = await store.acquire(task);
  assert.equal(again.epoch, 2);
  assert.deepEqual(again.meta, meta);
  const t = await raw.hgetallBuffer(taskKey('rt', task));
  assert.deepEqual(Object.keys(t).sort(), ['checkpoints', 'epoch', 'meta', 'seq']);
  assert.deepEqual([t.epoch.toString(), t.seq.toString(), t.checkpoints.toString()], ['2', '0', '1']);
  assert.deepEqual(t.meta, meta);
});

test('zombie fencing: a stale epoch is refused as a whole, counted, and the newer state is untouched', async () => {
  const a = await newStore('fence');
  const b = await newStore('fence');
  const task: TaskId = { stage: 'content', partition: 0 };
  const zombie = await a.store.acquire(task);
  const owner = await b.store.acquire(task); // rebalance: b now owns the task
  await b.store.commit(task, {
    epoch: owner.epoch,
    seq: 1,
    entries: [entry('c1', 10, 'owner')],
    meta: Buffer.from('owner-meta'),
  });
  await assert.rejects(
    a.store.commit(task, {
      epoch: zombie.epoch,
      seq: 5,
      entries: [entry('c1', 11, 'zombie'), entry('c2', 1, 'zombie')],
      meta: Buffer.from('zombie-meta'),
    }),
    (e: unknown) =>
      e instanceof FencedError &&
      e.reason === 'STATE_FENCED' &&
      /epoch 1 refused: stored epoch is 2/.test(e.message),
  );
  assert.equal(await value(a.metrics, 'fencedWrites'), 1);
  assert.deepEqual(await raw.hgetall(stateKey('fence', task, 's', 'c1')), {
    version: '10',
    epoch: '2',
    v: 'owner',
  });
  assert.equal(await raw.exists(stateKey('fence', task, 's', 'c2')), 0);
  assert.equal(await raw.hget(taskKey('fence', task), 'meta'), 'owner-meta');
  // Staged (large) commits are fenced too, before anything is applied.
  const big = await newStore('fence', 2);
  await assert.rejects(
    big.store.commit(task, {
      epoch: zombie.epoch,
      seq: 6,
      entries: [entry('x', 1, '1'), entry('y', 1, '1'), entry('z', 1, '1')],
      meta: Buffer.from('z'),
    }),
    FencedError,
  );
  assert.equal(await raw.exists(stateKey('fence', task, 's', 'x')), 0);
});

test('stale versions are skipped key by key; a late duplicate seq changes nothing', async () => {
  const { store } = await newStore('stale');
  const task: TaskId = { stage: 'user', partition: 2 };
  const { epoch } = await store.acquire(task);
  await store.commit(task, {
    epoch,
    seq: 1,
    entries: [entry('a', 5, 'a5'), entry('b', 5, 'b5')],
    meta: Buffer.from('1'),
  });
  const r = await store.commit(task, {
    epoch,
    seq: 2,
    entries: [entry('a', 5, 'again'), entry('b', 3, 'older'), entry('c', 1, 'c1')],
    meta: Buffer.from('2'),
  });
  assert.deepEqual(r, { written: 1, skippedStale: 2, duplicate: false });
  assert.deepEqual(await raw.hgetall(stateKey('stale', task, 's', 'a')), {
    version: '5',
    epoch: String(epoch),
    v: 'a5',
  });
  assert.deepEqual(await raw.hgetall(stateKey('stale', task, 's', 'b')), {
    version: '5',
    epoch: String(epoch),
    v: 'b5',
  });
  const dup = await store.commit(task, {
    epoch,
    seq: 2,
    entries: [entry('a', 99, 'late')],
    meta: Buffer.from('late'),
  });
  assert.equal(dup.duplicate, true);
  assert.equal(await raw.hget(stateKey('stale', task, 's', 'a'), 'version'), '5');
  assert.equal(await raw.hget(taskKey('stale', task), 'meta'), '2');
});

test('a large commit staged in chunks is applied atomically; an interrupted one exposes nothing', async () => {
  const { store, metrics } = await newStore('big', 100);
  const task: TaskId = { stage: 'user', partition: 0 };
  const { epoch } = await store.acquire(task);
  const entries = Array.from({ length: 250 }, (_, i) => entry(`k${i}`, 1, `v${i}`));
  const before = await value(metrics, 'redisCommands');
  assert.deepEqual(await store.commit(task, { epoch, seq: 1, entries, meta: Buffer.from('m1') }), {
    written: 250,
    skippedStale: 0,
    duplicate: false,
  });
  // 2 staged chunks + 1 final apply (the server has the scripts from the tests above: no EVAL).
  assert.equal((await value(metrics, 'redisCommands')) - before, 3);
  assert.equal(await raw.hget(stateKey('big', task, 's', 'k249'), 'v'), 'v249');
  assert.deepEqual(await raw.keys('{big.user.0}:staging:*'), []);

  // Crash of the writer after the first chunk: the staged chunk is invisible and expires.
  const crashing = await newStore('big', 100);
  const client = crashing.redis as unknown as { evalshaBuffer: (...a: unknown[]) => Promise<unknown> };
  const orig = client.evalshaBuffer.bind(crashing.redis);
  let calls = 0;
  client.evalshaBuffer = (...args: unknown[]) =>
    ++calls === 2 ? Promise.reject(new Error('connection lost')) : orig(...args);
  const next = entries.map((e) => entry(e.key, 2, 'half'));
  await assert.rejects(
    crashing.store.commit(task, { epoch, seq: 2, entries: next, meta: Buffer.from('m2') }),
  );
  assert.equal(await raw.hget(stateKey('big', task, 's', 'k0'), 'v'), 'v0');
  assert.equal(await raw.hget(taskKey('big', task), 'meta'), 'm1');
  const [staged] = await raw.keys('{big.user.0}:staging:*');
  assert.ok((await raw.pttl(staged)) > 0, 'a staged chunk expires');
});

test('a commit of 30,000 user-sized entries succeeds (arguments are not spread onto the JS stack)', async () => {
  const { store } = await newStore('huge');
  const task: TaskId = { stage: 'user', partition: 1 };
  const { epoch } = await store.acquire(task);
  const fields: Record<string, string> = {};
  for (let f = 0; f < 12; f++) fields[`f${f}`] = 'x'.repeat(20);
  const entries: CheckpointEntry[] = Array.from({ length: 30_000 }, (_, i) => ({
    store: 's',
    key: `k${i}`,
    version: 1,
    fields,
  }));
  const r = await store.commit(task, { epoch, seq: 1, entries, meta: Buffer.from('m') });
  assert.deepEqual(r, { written: 30_000, skippedStale: 0, duplicate: false });
  assert.equal(await raw.hget(stateKey('huge', task, 's', 'k29999'), 'f11'), 'x'.repeat(20));
});

test('kill -9 of Redis between commits: the recovered state is exactly one whole checkpoint', async () => {
  const { store } = await newStore('crash');
  const task: TaskId = { stage: 'user', partition: 0 };
  const { epoch } = await store.acquire(task);
  const keys = Array.from({ length: 20 }, (_, i) => `u${i}`);
  // Checkpoint k writes every key at version k and meta "k": a torn checkpoint would mix versions.
  let k = 0;
  const writer = (async () => {
    for (;;) {
      k++;
      try {
        await store.commit(task, {
          epoch,
          seq: k,
          entries: keys.map((key) => entry(key, k, `v${k}`)),
          meta: Buffer.from(String(k)),
        });
      } catch {
        return;
      }
    }
  })();
  while (k < 200) await new Promise((r) => setTimeout(r, 5));
  await server.crash();
  await writer;
  await server.start();
  const meta = Number(await raw.hget(taskKey('crash', task), 'meta'));
  assert.ok(meta >= 199, `durable checkpoint ${meta}`); // appendfsync always: acknowledged commits survive
  for (const key of keys)
    assert.deepEqual(await raw.hgetall(stateKey('crash', task, 's', key)), {
      version: String(meta),
      epoch: String(epoch),
      v: `v${meta}`,
    });
});

test('serving copy: HGETALL userMindKey(appId, userId, partitions) returns the record + version + epoch', async () => {
  const { store } = await newStore('serve');
  const partitions = 6;
  const userId = 'user-42';
  const task: TaskId = { stage: STAGE_USER, partition: partitionForKey(userId, partitions) };
  const { epoch } = await store.acquire(task);
  const cache = new VersionedCache<UserMindState>({
    name: STORE_USER_MIND,
    codec: userMindCodec,
    maxEntries: 10,
    loader: (keys) => store.load(task, STORE_USER_MIND, keys),
  });
  cache.init();
  await cache.ensureLoaded([userId]);
  const s: UserMindState = {
    user_id: userId,
    exploitation: 0.7,
    curiosity: 0.55,
    fatigue: 0.2,
    satisfaction: 0.64,
    explore_probability: 0.25,
    exploration_protected: false,
    interest_breadth: 4,
    version: 1234,
    updated_at: 1_700_000_000_000,
  };
  cache.put(userId, s, s.version);
  await store.commit(task, { epoch, seq: 1, entries: cache.drainDirty(), meta: Buffer.from('m') });
  assert.deepEqual(await raw.hgetall(userMindKey('serve', userId, partitions)), {
    user_id: 'user-42',
    exploitation: '0.7',
    curiosity: '0.55',
    fatigue: '0.2',
    satisfaction: '0.64',
    explore_probability: '0.25',
    exploration_protected: 'false',
    interest_breadth: '4',
    updated_at: '1700000000000',
    version: '1234',
    epoch: String(epoch),
  });
  // A fresh cache reloads the identical record.
  const fresh = new VersionedCache<UserMindState>({
    name: STORE_USER_MIND,
    codec: userMindCodec,
    maxEntries: 10,
    loader: (keys) => store.load(task, STORE_USER_MIND, keys),
  });
  fresh.init();
  await fresh.ensureLoaded([userId]);
  assert.deepEqual(fresh.get(userId), s);
});

test('variable-shape values are rewritten (allocations drop out); fixed-shape ones merge; tombstones clear', async () => {
  const { store } = await newStore('shape');
  const task: TaskId = { stage: STAGE_ALLOCATOR, partition: 0 };
  const { epoch } = await store.acquire(task);
  const alloc = (m: Map<string, ActiveAllocation>, version: number): CheckpointEntry => ({
    store: STORE_ALLOCATIONS,
    key: ACTIVE_ALLOCATIONS_KEY,
    version,
    fields: activeAllocationsCodec.encode(m),
    replace: activeAllocationsCodec.variableFields,
  });
  const a1 = { content_id: 'c1', remaining: 100, valid_until: 60_000 };
  const a2 = { content_id: 'c2', remaining: 40, valid_until: 120_000 };
  await store.commit(task, {
    epoch,
    seq: 1,
    entries: [
      alloc(
        new Map([
          ['aa01', a1],
          ['aa02', a2],
        ]),
        1,
      ),
    ],
    meta: Buffer.from('1'),
  });
  await store.commit(task, {
    epoch,
    seq: 2,
    entries: [alloc(new Map([['aa02', { ...a2, remaining: 15 }]]), 2)],
    meta: Buffer.from('2'),
  });
  const hash = await raw.hgetall(activeAllocationsKey('shape'));
  assert.deepEqual(hash, {
    version: '2',
    epoch: String(epoch),
    aa02: '{"content_id":"c2","remaining":15,"valid_until":120000}',
  });
  assert.deepEqual(parseActiveAllocations(hash), new Map([['aa02', { ...a2, remaining: 15 }]]));
  // Tombstone, then a value again: the deleted marker does not survive.
  await store.commit(task, {
    epoch,
    seq: 3,
    entries: [entry('k', 1, 'x'), entry('t', 1, null)],
    meta: Buffer.from('3'),
  });
  await store.commit(task, { epoch, seq: 4, entries: [entry('t', 2, 'back')], meta: Buffer.from('4') });
  assert.deepEqual(await raw.hgetall(stateKey('shape', task, 's', 't')), {
    version: '2',
    epoch: String(epoch),
    v: 'back',
  });
  // The stale check reads each key's own version: a tombstone keeps it (an older write is
  // refused), and no per-task versions hash is kept beside the keys.
  await store.commit(task, { epoch, seq: 5, entries: [entry('k', 2, null)], meta: Buffer.from('5') });
  assert.deepEqual(await raw.hgetall(stateKey('shape', task, 's', 'k')), {
    version: '2',
    epoch: String(epoch),
    deleted: '1',
  });
  assert.deepEqual(
    await store.commit(task, { epoch, seq: 6, entries: [entry('k', 1, 'older')], meta: Buffer.from('6') }),
    { written: 0, skippedStale: 1, duplicate: false },
  );
  assert.equal(await raw.exists(versionsKey('shape', task)), 0);
});

test('a serving hash wider than Lua can unpack at once (10,000 active allocations) is written whole', async () => {
  const { store } = await newStore('wide');
  const task: TaskId = { stage: STAGE_ALLOCATOR, partition: 0 };
  const { epoch } = await store.acquire(task);
  const active = new Map<string, ActiveAllocation>(
    Array.from({ length: 10_000 }, (_, i) => [
      `a${i}`,
      { content_id: `c${i}`, remaining: i, valid_until: 1 },
    ]),
  );
  const r = await store.commit(task, {
    epoch,
    seq: 1,
    entries: [
      {
        store: STORE_ALLOCATIONS,
        key: ACTIVE_ALLOCATIONS_KEY,
        version: 1,
        fields: activeAllocationsCodec.encode(active),
        replace: true,
      },
    ],
    meta: Buffer.from('1'),
  });
  assert.equal(r.written, 1);
  assert.deepEqual(parseActiveAllocations(await raw.hgetall(activeAllocationsKey('wide'))), active);
});

test('scripts are reloaded after SCRIPT FLUSH (as after a Redis restart)', async () => {
  const { store, metrics } = await newStore('noscript');
  const task: TaskId = { stage: 'user', partition: 0 };
  const { epoch } = await store.acquire(task);
  await store.commit(task, { epoch, seq: 1, entries: [entry('a', 1, 'x')], meta: Buffer.from('m') });
  await raw.script('FLUSH');
  const before = await value(metrics, 'redisCommands');
  await store.commit(task, { epoch, seq: 2, entries: [entry('a', 2, 'y')], meta: Buffer.from('m') });
  assert.equal((await value(metrics, 'redisCommands')) - before, 2); // EVALSHA (NOSCRIPT), EVAL
  assert.equal(await raw.hget(stateKey('noscript', task, 's', 'a'), 'v'), 'y');
});
