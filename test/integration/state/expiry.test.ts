// Idle expiry in Redis (state/expiry.ts, the commit script): every key a checkpoint writes for an
// expiring store carries its TTL, refreshed by each later write; an expired key leaves nothing
// behind (the stale check reads the key's own version) and its user is new again; 0 = no expiry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../core/clock.js';
import { RedisCheckpointStore } from '../../../state/redis-checkpoint.js';
import { connectStateRedis } from '../../../state/redis-options.js';
import { VersionedCache } from '../../../state/versioned-cache.js';
import { jsonCodec } from '../../../state/codecs.js';
import { stateKey, taskKey, taskTag, versionsKey } from '../../../state/keys.js';
import type { CheckpointEntry, TaskId } from '../../../state/store.js';
import { useFileRedis } from '../../support/redis.js';

const fileRedis = useFileRedis();
const TTL = 60_000;
const task: TaskId = { stage: 'user', partition: 0 };

async function newStore(
  appId: string,
  expireAfterMs: Record<string, number>,
  maxEntriesPerCall?: number,
  clock?: ManualClock,
) {
  const redis = fileRedis.track(await connectStateRedis(fileRedis.server.url, { commandTimeoutMs: 2000 }));
  return new RedisCheckpointStore({ redis, appId, expireAfterMs, maxEntriesPerCall, clock });
}
const entry = (store: string, key: string, version: number, v: string | null): CheckpointEntry => ({
  store,
  key,
  version,
  fields: v === null ? null : { v },
});
const pttl = (app: string, store: string, key: string) => fileRedis.raw.pttl(stateKey(app, task, store, key));
const fresh = (ms: number) => ms > TTL - 5_000 && ms <= TTL;
/** Keys of the task, whatever their name. */
async function taskKeys(app: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await fileRedis.raw.scan(cursor, 'MATCH', `${taskTag(app, task)}:*`, 'COUNT', 1000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return out.sort();
}

test('a checkpoint sets the TTL of every key it writes for an expiring store, staged chunks included', async () => {
  const store = await newStore('ttl', { u: TTL }, 2);
  const { epoch } = await store.acquire(task);
  const r = await store.commit(task, {
    epoch,
    seq: 1,
    // 5 entries, 2 per call: two staged chunks and the inline rest.
    entries: [
      entry('u', 'a', 1, 'A'),
      entry('u', 'b', 1, 'B'),
      entry('u', 't', 1, null),
      entry('x', 'k', 1, 'K'),
      entry('u', 'c', 1, 'C'),
    ],
    meta: Buffer.from('1'),
  });
  assert.deepEqual(r, { written: 5, skippedStale: 0, duplicate: false });
  for (const k of ['a', 'b', 't', 'c']) assert.ok(fresh(await pttl('ttl', 'u', k)), `u:${k} carries the TTL`);
  assert.equal(await pttl('ttl', 'x', 'k'), -1, 'a store without expiry: no TTL');
  assert.equal(await fileRedis.raw.pttl(taskKey('ttl', task)), -1, 'the task hash never expires');
});

test('the TTL is refreshed by a write on a later day (once a day per key) or with a changed TTL; a skipped write refreshes nothing', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
  const store = await newStore('refresh', { u: TTL }, undefined, clock);
  const key = stateKey('refresh', task, 'u', 'a');
  const { epoch } = await store.acquire(task);
  await store.commit(task, { epoch, seq: 1, entries: [entry('u', 'a', 1, 'A1')], meta: Buffer.from('1') });
  assert.ok(fresh(await fileRedis.raw.pttl(key)));
  await fileRedis.raw.pexpire(key, 5_000); // as if set 55 s ago
  // Same day: the busy key's TTL is not set again at every write (its expiry may come a day early).
  await store.commit(task, { epoch, seq: 2, entries: [entry('u', 'a', 2, 'A2')], meta: Buffer.from('2') });
  assert.ok((await fileRedis.raw.pttl(key)) <= 5_000, 'not refreshed twice in a day');
  clock.advance(86_400_000);
  await store.commit(task, { epoch, seq: 3, entries: [entry('u', 'a', 3, 'A3')], meta: Buffer.from('3') });
  assert.ok(fresh(await fileRedis.raw.pttl(key)), 'refreshed on the next day');
  await fileRedis.raw.pexpire(key, 5_000);
  const stale = await store.commit(task, {
    epoch,
    seq: 4,
    entries: [entry('u', 'a', 3, 'again')],
    meta: Buffer.from('4'),
  });
  clock.advance(86_400_000);
  assert.equal(stale.skippedStale, 1);
  const stale2 = await store.commit(task, {
    epoch,
    seq: 5,
    entries: [entry('u', 'a', 3, 'again')],
    meta: Buffer.from('5'),
  });
  assert.equal(stale2.skippedStale, 1);
  assert.ok((await fileRedis.raw.pttl(key)) <= 5_000, 'a skipped write does not refresh');
  // A changed TTL (a new config) applies at the key's next write, whatever the day.
  const longer = await newStore('refresh', { u: 2 * TTL }, undefined, clock);
  const e2 = (await longer.acquire(task)).epoch;
  await longer.commit(task, {
    epoch: e2,
    seq: 1,
    entries: [entry('u', 'a', 4, 'A4')],
    meta: Buffer.from('6'),
  });
  assert.ok((await fileRedis.raw.pttl(key)) > TTL, 'the new TTL');
  // The bookkeeping field is internal: a load does not return it.
  const loaded = await longer.load(task, 'u', ['a']);
  assert.deepEqual(Object.keys(loaded.get('a')!.fields!), ['v']);
});

test('an expired user is new again: nothing of the key remains, any version is written, the task keeps no bookkeeping', async () => {
  const store = await newStore('gone', { u: 200 });
  // A versions hash left by an earlier release is dropped on acquire.
  await fileRedis.raw.hset(versionsKey('gone', task), 'u:old', '7');
  const { epoch } = await store.acquire(task);
  assert.equal(await fileRedis.raw.exists(versionsKey('gone', task)), 0);
  const users = Array.from({ length: 300 }, (_, i) => entry('u', `user${i}`, 1000 + i, `state${i}`));
  await store.commit(task, { epoch, seq: 1, entries: users, meta: Buffer.from('1') });
  assert.equal((await taskKeys('gone')).length, 301);
  const deadline = Date.now() + 5_000;
  while ((await taskKeys('gone')).length > 1 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  // Bounded: the task hash alone is left, whatever number of users came and went.
  assert.deepEqual(await taskKeys('gone'), [taskKey('gone', task)]);
  // A cache that believed user0 present (a restart, an eviction) loads it as absent: a new user.
  const cache = new VersionedCache<unknown>({
    name: 'u',
    codec: jsonCodec(),
    maxEntries: 10,
    loader: (keys) => store.load(task, 'u', keys),
  });
  cache.init();
  await cache.ensureLoaded(['user0']);
  assert.equal(cache.get('user0'), undefined);
  // Its new state is written, even at a version below the expired one (a count that restarted).
  const again = await store.commit(task, {
    epoch,
    seq: 2,
    entries: [entry('u', 'user0', 1, 'new')],
    meta: Buffer.from('2'),
  });
  assert.deepEqual(again, { written: 1, skippedStale: 0, duplicate: false });
  assert.deepEqual(await fileRedis.raw.hmget(stateKey('gone', task, 'u', 'user0'), 'version', 'v'), [
    '1',
    'new',
  ]);
});

test('0 disables expiry, and a later write with 0 removes a TTL set before', async () => {
  const never = await newStore('never', { u: 0 });
  const expiring = await newStore('never', { u: TTL });
  let { epoch } = await never.acquire(task);
  await never.commit(task, { epoch, seq: 1, entries: [entry('u', 'a', 1, 'A')], meta: Buffer.from('1') });
  assert.equal(await pttl('never', 'u', 'a'), -1);
  ({ epoch } = await expiring.acquire(task));
  await expiring.commit(task, { epoch, seq: 1, entries: [entry('u', 'a', 2, 'A')], meta: Buffer.from('2') });
  assert.ok(fresh(await pttl('never', 'u', 'a')));
  ({ epoch } = await never.acquire(task));
  await never.commit(task, { epoch, seq: 1, entries: [entry('u', 'a', 3, 'A')], meta: Buffer.from('3') });
  assert.equal(await pttl('never', 'u', 'a'), -1, 'expiry switched off: the key stays');
  assert.equal(await fileRedis.raw.hget(stateKey('never', task, 'u', 'a'), '_expiry'), null);
});

test('an expiry the script cannot read is refused when the store is built', () => {
  assert.throws(
    () => new RedisCheckpointStore({ redis: fileRedis.raw, appId: 'bad', expireAfterMs: { u: -1 } }),
    /store "u"/,
  );
  assert.throws(
    () => new RedisCheckpointStore({ redis: fileRedis.raw, appId: 'bad', expireAfterMs: { 'a b': 1 } }),
    /store name/,
  );
});
