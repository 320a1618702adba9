// How the Redis checkpoint store sends its writes, against a private redis-server: entries packed
// in one argument land byte for byte as separate arguments did; writes of many tasks wait for each
// other in the client, so none times out behind the others; a commit that outlasts the command
// timeout but runs is confirmed, not failed and re-sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useFileRedis } from '../../support/redis.js';
import { RedisCheckpointStore } from '../../../state/redis-checkpoint.js';
import { connectStateRedis } from '../../../state/redis-options.js';
import { stateKey, taskKey } from '../../../state/keys.js';
import type { CheckpointEntry, TaskId } from '../../../state/store.js';

const fileRedis = useFileRedis();

async function storeWith(
  appId: string,
  commandTimeoutMs: number,
  opts: { maxEntriesPerCall?: number; maxWritesInFlight?: number } = {},
): Promise<RedisCheckpointStore> {
  const redis = await connectStateRedis(fileRedis.server.url, { commandTimeoutMs, reconnectMaxMs: 100 });
  fileRedis.track(redis);
  return new RedisCheckpointStore({ redis, appId, ...opts });
}

/** A user-sized entry: ten short fields and a JSON blob, as the user stage writes them. */
function userEntry(key: string, version: number): CheckpointEntry {
  const fields: Record<string, string> = { s: JSON.stringify({ id: key, seq: 'x'.repeat(300) }) };
  for (let f = 0; f < 10; f++) fields[`f${f}`] = String(version + f / 3);
  return { store: 'user', key, version, fields };
}

test('non-ASCII, binary and long values are stored byte for byte, inline and staged', async () => {
  const values = {
    accents: 'déjà vu 😀',
    bin: Buffer.from([0, 255, 128, 0xc3, 0x28]),
    long: 'ü'.repeat(40_000),
    empty: '',
  };
  const task: TaskId = { stage: 'user', partition: 0 };
  for (const [appId, maxEntriesPerCall] of [
    ['inline', undefined],
    ['staged', 2],
  ] as const) {
    const store = await storeWith(appId, 2000, { maxEntriesPerCall });
    const { epoch } = await store.acquire(task);
    const entries: CheckpointEntry[] = Array.from({ length: 5 }, (_, i) => ({
      store: 's',
      key: `k${i}`,
      version: 1,
      fields: values,
    }));
    const r = await store.commit(task, { epoch, seq: 1, entries, meta: Buffer.from('m') });
    assert.deepEqual(r, { written: 5, skippedStale: 0, duplicate: false }, appId);
    for (let i = 0; i < 5; i++) {
      const h = await fileRedis.raw.hgetallBuffer(stateKey(appId, task, 's', `k${i}`));
      assert.deepEqual(h.accents, Buffer.from(values.accents, 'utf8'), appId);
      assert.deepEqual(h.bin, values.bin, appId);
      assert.deepEqual(h.long, Buffer.from(values.long, 'utf8'), appId);
      assert.deepEqual(h.empty, Buffer.alloc(0), appId);
      assert.equal(h.version.toString(), '1');
      assert.equal(h.epoch.toString(), String(epoch));
    }
    const loaded = await store.load(task, 's', ['k4']);
    assert.deepEqual(loaded.get('k4')?.fields?.bin, values.bin);
  }
});

test('commits of many tasks at once each get the command timeout to themselves', async () => {
  // 12 tasks x 5000 user-sized entries: far more Redis time together than the 300 ms timeout,
  // each one well under it. Sent all at once they would queue in Redis behind each other.
  const store = await storeWith('many', 300);
  const tasks: TaskId[] = Array.from({ length: 12 }, (_, p) => ({ stage: 'user', partition: p }));
  const epochs = await Promise.all(tasks.map((t) => store.acquire(t)));
  // Scripts loaded and entries built first: the client's timer also runs while the event loop
  // is busy, and this test is about Redis time only.
  const warm: TaskId = { stage: 'user', partition: 99 };
  await store.commit(warm, {
    epoch: (await store.acquire(warm)).epoch,
    seq: 1,
    entries: [],
    meta: Buffer.from('w'),
  });
  const entries = Array.from({ length: 5000 }, (_, k) => userEntry(`u${k}`, 1));
  const results = await Promise.all(
    tasks.map((t, i) =>
      store.commit(t, { epoch: epochs[i].epoch, seq: 1, entries, meta: Buffer.from(`m${i}`) }),
    ),
  );
  for (const r of results) assert.deepEqual(r, { written: 5000, skippedStale: 0, duplicate: false });
  for (const t of tasks) assert.equal(await fileRedis.raw.hget(taskKey('many', t), 'seq'), '1');
});

test('a commit that outlasts the command timeout but runs is confirmed, not failed', async () => {
  const store = await storeWith('late', 400);
  const task: TaskId = { stage: 'user', partition: 3 };
  const { epoch } = await store.acquire(task);
  await store.commit(task, { epoch, seq: 1, entries: [userEntry('u0', 1)], meta: Buffer.from('m0') }); // scripts loaded
  const entries = Array.from({ length: 50 }, (_, k) => userEntry(`u${k}`, 5));
  // Redis frozen for 600 ms: the commit times out at 400 ms, the probe sent behind it is answered
  // once Redis resumes (before its own 400 ms run out), after the commit ran.
  const resumed = fileRedis.server.pauseFor(600);
  const r = await store.commit(task, { epoch, seq: 2, entries, meta: Buffer.from('m1') });
  await resumed;
  assert.equal(r.duplicate, false);
  assert.equal(r.written, 50);
  assert.equal(await fileRedis.raw.hget(taskKey('late', task), 'meta'), 'm1');
  assert.equal(await fileRedis.raw.hget(stateKey('late', task, 'user', 'u49'), 'version'), '5');
  // The next checkpoint goes on from there.
  const next = await store.commit(task, {
    epoch,
    seq: 3,
    entries: [userEntry('u0', 6)],
    meta: Buffer.from('m2'),
  });
  assert.deepEqual(next, { written: 1, skippedStale: 0, duplicate: false });
});

test('a commit still not run when the probe gives up fails as before (retriable)', async () => {
  const store = await storeWith('frozen', 200);
  const task: TaskId = { stage: 'user', partition: 4 };
  const { epoch } = await store.acquire(task);
  await store.commit(task, { epoch, seq: 1, entries: [userEntry('u9', 1)], meta: Buffer.from('m0') }); // scripts loaded
  const resumed = fileRedis.server.pauseFor(1000);
  await assert.rejects(
    store.commit(task, { epoch, seq: 2, entries: [userEntry('u0', 1)], meta: Buffer.from('m') }),
    (e: Error & { retriable?: boolean }) => /timed out/.test(e.message) && e.retriable === true,
  );
  await resumed;
  // It ran late; the retry (next seq) is applied over it, its entry skipped as stale.
  const r = await store.commit(task, {
    epoch,
    seq: 3,
    entries: [userEntry('u0', 1)],
    meta: Buffer.from('m2'),
  });
  assert.deepEqual(r, { written: 0, skippedStale: 1, duplicate: false });
  assert.equal(await fileRedis.raw.hget(taskKey('frozen', task), 'meta'), 'm2');
});
