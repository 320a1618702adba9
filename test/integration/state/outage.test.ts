// Redis outages under write-behind: restart mid-run and a paused (SIGSTOP) server. Processing
// continues from the local cache, checkpoints queue (bounded, coalesced per key), health reports
// degraded, and when Redis is back every queued checkpoint lands with the latest versions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { useFileRedis } from '../../support/redis.js';
import { RedisCheckpointStore } from '../../../state/redis-checkpoint.js';
import { connectStateRedis } from '../../../state/redis-options.js';
import { WriteBehind } from '../../../state/write-behind.js';
import { VersionedCache } from '../../../state/versioned-cache.js';
import { jsonCodec } from '../../../state/codecs.js';
import { stateKey, taskKey } from '../../../state/keys.js';
import { createMetrics } from '../../../core/metrics.js';
import { systemClock } from '../../../core/clock.js';
import { FencedError } from '../../../core/errors.js';
import { fnv1a32 } from '../../../core/hash.js';
import type { TaskId } from '../../../state/store.js';

/** Pause length for the "Redis paused for 30 s" scenario; short here, a parameter for soak runs. */
const PAUSE_MS = Number(process.env.THERMOSTAT_TEST_REDIS_PAUSE_MS ?? 1500);
const KEYS = 200;
const task: TaskId = { stage: 'user', partition: 0 };

const fileRedis = useFileRedis();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(10))
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

interface Counter {
  n: number;
}

/** A miniature stage: batches of events update counters keyed by user; version = source offset. */
async function stage(appId: string, maxQueuedEntries: number) {
  const redis = await connectStateRedis(fileRedis.server.url, {
    commandTimeoutMs: 300,
    reconnectBaseMs: 20,
    reconnectMaxMs: 100,
  });
  fileRedis.track(redis);
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const store = new RedisCheckpointStore({ redis, appId, metrics });
  const durable: number[] = [];
  const wb = new WriteBehind({
    store,
    maxQueuedEntries,
    clock: systemClock,
    metrics,
    backoff: { initialMs: 20, maxMs: 100 },
    onDurable: (_t, o) => durable.push(Number(o[0].offset)),
  });
  redis.on('ready', () => wb.kick());
  const { meta } = await wb.acquire(task);
  assert.equal(meta, null);
  const cache = new VersionedCache<Counter>({
    name: 'user',
    codec: jsonCodec<Counter>(),
    maxEntries: 1000,
    loader: (k) => store.load(task, 'user', k),
  });
  cache.init();
  const truth = new Map<string, { n: number; version: number }>();
  let offset = 0;
  const keyOf = (o: number) => `u${fnv1a32(String(o)) % KEYS}`;
  /** Processes `n` events in batches of 100, handing a checkpoint over after each batch. */
  async function run(n: number): Promise<void> {
    for (let done = 0; done < n; done += 100) {
      const batch = Array.from({ length: 100 }, (_, i) => offset + i);
      await cache.ensureLoaded(batch.map(keyOf));
      for (const o of batch) {
        const k = keyOf(o);
        const next = { n: (cache.get(k)?.n ?? 0) + 1 };
        cache.put(k, next, o);
        truth.set(k, { n: next.n, version: o });
      }
      offset += 100;
      wb.checkpoint(task, {
        stores: [cache],
        meta: Buffer.from(String(offset)),
        offsets: [{ topic: 'user-interactions', partition: 0, offset: String(offset) }],
      });
    }
  }
  /** Redis holds exactly the local truth and the last offset. */
  async function assertRedisEqualsTruth(): Promise<void> {
    assert.equal(await fileRedis.raw.hget(taskKey(appId, task), 'meta'), String(offset));
    for (const [k, t] of truth) {
      assert.deepEqual(
        await fileRedis.raw.hgetall(stateKey(appId, task, 'user', k)),
        { version: String(t.version), epoch: '1', v: JSON.stringify({ n: t.n }) },
        k,
      );
    }
  }
  return {
    redis,
    metrics,
    store,
    wb,
    cache,
    truth,
    durable,
    run,
    assertRedisEqualsTruth,
    offset: () => offset,
  };
}

test('Redis restarted mid-run: processing goes on, queue is bounded with backpressure, nothing is lost', async () => {
  const s = await stage('restart', 150);
  await s.cache.ensureLoaded(Array.from({ length: KEYS }, (_, i) => `u${i}`)); // all resident
  await s.run(1000);
  await s.wb.flush(task);
  assert.equal(s.durable.at(-1), 1000);
  assert.deepEqual(s.wb.health(), { ready: true, degraded: false, reason: 'ok' });

  await fileRedis.server.stop();
  await s.run(1000); // no Redis: runs from the local cache
  await waitFor(() => s.wb.health().degraded, 'degraded');
  // Once a failed batch is back in the queue (nothing in flight), the queue holds each key once.
  await waitFor(() => s.wb.stats().failures > 0 && s.wb.stats().inflight === 0, 'a failed commit');
  const h = s.wb.health();
  assert.equal(h.ready, false);
  assert.match(h.reason, /unreachable|failing/);
  assert.equal(s.durable.at(-1), 1000, 'no offset reported durable while Redis is down');
  // Ten checkpoints queued, but coalesced: at most one entry per distinct key.
  assert.ok(s.wb.queuedEntries() <= KEYS, `queued ${s.wb.queuedEntries()}`);
  assert.equal(s.wb.queuedEntries(), s.truth.size);
  assert.equal(s.wb.backpressure(), true); // 200 distinct dirty keys >= maxQueuedEntries 150
  assert.equal((await s.metrics.degraded.get()).values[0].value, 1);

  await fileRedis.server.start();
  await s.wb.flush(task);
  assert.equal(s.durable.at(-1), 2000);
  assert.deepEqual(s.wb.health(), { ready: true, degraded: false, reason: 'ok' });
  assert.equal(s.wb.backpressure(), false);
  assert.ok(
    (await s.metrics.checkpoints.get()).values.some((v) => v.labels.outcome === 'failed' && v.value > 0),
  );
  await s.assertRedisEqualsTruth();

  // A new owner restores exactly this state; the old instance is now a fenced zombie.
  const store2 = new RedisCheckpointStore({ redis: fileRedis.raw, appId: 'restart' });
  const again = await store2.acquire(task);
  assert.equal(again.meta?.toString(), '2000');
  const restored = await store2.load(task, 'user', [...s.truth.keys()]);
  for (const [k, t] of s.truth) assert.equal(restored.get(k)?.version, t.version);
  await s.run(100);
  await assert.rejects(s.wb.flush(task), FencedError);
  assert.equal((await s.metrics.fencedWrites.get()).values[0].value, 1);
  assert.equal(await fileRedis.raw.hget(taskKey('restart', task), 'meta'), '2000');
});

test(`Redis paused (SIGSTOP ${PAUSE_MS} ms): commands time out, state is served locally, all lands after`, async () => {
  await fileRedis.server.start(); // no-op unless an earlier test left it stopped
  const s = await stage('pause', 1_000_000);
  await s.cache.ensureLoaded(Array.from({ length: KEYS }, (_, i) => `u${i}`));
  await s.run(500);
  await s.wb.flush(task);
  const resumed = fileRedis.server.pauseFor(PAUSE_MS);
  await s.run(500); // completes while Redis is frozen: no Redis on the hot path
  await waitFor(() => s.wb.health().degraded, 'degraded (command timeout)', PAUSE_MS + 3000);
  assert.equal(s.durable.at(-1), 500);
  await s.run(500);
  await resumed;
  await s.wb.flush(task);
  assert.equal(s.durable.at(-1), 1500);
  assert.deepEqual(s.wb.health(), { ready: true, degraded: false, reason: 'ok' });
  await s.assertRedisEqualsTruth(); // timed-out commits that ran late did not roll anything back
});
