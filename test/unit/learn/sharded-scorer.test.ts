// The allocation scorer spread over worker threads: the same scores as the in-thread
// scorer, one weights version per batch across every thread, failures that fail the call (never
// hang) and a pool that restarts, and workers that are all gone after close.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { Registry } from 'prom-client';
import { ALLOCATION_FEATURE_COUNT as F } from '../../../agents/scorer.js';
import { createMetrics } from '../../../core/metrics.js';
import { Rng } from '../../../core/rng.js';
import {
  ALLOCATION_MODEL_NAME,
  LearnedAllocationScorer,
  ModelHandle,
  SCORE_CHUNK_ROWS,
  allocationNet,
  initAllocationWeights,
  scoreBatch,
  scoreLoaded,
} from '../../../learn/allocation-model.js';
import { AllocScorerPool, ScorerPoolError } from '../../../learn/alloc-scorer-pool.js';
import type { PoolBackend } from '../../../learn/alloc-scorer-protocol.js';
import { loadCpuBackend, loadWasmBackend, selectBackend } from '../../../learn/backend.js';
import { learnConfig } from '../../support/config.js';
import { createJobScorer } from '../../../learn/job-scorer.js';
import { InMemoryModelStore, saveWeights } from '../../../learn/model-store.js';
import { makeWeights, type WeightSet } from '../../../learn/network.js';
import { ShardedAllocationScorer } from '../../../learn/sharded-scorer.js';
import { randomRows } from './helpers.js';

/** Every worker any test started, with whether it has exited. */
const started: { worker: Worker; exited: boolean }[] = [];
const track = (entry: string | URL, options: WorkerOptions): Worker => {
  const worker = new Worker(entry, options);
  const t = { worker, exited: false };
  worker.once('exit', () => (t.exited = true));
  started.push(t);
  return worker;
};

before(async () => {
  await selectBackend({ requested: 'wasm' });
});

after(() => {
  // Clean shutdown: every thread any pool started has exited (else this process would not exit).
  assert.ok(started.length > 0);
  assert.deepEqual(
    started.filter((t) => !t.exited).map((t) => t.worker.threadId),
    [],
  );
});

/** Seeded weights with non-zero biases, as version `seq`. */
function weights(seed: number, seq: number): WeightSet {
  const w = initAllocationWeights(seed);
  const rng = new Rng(seed + 100);
  const arrays = w.arrays.map((a) => ({
    ...a,
    values: a.name.includes('/b') ? Float32Array.from(a.values, () => rng.next() - 0.5) : a.values,
  }));
  return makeWeights(w, seq, arrays);
}

/**
 * The in-thread scores for these weights: on wasm the whole batch as ONE tfjs graph call (no
 * chunks), on cpu the pure-JS forward pass the in-thread scorer runs there.
 */
function reference(w: WeightSet, x: Float32Array, rows: number): Float32Array {
  const h = new ModelHandle(allocationNet, w);
  const out =
    tf.getBackend() === 'wasm'
      ? scoreBatch(allocationNet, h.current.params, x, rows)
      : new LearnedAllocationScorer(h).score(x, rows);
  h.dispose();
  return out;
}

/** Index of the first differing score (bit for bit), or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

for (const backend of ['wasm', 'cpu'] as PoolBackend[]) {
  test(`${backend}: sharded scores equal the in-thread scorer bit for bit, in row order`, async () => {
    await (backend === 'wasm' ? loadWasmBackend() : loadCpuBackend());
    const w = weights(1, 1);
    const pool = await AllocScorerPool.create({ workers: 2, backend, spawn: track });
    try {
      const h = new ModelHandle(allocationNet, w);
      const local = new LearnedAllocationScorer(h);
      // Uneven sizes: shards of different lengths, a last shard shorter than the alignment, fewer
      // rows than threads, and a batch that grows the shared buffers after a smaller one.
      for (const rows of [1, 5, 37, 10_007, 3, 40_000]) {
        const x = randomRows(rows, rows, F);
        const want = reference(w, x, rows);
        for (const withLocal of [false, true]) {
          const got = pool.score(w, x, rows, withLocal ? (f, n) => local.score(f, n) : undefined);
          const at = firstDifference(got, want);
          assert.equal(at, -1, `${rows} rows, local ${withLocal}: row ${at}: ${got[at]} vs ${want[at]}`);
        }
      }
      assert.equal(pool.score(w, new Float32Array(0), 0).length, 0);
      h.dispose();
    } finally {
      await pool.close();
    }
    assert.equal(pool.liveWorkers, 0);
  });
}

test('wasm: in-thread scoring of a batch above SCORE_CHUNK_ROWS (chunked) equals one graph call', async () => {
  await loadWasmBackend();
  const w = weights(2, 1);
  const rows = 2 * SCORE_CHUNK_ROWS + 1001;
  const x = randomRows(9, rows, F);
  const h = new ModelHandle(allocationNet, w);
  const got = scoreLoaded(allocationNet, h.current, x, rows);
  h.dispose();
  assert.equal(firstDifference(got, reference(w, x, rows)), -1);
});

test('a weight swap reaches every thread: each batch is scored entirely by the version it reports', async () => {
  await loadWasmBackend();
  const rows = 9_000;
  const x = randomRows(7, rows, F);
  const versions = [1, 2, 3, 4, 5].map((seq) => weights(seq % 2 === 0 ? 20 : 30 + seq, seq));
  const want = new Map(versions.map((w) => [`${ALLOCATION_MODEL_NAME}@${w.seq}`, reference(w, x, rows)]));
  const handle = new ModelHandle(allocationNet, versions[0]);
  const scorer = await ShardedAllocationScorer.create(handle, {
    threads: 3,
    backend: 'wasm',
    minRows: 1,
    spawn: track,
  });
  try {
    let previous: Float32Array | undefined;
    for (const next of [...versions.slice(1), undefined]) {
      // Swap, then score at once: the weights message and the job leave back to back.
      const got = scorer.score(x, rows);
      const expected = want.get(scorer.modelVersion)!;
      assert.equal(scorer.modelVersion, handle.version);
      assert.equal(firstDifference(got, expected), -1, `batch of ${scorer.modelVersion}`);
      if (previous) assert.notEqual(firstDifference(got, previous), -1, 'versions score differently');
      previous = got;
      if (next) assert.ok(handle.swap(next));
    }
    assert.equal(scorer.shardedBatches, versions.length);
  } finally {
    await scorer.close();
    handle.dispose();
  }
  // The pool itself accepts any order of weight sets, not only newer ones.
  const pool = await AllocScorerPool.create({ workers: 2, backend: 'wasm', spawn: track });
  try {
    for (const w of [versions[3], versions[1], versions[3], versions[0]]) {
      const got = pool.score(w, x, rows);
      assert.equal(firstDifference(got, want.get(`${ALLOCATION_MODEL_NAME}@${w.seq}`)!), -1);
    }
  } finally {
    await pool.close();
  }
});

test('small batches stay in this thread; large ones are sharded', async () => {
  await loadWasmBackend();
  const handle = new ModelHandle(allocationNet, weights(3, 1));
  const scorer = await ShardedAllocationScorer.create(handle, { threads: 2, backend: 'wasm', spawn: track });
  try {
    scorer.score(randomRows(1, 100, F), 100);
    scorer.score(randomRows(1, 4095, F), 4095);
    assert.equal(scorer.shardedBatches, 0);
    scorer.score(randomRows(1, 4096, F), 4096);
    assert.equal(scorer.shardedBatches, 1);
  } finally {
    await scorer.close();
    handle.dispose();
  }
});

test('a worker that exits fails the call with a clear error; the scorer scores in-thread and restarts the pool', async () => {
  await loadWasmBackend();
  const w = weights(4, 1);
  const rows = 8_000;
  const x = randomRows(2, rows, F);
  const want = reference(w, x, rows);
  const workers: Worker[] = [];
  const spawn = (e: string | URL, o: WorkerOptions) => {
    const wk = track(e, o);
    workers.push(wk);
    return wk;
  };
  const pool = await AllocScorerPool.create({ workers: 2, backend: 'wasm', spawn });
  await workers[1].terminate();
  await new Promise((r) => setImmediate(r)); // the 'exit' event reaches the pool
  assert.throws(
    () => pool.score(w, x, rows),
    (e: unknown) => e instanceof ScorerPoolError && /scoring thread 1 exited/.test(e.message),
  );
  await pool.close();
  assert.equal(pool.liveWorkers, 0, 'a failed pool stops its other threads');

  const warnings: Record<string, unknown>[] = [];
  const logger = { warn: (o: Record<string, unknown>) => warnings.push(o), info() {} } as never;
  workers.length = 0;
  const handle = new ModelHandle(allocationNet, w);
  const scorer = await ShardedAllocationScorer.create(handle, {
    threads: 2,
    backend: 'wasm',
    minRows: 1,
    spawn,
    logger,
  });
  try {
    await workers[0].terminate();
    await new Promise((r) => setImmediate(r));
    assert.equal(firstDifference(scorer.score(x, rows), want), -1, 'scored in-thread instead');
    assert.equal(scorer.shardedBatches, 0);
    assert.equal(warnings[0]?.event, 'scorer.pool_failed');
    await scorer.settled();
    assert.equal(scorer.sharding, true, 'a new pool');
    assert.equal(firstDifference(scorer.score(x, rows), want), -1);
    assert.equal(scorer.shardedBatches, 1);
  } finally {
    await scorer.close();
    handle.dispose();
  }
});

// Stand-ins for a worker, in plain JS: one that starts and then never answers a job, one that
// reports a failed job the way alloc-scorer-worker.ts does, one that never starts.
const STALLS = `const { parentPort } = require('node:worker_threads');
parentPort.postMessage({ type: 'ready', backend: 'none' });
parentPort.on('message', () => {});`;
const FAILS = `const { parentPort, workerData } = require('node:worker_threads');
const control = new Int32Array(workerData.control);
parentPort.postMessage({ type: 'ready', backend: 'none' });
parentPort.on('message', (m) => {
  if (m.type !== 'job') return;
  workerData.errors.postMessage({ gen: m.gen, error: 'out of wasm memory' });
  Atomics.store(control, 2 + workerData.slot * 2, 1);
  Atomics.store(control, 1 + workerData.slot * 2, m.gen);
  Atomics.notify(control, 1 + workerData.slot * 2);
});`;
const NEVER_READY = `require('node:worker_threads').parentPort.on('message', () => {});`;
const standIn = (code: string) => (_e: string | URL, o: WorkerOptions) => track(code, { ...o, eval: true });

test('a stalled worker times the call out, a failing one reports its error: never a hang', async () => {
  const w = weights(5, 1);
  const x = randomRows(3, 5_000, F);
  const stalled = await AllocScorerPool.create({
    workers: 1,
    backend: 'wasm',
    spawn: standIn(STALLS),
    timeoutMs: () => 200,
  });
  const t0 = performance.now();
  assert.throws(
    () => stalled.score(w, x, 5_000),
    /scoring thread 0 did not finish its part of the batch within 200 ms/,
  );
  const waited = performance.now() - t0;
  assert.ok(waited >= 150 && waited < 5_000, `waited ${waited} ms`);
  assert.throws(() => stalled.score(w, x, 5_000), ScorerPoolError, 'a failed pool stays failed');
  await stalled.close();

  const failing = await AllocScorerPool.create({ workers: 1, backend: 'wasm', spawn: standIn(FAILS) });
  assert.throws(
    () => failing.score(w, x, 5_000),
    /scoring thread 0 failed on its part of the batch: out of wasm memory/,
  );
  await failing.close();

  await assert.rejects(
    AllocScorerPool.create({ workers: 2, backend: 'wasm', spawn: standIn(NEVER_READY), startTimeoutMs: 200 }),
    /scoring threads did not start within 200 ms/,
  );
});

test('job scorer: learn.scorerWorkers (THERMOSTAT_SCORER_WORKERS) picks the threads; 1 is in-thread', async () => {
  await loadWasmBackend();
  assert.equal(learnConfig({ THERMOSTAT_SCORER_WORKERS: '3' }).scorerWorkers, 3);
  assert.equal(learnConfig({}).scorerWorkers, undefined);
  assert.throws(
    () => learnConfig({ THERMOSTAT_SCORER_WORKERS: '0' }),
    /learn\.scorerWorkers \(env THERMOSTAT_SCORER_WORKERS\)/,
  );
  const store = new InMemoryModelStore();
  await saveWeights(store, weights(6, 2), 2);
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const config = (n: number) => learnConfig({}, { backend: 'wasm', scorer: 'learned', scorerWorkers: n });
  const one = await createJobScorer({ config: config(1), store, metrics });
  assert.equal(one.scoringThreads, 1);
  assert.ok(!(one.scorer() instanceof ShardedAllocationScorer));
  await one.dispose();
  const three = await createJobScorer({ config: config(3), store, metrics });
  assert.equal(three.scoringThreads, 3);
  const s = three.scorer();
  assert.ok(s instanceof ShardedAllocationScorer);
  const x = randomRows(4, 6_000, F);
  assert.equal(firstDifference(s.score(x, 6_000), reference(weights(6, 2), x, 6_000)), -1);
  assert.equal(s.modelVersion, 'allocation@2');
  await three.dispose();
  assert.equal(s.sharding, false);
});
