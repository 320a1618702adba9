// The Redis checkpoint store and model store on a real three-master Redis Cluster
// (scripts/redis-ha.sh): every call stays in one slot (a cross-slot call would fail with
// CROSSSLOT), tasks spread over the masters, fencing, staged commits, script-cache misses on the
// node that owns the slot, per-node SCAN in deleteTask, the hash-tagged model keys, replica
// acknowledgements asked of the node owning the task's slot, and a start that fails at once on
// refused credentials.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { Redis } from 'ioredis';
import { createMetrics } from '../../../core/metrics.js';
import { FencedError } from '../../../core/errors.js';
import { RedisModelStore } from '../../../learn/model-store.js';
import { stateKey, taskKey, taskTag } from '../../../state/keys.js';
import { RedisCheckpointStore } from '../../../state/redis-checkpoint.js';
import { connectStateRedis, type StateRedis } from '../../../state/redis-options.js';
import type { CheckpointEntry, TaskId } from '../../../state/store.js';
import { RedisHa } from '../../../bench/support/redis-ha.js';

let ha: RedisHa;
let redis: StateRedis;
let masters: Redis[];

before(async () => {
  ha = await RedisHa.start('cluster');
  redis = await connectStateRedis(ha.url);
  masters = ha.ports.map((p) => ha.node(p));
});
after(async () => {
  redis?.disconnect();
  for (const m of masters ?? []) m.disconnect();
  await ha?.stop();
});

const entry = (key: string, version: number, v: string): CheckpointEntry => ({
  store: 's',
  key,
  version,
  fields: { v },
});
const newStore = (appId: string, maxEntriesPerCall?: number) => {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  return { store: new RedisCheckpointStore({ redis, appId, metrics, maxEntriesPerCall }), metrics };
};
/** Keys matching `pattern` on each master (SCAN is per node). */
async function keysPerMaster(pattern: string): Promise<number[]> {
  return Promise.all(
    masters.map(async (m) => {
      let n = 0;
      let cursor = '0';
      do {
        const [next, keys] = await m.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        n += keys.length;
      } while (cursor !== '0');
      return n;
    }),
  );
}

test('checkpoints of 12 tasks land on several masters, each task whole on one; load and restore read them back', async () => {
  const { store } = newStore('cl');
  const tasks: TaskId[] = Array.from({ length: 12 }, (_, i) => ({
    stage: i % 2 ? 'content' : 'user',
    partition: i,
  }));
  for (const task of tasks) {
    const { epoch, meta } = await store.acquire(task);
    assert.equal(meta, null);
    const r = await store.commit(task, {
      epoch,
      seq: 1,
      entries: [entry('a', 1, `a${task.partition}`), entry('b', 2, `b${task.partition}`)],
      meta: Buffer.from(`m${task.partition}`),
    });
    assert.deepEqual(r, { written: 2, skippedStale: 0, duplicate: false });
  }
  const perTask = await Promise.all(tasks.map((t) => keysPerMaster(`${taskTag('cl', t)}:*`)));
  for (const counts of perTask) {
    assert.equal(counts.filter((n) => n > 0).length, 1, `one task's keys on one master: ${counts}`);
    assert.equal(
      counts.reduce((a, b) => a + b),
      3,
      'task hash, two state keys',
    );
  }
  const used = new Set(perTask.map((c) => c.findIndex((n) => n > 0)));
  assert.ok(used.size >= 2, `tasks spread over ${used.size} of 3 masters`);
  for (const task of tasks) {
    const loaded = await store.load(task, 's', ['a', 'b', 'missing']);
    assert.deepEqual(
      [...loaded].map(([k, e]) => [k, e.version, e.fields?.v.toString()]),
      [
        ['a', 1, `a${task.partition}`],
        ['b', 2, `b${task.partition}`],
      ],
    );
    const again = await store.acquire(task); // a restart: next epoch, the checkpoint's meta
    assert.deepEqual([again.epoch, again.meta?.toString()], [2, `m${task.partition}`]);
  }
});

test('fencing on a Cluster: a zombie epoch is refused, inline and staged', async () => {
  const { store: zombieStore } = newStore('clf');
  const { store: ownerStore } = newStore('clf');
  const { store: bigZombie } = newStore('clf', 2);
  const task: TaskId = { stage: 'content', partition: 3 };
  const zombie = await zombieStore.acquire(task);
  const owner = await ownerStore.acquire(task);
  await ownerStore.commit(task, {
    epoch: owner.epoch,
    seq: 1,
    entries: [entry('c', 5, 'owner')],
    meta: Buffer.from('o'),
  });
  await assert.rejects(
    zombieStore.commit(task, {
      epoch: zombie.epoch,
      seq: 9,
      entries: [entry('c', 6, 'zombie')],
      meta: Buffer.from('z'),
    }),
    FencedError,
  );
  await assert.rejects(
    bigZombie.commit(task, {
      epoch: zombie.epoch,
      seq: 9,
      entries: ['x', 'y', 'z'].map((k) => entry(k, 1, 'zombie')),
      meta: Buffer.from('z'),
    }),
    FencedError,
  );
  const read = (await ownerStore.load(task, 's', ['c', 'x'])).get('c');
  assert.deepEqual([read?.version, read?.fields?.v.toString(), read?.epoch], [5, 'owner', owner.epoch]);
  assert.equal((await ownerStore.load(task, 's', ['x'])).size, 0);
});

test('a staged commit (chunks + final apply) is atomic in the task slot; script-cache misses fall back to EVAL on the owning node', async () => {
  const { store, metrics } = newStore('cls', 50);
  const task: TaskId = { stage: 'user', partition: 7 };
  const { epoch } = await store.acquire(task);
  const entries = Array.from({ length: 120 }, (_, i) => entry(`k${i}`, 1, `v${i}`));
  assert.deepEqual(await store.commit(task, { epoch, seq: 1, entries, meta: Buffer.from('m') }), {
    written: 120,
    skippedStale: 0,
    duplicate: false,
  });
  assert.deepEqual(
    await keysPerMaster(`${taskTag('cls', task)}:staging:*`),
    [0, 0, 0],
    'staging list consumed',
  );
  assert.equal((await store.load(task, 's', ['k119'])).get('k119')?.fields?.v.toString(), 'v119');

  for (const m of masters) await m.script('FLUSH');
  const before = (await metrics.redisCommands.get()).values[0].value;
  await store.commit(task, { epoch, seq: 2, entries: [entry('k0', 2, 'again')], meta: Buffer.from('m2') });
  assert.equal(
    (await metrics.redisCommands.get()).values[0].value - before,
    2,
    'EVALSHA (NOSCRIPT), then EVAL',
  );
  assert.equal((await store.load(task, 's', ['k0'])).get('k0')?.version, 2);
});

test('expiry on a Cluster: the commit sets the TTL of each key it writes, in the task slot', async () => {
  const store = new RedisCheckpointStore({ redis, appId: 'clx', expireAfterMs: { s: 60_000 } });
  const task: TaskId = { stage: 'user', partition: 5 };
  const { epoch } = await store.acquire(task);
  await store.commit(task, { epoch, seq: 1, entries: [entry('a', 1, 'x')], meta: Buffer.from('m') });
  const ttl = await redis.pttl(stateKey('clx', task, 's', 'a'));
  assert.ok(ttl > 55_000 && ttl <= 60_000, `PTTL ${ttl}`);
  assert.equal(await redis.pttl(taskKey('clx', task)), -1, 'the task hash never expires');
});

test('deleteTask scans every master and removes the whole task', async () => {
  const { store } = newStore('cld');
  const task: TaskId = { stage: 'allocator', partition: 0 };
  const { epoch } = await store.acquire(task);
  await store.commit(task, {
    epoch,
    seq: 1,
    entries: [entry('a', 1, 'x'), entry('b', 1, 'y')],
    meta: Buffer.from('m'),
  });
  assert.equal(
    (await keysPerMaster(`${taskTag('cld', task)}:*`)).reduce((a, b) => a + b),
    3,
    'task hash, two state keys',
  );
  await store.deleteTask(task);
  assert.deepEqual(await keysPerMaster(`${taskTag('cld', task)}:*`), [0, 0, 0]);
  assert.equal(await redis.exists(taskKey('cld', task), stateKey('cld', task, 's', 'a')), 0);
});

test('model store on a Cluster: tagged keys in one slot, write-if-newer, version window, untagged keys still read', async () => {
  const store = new RedisModelStore(redis, 'clm', 2);
  for (const seq of [1, 2, 3])
    assert.equal(await store.save('alloc', seq, Uint8Array.of(seq), 1000 + seq), true);
  assert.equal(await store.save('alloc', 2, Uint8Array.of(9), 0), false, 'an older trainer never overwrites');
  assert.equal((await store.load('alloc'))?.seq, 3);
  assert.equal(await store.load('alloc', 1), undefined, 'out of the window');
  assert.deepEqual(Array.from((await store.load('alloc', 2))!.blob), [2]);
  assert.equal(store.key('alloc', 2), '{clm:model:alloc}:v:2');
  const counts = await keysPerMaster('{clm:model:alloc}*');
  assert.equal(counts.filter((n) => n > 0).length, 1, `a model's keys share one master: ${counts}`);

  // A model saved by an earlier release under the untagged key.
  await redis.hset('clm:model:old', { seq: '4', version: 'old@4', blob: Buffer.from([4]), created_at: '7' });
  assert.deepEqual((await store.load('old'))?.version, 'old@4');
});

test('replica acknowledgements on a Cluster: WAIT goes to the node owning the task slot', async () => {
  // Where each task lives, from a store that asks for no acknowledgement.
  const { store: plain } = newStore('clw');
  const tasks: TaskId[] = Array.from({ length: 12 }, (_, p) => ({ stage: 'user', partition: p }));
  const home = new Map<number, number>();
  for (const task of tasks) {
    // A commit as well: the scripts are in each master's cache (an earlier test flushed them).
    const { epoch } = await plain.acquire(task);
    await plain.commit(task, { epoch, seq: 1, entries: [], meta: Buffer.from('m') });
    const counts = await keysPerMaster(`${taskTag('clw', task)}:*`);
    home.set(
      task.partition,
      counts.findIndex((n) => n > 0),
    );
  }
  const onFirst = tasks.find((t) => home.get(t.partition) === 0)!;
  const elsewhere = tasks.find((t) => home.get(t.partition) !== 0)!;
  assert.ok(onFirst && elsewhere, `tasks on several masters: ${[...home.values()]}`);

  // The first master gets a replica; the others have none.
  const replicaPort = await ha.addClusterReplica(ha.ports[0]);
  for (const m of masters) await m.config('RESETSTAT');
  const store = new RedisCheckpointStore({
    redis,
    appId: 'clw',
    minReplicaAcks: 1,
    // Generous for a replica added a moment ago on a busy machine; only the refused acquire waits it out.
    replicaAckTimeoutMs: 1500,
  });
  const { epoch } = await store.acquire(onFirst);
  await store.commit(onFirst, { epoch, seq: 1, entries: [entry('a', 1, 'acked')], meta: Buffer.from('m') });
  await assert.rejects(store.acquire(elsewhere), /acquire of user\/\d+ not durable: 0 of 1 replica\(s\)/);

  const waits = await Promise.all(
    masters.map(async (m) => Number(/cmdstat_wait:calls=(\d+)/.exec(await m.info('commandstats'))?.[1] ?? 0)),
  );
  const expected = [2, 0, 0];
  expected[home.get(elsewhere.partition)!] = 1;
  assert.deepEqual(
    waits,
    expected,
    'WAIT calls per master: acquire + commit on the first, one acquire on the other',
  );
  const replica = ha.node(replicaPort);
  try {
    await replica.call('READONLY');
    assert.equal(await replica.hget(stateKey('clw', onFirst, 's', 'a'), 'v'), 'acked', 'on the replica');
  } finally {
    replica.disconnect();
  }
});

test('start: refused credentials fail at once naming the key; no node up fails within the bound', async () => {
  for (const m of masters) await m.config('SET', 'requirepass', 'right');
  const started = Date.now();
  try {
    await assert.rejects(
      connectStateRedis({ url: ha.url, password: 'wrong' }, { connectTimeoutMs: 20_000 }),
      {
        name: 'ConfigError',
        message:
          /^invalid configuration redis\.password: Redis at redis\+cluster:\/\/\S+ refused the credentials \(WRONGPASS/,
      },
    );
    const ok = await connectStateRedis({ url: ha.url, password: 'right' });
    ok.disconnect();
  } finally {
    for (const m of masters) await m.config('SET', 'requirepass', '');
  }
  assert.ok(Date.now() - started < 10_000, `refused in ${Date.now() - started} ms, not after the bound`);
  const nowhere = 'redis+cluster://127.0.0.1:1,127.0.0.1:2';
  await assert.rejects(connectStateRedis(nowhere, { connectTimeoutMs: 1000 }), {
    name: 'ThermostatError',
    message: /^cannot reach Redis at redis\+cluster:\/\/127\.0\.0\.1:1,127\.0\.0\.1:2 within 1 s \(/,
  });
});
