// What the Redis checkpoint store does when Redis holds less than it confirmed, against a private
// redis-server without persistence: it is replaced at the same address by an older copy of the
// data (a snapshot taken before the last confirmed checkpoints), first as a replica (the old
// master turned replica during a failover answers reads too), then promoted (a failover to a
// replica that lacked them). Loads are refused instead of serving older values as current; a
// commit is retried while a replica answers and fails with CheckpointLostError once a master does,
// writing nothing; a new owner restores the older checkpoint as a whole. Redis wiped under a task
// (its epoch gone) is a loss too, not a newer owner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { FencedError, type ThermostatError } from '../../../core/errors.js';
import { createMetrics } from '../../../core/metrics.js';
import { stateKey, taskKey } from '../../../state/keys.js';
import { CheckpointLostError, RedisCheckpointStore } from '../../../state/redis-checkpoint.js';
import { connectStateRedis } from '../../../state/redis-options.js';
import type { CheckpointEntry, TaskId } from '../../../state/store.js';
import { freePort } from '../../../bench/support/redis-server.js';
import { useFileRedis } from '../../support/redis.js';

const fileRedis = useFileRedis({ args: ['--appendonly', 'no'] });

const entry = (key: string, version: number, v: string): CheckpointEntry => ({
  store: 's',
  key,
  version,
  fields: { v },
});

async function newStore(appId: string) {
  const redis = await connectStateRedis(fileRedis.server.url, { commandTimeoutMs: 2000, reconnectMaxMs: 50 });
  fileRedis.track(redis);
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  return { store: new RedisCheckpointStore({ redis, appId, metrics }), metrics, redis };
}

/** Resolves once `fn` stops failing with a connection error (the client reconnected). */
async function reconnected<T>(fn: () => Promise<T>): Promise<T> {
  for (const end = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 50))) {
    try {
      return await fn();
    } catch (e) {
      const msg = (e as Error).message;
      if (!/Stream isn't writeable|Connection is closed|ECONNREFUSED/.test(msg) || Date.now() > end) throw e;
    }
  }
}

test('Redis back with an older copy of the data: loads refused, the commit retried from a replica and lost from a master; a new owner restores the older checkpoint', async () => {
  const { store, metrics } = await newStore('rb');
  const raw = fileRedis.raw;
  const task: TaskId = { stage: 'user', partition: 2 };
  const { epoch } = await store.acquire(task);
  await store.commit(task, { epoch, seq: 1, entries: [entry('a', 1, 'one')], meta: Buffer.from('m1') });
  await raw.save(); // the older copy
  await store.commit(task, {
    epoch,
    seq: 2,
    entries: [entry('a', 2, 'two'), entry('b', 1, 'new')],
    meta: Buffer.from('m2'),
  });

  // The same address answers with the older copy, as a replica (of a master that is gone).
  await fileRedis.server.crash();
  await fileRedis.server.start();
  const nowhere = String(await freePort());
  await reconnected(() => raw.replicaof('127.0.0.1', nowhere));
  assert.deepEqual(await raw.hmget(taskKey('rb', task), 'seq', 'meta'), ['1', 'm1']);

  await assert.rejects(
    reconnected(() => store.load(task, 's', ['a'])),
    (e: ThermostatError) => {
      assert.equal(e.retriable, true);
      assert.match(e.message, /Redis holds user\/2 at epoch 1 seq 1, behind the epoch 1 seq 2 it confirmed/);
      return true;
    },
  );
  await assert.rejects(
    store.commit(task, { epoch, seq: 3, entries: [entry('a', 3, 'three')], meta: Buffer.from('m3') }),
    (e: ThermostatError) => {
      assert.ok(!(e instanceof FencedError), 'a replica answered: retried, not final');
      assert.equal(e.retriable, true);
      // The check's write is refused (READONLY); the client reconnects to find the master.
      assert.match(e.message, /^redis check of user\/2 failed: /);
      return true;
    },
  );

  // Promoted: a master that lacks confirmed checkpoints. Nothing is written over it.
  await raw.replicaof('NO', 'ONE');
  await assert.rejects(
    reconnected(() =>
      store.commit(task, { epoch, seq: 4, entries: [entry('a', 4, 'four')], meta: Buffer.from('m4') }),
    ),
    (e: Error) => {
      assert.ok(e instanceof CheckpointLostError && e instanceof FencedError);
      assert.match(e.message, /Redis holds user\/2 at epoch 1 seq 1, behind the epoch 1 seq 2 it confirmed/);
      return true;
    },
  );
  assert.deepEqual(await raw.hmget(taskKey('rb', task), 'seq', 'meta'), ['1', 'm1']);
  assert.deepEqual(await raw.hgetall(stateKey('rb', task, 's', 'a')), { version: '1', epoch: '1', v: 'one' });
  assert.equal(await raw.exists(stateKey('rb', task, 's', 'b')), 0);
  assert.equal((await metrics.fencedWrites.get()).values[0]?.value ?? 0, 0, 'not counted as fenced writes');

  // A restart (new owner) takes the older checkpoint as a whole, and writes on from it.
  const { store: owner } = await newStore('rb');
  const acquired = await owner.acquire(task);
  assert.deepEqual([acquired.epoch, acquired.meta?.toString()], [2, 'm1']);
  assert.equal((await owner.load(task, 's', ['a'])).get('a')?.fields?.v.toString(), 'one');
  await owner.commit(task, {
    epoch: acquired.epoch,
    seq: 1,
    entries: [entry('a', 2, 'replayed')],
    meta: Buffer.from('r1'),
  });
  assert.equal(await raw.hget(stateKey('rb', task, 's', 'a'), 'v'), 'replayed');
});

test('Redis wiped under a task (its epoch gone): a loss, not a newer owner', async () => {
  const { store } = await newStore('wipe');
  const task: TaskId = { stage: 'content', partition: 0 };
  const { epoch } = await store.acquire(task);
  await store.commit(task, { epoch, seq: 1, entries: [entry('c', 1, 'x')], meta: Buffer.from('m') });
  await fileRedis.raw.flushall();
  await assert.rejects(
    store.commit(task, { epoch, seq: 2, entries: [entry('c', 2, 'y')], meta: Buffer.from('m2') }),
    (e: Error) =>
      e instanceof CheckpointLostError && /at epoch 0 seq 0, behind the epoch 1 seq 1/.test(e.message),
  );
  assert.equal(await fileRedis.raw.exists(taskKey('wipe', task)), 0, 'nothing written');
});
