// How the Redis checkpoint store sends its writes, against a private redis-server: entries packed
// in one argument land byte for byte as separate arguments did; writes of many tasks wait for each
// other in the client, so none times out behind the others; a commit that outlasts the command
// timeout but runs is confirmed, not failed and re-sent. Timeouts are sized from a measured commit
// and Redis is resumed on events, not after fixed sleeps, so a loaded machine changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createMetrics, type Metrics } from '../../../core/metrics.js';
import { useFileRedis } from '../../support/redis.js';
import { RedisCheckpointStore } from '../../../state/redis-checkpoint.js';
import { connectStateRedis } from '../../../state/redis-options.js';
import { stateKey, taskKey } from '../../../state/keys.js';
import type { CheckpointEntry, TaskId } from '../../../state/store.js';

const fileRedis = useFileRedis();

async function storeWith(
  appId: string,
  commandTimeoutMs: number,
  opts: { maxEntriesPerCall?: number; maxWritesInFlight?: number; metrics?: Metrics } = {},
): Promise<RedisCheckpointStore> {
  const redis = await connectStateRedis(fileRedis.server.url, { commandTimeoutMs, reconnectMaxMs: 100 });
  fileRedis.track(redis);
  return new RedisCheckpointStore({ redis, appId, ...opts });
}

/** Commands the store sent so far (thermostat_redis_commands_total). */
const commandsSent = async (m: Metrics): Promise<number> =>
  (await m.redisCommands.get()).values[0]?.value ?? 0;

/** Resolves once the store has sent `n` commands: polled, as a test would scrape the metric. */
async function sent(m: Metrics, n: number): Promise<void> {
  for (
    const end = Date.now() + 30_000;
    (await commandsSent(m)) < n;
    await new Promise((r) => setTimeout(r, 5))
  )
    assert.ok(Date.now() < end, `the store sent ${await commandsSent(m)} of ${n} commands in 30 s`);
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
  // 12 tasks x 5000 user-sized entries. The command timeout is sized from one such commit
  // measured here (x4, at least 300 ms): well above each commit, yet the 12 sent at once would
  // queue in Redis for about 3 timeouts, so the last ones would time out without the write slots.
  const entries = Array.from({ length: 5000 }, (_, k) => userEntry(`u${k}`, 1));
  const probe = await storeWith('many-probe', 30_000);
  let single = 0;
  for (let p = 0; p < 2; p++) {
    const t: TaskId = { stage: 'user', partition: p };
    const { epoch } = await probe.acquire(t); // scripts loaded by the first round
    const started = performance.now();
    await probe.commit(t, { epoch, seq: 1, entries, meta: Buffer.from('p') });
    single = Math.max(single, performance.now() - started);
  }
  const timeoutMs = Math.max(300, Math.ceil(4 * single));
  assert.ok(12 * single > 2 * timeoutMs, `12 commits of ${single.toFixed(0)} ms outlast ${timeoutMs} ms`);

  const store = await storeWith('many', timeoutMs);
  const tasks: TaskId[] = Array.from({ length: 12 }, (_, p) => ({ stage: 'user', partition: p }));
  const epochs = await Promise.all(tasks.map((t) => store.acquire(t)));
  // Scripts loaded first: this test is about Redis time only.
  const warm: TaskId = { stage: 'user', partition: 99 };
  await store.commit(warm, {
    epoch: (await store.acquire(warm)).epoch,
    seq: 1,
    entries: [],
    meta: Buffer.from('w'),
  });
  const results = await Promise.all(
    tasks.map((t, i) =>
      store.commit(t, { epoch: epochs[i].epoch, seq: 1, entries, meta: Buffer.from(`m${i}`) }),
    ),
  );
  for (const r of results) assert.deepEqual(r, { written: 5000, skippedStale: 0, duplicate: false });
  for (const t of tasks) assert.equal(await fileRedis.raw.hget(taskKey('many', t), 'seq'), '1');
});

test('a commit that outlasts the command timeout but runs is confirmed, not failed', async () => {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const store = await storeWith('late', 1000, { metrics });
  const task: TaskId = { stage: 'user', partition: 3 };
  const { epoch } = await store.acquire(task);
  await store.commit(task, { epoch, seq: 1, entries: [userEntry('u0', 1)], meta: Buffer.from('m0') }); // scripts loaded
  const entries = Array.from({ length: 50 }, (_, k) => userEntry(`u${k}`, 5));
  // Redis frozen: the commit times out, then the probe goes out behind it (one more command).
  // Resumed only then, Redis runs the commit and answers the probe: the commit is confirmed.
  const before = await commandsSent(metrics);
  fileRedis.server.pause();
  let r;
  try {
    const commit = store.commit(task, { epoch, seq: 2, entries, meta: Buffer.from('m1') });
    await sent(metrics, before + 2);
    fileRedis.server.resume();
    r = await commit;
  } finally {
    fileRedis.server.resume();
  }
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
  // Frozen until both the commit and its probe timed out.
  fileRedis.server.pause();
  try {
    await assert.rejects(
      store.commit(task, { epoch, seq: 2, entries: [userEntry('u0', 1)], meta: Buffer.from('m') }),
      (e: Error & { retriable?: boolean }) => /timed out/.test(e.message) && e.retriable === true,
    );
  } finally {
    fileRedis.server.resume();
  }
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
