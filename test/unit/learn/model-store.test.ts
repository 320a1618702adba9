import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { ALLOCATION_FEATURE_COUNT as F } from '../../../agents/scorer.js';
import { createMetrics } from '../../../core/metrics.js';
import { Rng } from '../../../core/rng.js';
import { selectBackend } from '../../../learn/backend.js';
import {
  LearnedAllocationScorer,
  ModelHandle,
  allocationNet,
  initAllocationWeights,
} from '../../../learn/allocation-model.js';
import { ExperienceBuffer } from '../../../learn/experience.js';
import {
  InMemoryModelStore,
  RedisModelStore,
  loadLatestWeights,
  saveWeights,
  type ModelStore,
} from '../../../learn/model-store.js';
import { makeWeights, sampleBernoulli, serializeWeights } from '../../../learn/network.js';
import { Trainer } from '../../../learn/trainer.js';
import { randomRows } from './helpers.js';

before(async () => {
  await selectBackend({ requested: 'cpu' });
});

/** Records `n` toy decisions (approve pays iff x0 > 0.5) with outcomes, settled at once. */
function feed(buffer: ExperienceBuffer, handle: ModelHandle, n: number, seed: number): void {
  const rng = new Rng(seed);
  const x = randomRows(seed, n, F);
  const scores = new LearnedAllocationScorer(handle).score(x, n);
  for (let r = 0; r < n; r++) {
    const { action, logProb } = sampleBernoulli(scores[r], rng.next());
    const id = `s${seed}-${r}`;
    buffer.record({
      allocationId: id,
      obs: x.subarray(r * F, (r + 1) * F),
      action,
      logProb,
      weights: { user_satisfaction: 1, platform_revenue: 0, long_term: 0 },
      cost: 0,
      validUntil: 0,
    });
    if (action === 1)
      for (let i = 0; i < 4; i++)
        buffer.observe({
          allocationId: id,
          click: x[r * F] > 0.5,
          completion: x[r * F] > 0.5 ? 1 : 0,
          shared: false,
        });
  }
  buffer.advance(Number.MAX_SAFE_INTEGER);
}

/** Train → checkpoint → "restart" (fresh handle from the store) → same version, same outputs. */
async function restartRoundTrip(store: ModelStore) {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const handle = new ModelHandle(allocationNet, initAllocationWeights(1));
  const buffer = new ExperienceBuffer();
  const trainer = new Trainer(
    { handle, buffer, store, metrics, now: () => 1_700_000_000_000 },
    { minBatch: 128, ppo: { epochs: 2 } },
  );
  feed(buffer, handle, 256, 1);
  const r1 = await trainer.trainNow();
  const w1 = handle.current.weights;
  feed(buffer, handle, 256, 2);
  const r2 = await trainer.trainNow();
  assert.equal(r1?.version, 'allocation@1');
  assert.equal(r2?.version, 'allocation@2');
  assert.equal(r2?.checkpointed, true);
  assert.equal(handle.version, 'allocation@2');
  assert.equal((await metrics.modelVersion.get()).values[0].value, 2);
  assert.equal((await metrics.trainingSteps.get()).values[0].value, r1!.stats.steps + r2!.stats.steps);

  const x = randomRows(99, 50, F);
  const before = new LearnedAllocationScorer(handle).score(x, 50);
  // restart: nothing but the store survives
  const restored = await loadLatestWeights(store, allocationNet, 'allocation');
  assert.ok(restored);
  const handle2 = new ModelHandle(allocationNet, restored);
  const scorer2 = new LearnedAllocationScorer(handle2);
  const afterRestart = scorer2.score(x, 50);
  assert.equal(scorer2.modelVersion, 'allocation@2');
  assert.deepEqual(afterRestart, before);
  assert.deepEqual(serializeWeights(restored), serializeWeights(handle.current.weights));
  // an exact earlier version is still kept (for a replay from an older allocator checkpoint)
  const v1 = await loadLatestWeights(store, allocationNet, 'allocation', 1);
  assert.equal(v1?.seq, 1);
  assert.deepEqual(serializeWeights(v1!), serializeWeights(w1));
  // an older version never overwrites a newer one
  assert.equal(await saveWeights(store, makeWeights(restored, 1, restored.arrays), 0), false);
  assert.equal((await store.load('allocation'))?.seq, 2);
  trainer.dispose();
  handle.dispose();
  handle2.dispose();
}

test('weights survive a restart through the in-memory model store (same version, same outputs)', async () => {
  const store = new InMemoryModelStore();
  assert.equal(await loadLatestWeights(store, allocationNet, 'allocation'), undefined);
  await restartRoundTrip(store);
});

let redis: Redis | undefined;
after(async () => {
  redis?.disconnect();
});

test('weights survive a restart through real Redis (key {<appId>:model:<name>}, write-if-newer)', async (t) => {
  const r = new Redis('redis://127.0.0.1:6379', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 500,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    r.disconnect();
    t.skip(`no Redis answers at 127.0.0.1:6379 (${(e as Error).message}); the integration setup starts one`);
    return;
  }
  redis = r;
  const appId = `thermostat-learn-test-${process.pid}`;
  const store = new RedisModelStore(r, appId);
  assert.equal(store.key('allocation'), `{${appId}:model:allocation}`);
  try {
    await restartRoundTrip(store);
    const h = await r.hgetall(`{${appId}:model:allocation}`);
    assert.equal(h.seq, '2');
    assert.equal(h.version, 'allocation@2');
    assert.equal(h.created_at, '1700000000000');
    assert.equal(await r.hget(`{${appId}:model:allocation}:v:1`, 'version'), 'allocation@1');
    // the window keeps the last N versions only
    const small = new RedisModelStore(r, `${appId}-w`, 2);
    for (const seq of [1, 2, 3]) assert.equal(await small.save('m', seq, Uint8Array.of(seq), seq), true);
    assert.equal(await small.load('m', 1), undefined);
    assert.deepEqual(Array.from((await small.load('m', 2))!.blob), [2]);
    assert.equal((await small.load('m'))?.seq, 3);
  } finally {
    const keys = [...(await r.keys(`{${appId}:model:*`)), ...(await r.keys(`{${appId}-w:model:*`))];
    if (keys.length) await r.del(...keys);
  }
});

test('a trainer restarted from a checkpoint produces exactly the version an uninterrupted one would', async () => {
  const cfg = { minBatch: 64, ppo: { epochs: 2 } };
  // uninterrupted: two updates in one process
  const h = new ModelHandle(allocationNet, initAllocationWeights(1));
  const b = new ExperienceBuffer();
  const t = new Trainer({ handle: h, buffer: b }, cfg);
  feed(b, h, 192, 21);
  await t.trainNow();
  feed(b, h, 192, 22);
  await t.trainNow();
  // interrupted after the first update: only the store survives
  const store = new InMemoryModelStore();
  const h1 = new ModelHandle(allocationNet, initAllocationWeights(1));
  const b1 = new ExperienceBuffer();
  const t1 = new Trainer({ handle: h1, buffer: b1, store }, cfg);
  feed(b1, h1, 192, 21);
  await t1.trainNow();
  t1.dispose();
  h1.dispose();
  const h2 = new ModelHandle(allocationNet, (await loadLatestWeights(store, allocationNet, 'allocation'))!);
  const b2 = new ExperienceBuffer();
  const t2 = new Trainer({ handle: h2, buffer: b2, store }, cfg);
  feed(b2, h2, 192, 22);
  await t2.trainNow();
  assert.equal(h2.version, 'allocation@2');
  assert.deepEqual(serializeWeights(h2.current.weights), serializeWeights(h.current.weights));
  for (const x of [t, t2]) x.dispose();
  for (const x of [h, h2]) x.dispose();
});

test('the in-memory store keeps a window of versions and refuses stale writes', async () => {
  const store = new InMemoryModelStore(2);
  for (const seq of [1, 2, 3]) assert.equal(await store.save('m', seq, Uint8Array.of(seq), seq), true);
  assert.equal(await store.save('m', 3, Uint8Array.of(9), 9), false);
  assert.equal(await store.load('m', 1), undefined);
  assert.deepEqual(Array.from((await store.load('m', 2))!.blob), [2]);
  assert.deepEqual(Array.from((await store.load('m'))!.blob), [3]);
  assert.equal(await store.load('other'), undefined);
});

test('training runs off the hot path: scoring interleaves with an update and sees one version per batch', async () => {
  const handle = new ModelHandle(allocationNet, initAllocationWeights(3));
  const buffer = new ExperienceBuffer();
  const trainer = new Trainer({ handle, buffer }, { minBatch: 256, stepsPerTurn: 1, ppo: { epochs: 2 } });
  const scorer = new LearnedAllocationScorer(handle);
  assert.equal(await trainer.maybeTrain(), undefined, 'not enough experiences yet');
  feed(buffer, handle, 256, 5);
  const x = randomRows(7, 20, F);
  const seen: string[] = [];
  let stop = false;
  const tick = (): void => {
    scorer.score(x, 20);
    seen.push(scorer.modelVersion);
    if (!stop) setImmediate(tick);
  };
  setImmediate(tick);
  const p = trainer.maybeTrain();
  assert.equal(trainer.training, true);
  assert.equal(trainer.maybeTrain(), p, 'a concurrent call joins the running update');
  const res = await p;
  stop = true;
  await new Promise((r) => setImmediate(r));
  assert.equal(res?.version, 'allocation@1');
  assert.ok(
    seen.filter((v) => v === 'allocation@0').length >= 4,
    `scored ${seen.length} batches during training`,
  );
  assert.equal(seen[seen.length - 1], 'allocation@1');
  trainer.dispose();
  handle.dispose();
});

test('disposing a trainer mid-update stops it cleanly: no new version, no leaked tensors', async () => {
  const tf = await import('@tensorflow/tfjs');
  const handle = new ModelHandle(allocationNet, initAllocationWeights(3));
  const buffer = new ExperienceBuffer();
  feed(buffer, handle, 256, 8);
  const before = tf.memory().numTensors;
  const trainer = new Trainer({ handle, buffer }, { minBatch: 256, stepsPerTurn: 1 });
  const p = trainer.maybeTrain();
  await new Promise((r) => setImmediate(r));
  trainer.dispose();
  assert.equal(await p, undefined);
  await new Promise((r) => setImmediate(r));
  assert.equal(handle.version, 'allocation@0');
  assert.equal(tf.memory().numTensors, before);
  assert.equal(await trainer.maybeTrain(), undefined);
  handle.dispose();
});

test('the learner follows weights swapped in from a newer checkpoint', async () => {
  const handle = new ModelHandle(allocationNet, initAllocationWeights(1));
  const trainer = new Trainer({ handle, buffer: new ExperienceBuffer() });
  const newer = makeWeights(initAllocationWeights(2), 10, initAllocationWeights(2).arrays);
  handle.swap(newer);
  assert.deepEqual(trainer.learner.exportWeights(10).arrays, newer.arrays);
  trainer.dispose();
  // a disposed trainer no longer listens: later swaps still work
  assert.equal(handle.swap(makeWeights(newer, 11, newer.arrays)), true);
  handle.dispose();
});

test('createLearning restores the latest checkpoint on restart and seeds when there is none', async () => {
  const { createLearning } = await import('../../../learn/index.js');
  const { learnConfig } = await import('../../support/config.js');
  const store = new InMemoryModelStore();
  const config = learnConfig({ THERMOSTAT_TF_BACKEND: 'cpu' }, { trainer: { minBatch: 64 } });
  const first = await createLearning({ config, store });
  assert.equal(first.backend.backend, 'cpu');
  assert.deepEqual([first.allocation.restoredFrom, first.explore.restoredFrom], ['seed', 'seed']);
  assert.equal(first.llm, undefined);
  feed(first.allocation.buffer, first.allocation.handle, 128, 11);
  const r = await first.allocation.trainer.maybeTrain();
  assert.equal(r?.version, 'allocation@1');
  const x = randomRows(3, 10, F);
  const s1 = first.allocation.scorer.score(x, 10);
  first.dispose();
  const second = await createLearning({ config, store });
  assert.equal(second.allocation.restoredFrom, 'store');
  assert.equal(second.explore.restoredFrom, 'seed');
  assert.deepEqual(second.allocation.scorer.score(x, 10), s1);
  assert.equal(second.allocation.scorer.modelVersion, 'allocation@1');
  second.dispose();
});

test('createLearning refuses webgpu (training reads tensors synchronously) naming the key', async () => {
  const { createLearning } = await import('../../../learn/index.js');
  const { learnConfig } = await import('../../support/config.js');
  const config = learnConfig({ THERMOSTAT_TF_BACKEND: 'webgpu' });
  await assert.rejects(
    createLearning({ config }),
    /learn\.backend \(env THERMOSTAT_TF_BACKEND\): webgpu serves the Kafka job's allocation scorer only/,
  );
});
