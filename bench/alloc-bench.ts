// Allocation-model benchmark: prints ONE JSON line.
//   npx tsx bench/alloc-bench.ts [--quick] [--backends=tensorflow,wasm,cpu,webgpu] [--webgpu-submit-batch=N]
// Per available backend: allocation scoring rows/s at batch 1k / 10k / 100k, explore-policy rows/s,
// PPO gradient-step time (minibatch 64 and 256); then tensor counts before/after a long run of
// scoring + training + swaps on the default (auto) backend. Speed is measured here, never asserted.
// `allocation_variants` compares, at the same batches, the tfjs graph (scoreBatch), the
// same layers as tfjs fused matMul + bias + activation, and the pure-JS forward pass
// (learn/fast-scorer.ts, what LearnedAllocationScorer runs on `cpu`), in rows per wall second and
// per CPU second of the process (steadier on a shared box; these paths are single-threaded).
// `allocation_pool` (wasm) scores batches of 10k / 100k / 1M rows in this thread, and
// sharded over worker threads (learn/alloc-scorer-pool.ts): 1 or 2 workers with this thread only
// waiting, and this thread + 1 worker (ShardedAllocationScorer, what the job runs with
// learn.scorerWorkers=2), in rows per wall second and per CPU second of the whole process (all
// threads). `--quick` measures this thread + 1 worker at 100k rows only. `alloc_best` is the
// fastest wasm configuration of all: bench/run.ts should report it as alloc_rows_per_s.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import {
  ALLOCATION_FEATURE_COUNT as F,
  BEHAVIOUR_SEQUENCE_LENGTH,
  BEHAVIOUR_STEP_FEATURE_COUNT,
  MIND_FEATURE_COUNT,
} from '../agents/scorer.js';
import { Rng } from '../core/rng.js';
import {
  LearnedAllocationScorer,
  ModelHandle,
  allocationNet,
  initAllocationWeights,
  scoreBatch,
} from '../learn/allocation-model.js';
import { AllocScorerPool } from '../learn/alloc-scorer-pool.js';
import { DEFAULT_LOADERS, selectBackend, type BackendName } from '../learn/backend.js';
import { jsScore, packMlp3 } from '../learn/fast-scorer.js';
import type { Params } from '../learn/network.js';
import { ExperienceBuffer } from '../learn/experience.js';
import { LearnedExplorePolicy, exploreNet, initExploreWeights } from '../learn/explore-model.js';
import { sampleBernoulli } from '../learn/network.js';
import { PpoLearner, type Experience } from '../learn/ppo.js';
import { Trainer } from '../learn/trainer.js';
import { ShardedAllocationScorer } from '../learn/sharded-scorer.js';
import { rows, timeIt } from './timing.js';
import { benchWebGpu } from './webgpu-bench.js';

const quick = process.argv.includes('--quick');
const only = process.argv
  .find((a) => a.startsWith('--backends='))
  ?.slice('--backends='.length)
  .split(',');

/** Wall and CPU ms per call (CPU: this process, all threads). */
function timeWallCpu(fn: () => void, minMs: number, minReps = 2): { wall: number; cpu: number } {
  fn();
  let reps = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (reps < minReps || performance.now() - t0 < minMs) {
    fn();
    reps++;
  }
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / reps, cpu: (c.user + c.system) / 1000 / reps };
}

/** The actor as tfjs fused matMul + bias + activation per layer (a variant, not used by the job). */
function fusedScore(p: Params, x: Float32Array, n: number): Float32Array {
  return tf.tidy(() => {
    const t = tf.tensor2d(x.subarray(0, n * F), [n, F], 'float32');
    const h1 = tf.fused.matMul({
      a: t,
      b: p['actor/w1'] as tf.Tensor2D,
      bias: p['actor/b1'],
      activation: 'relu',
    });
    const h2 = tf.fused.matMul({
      a: h1,
      b: p['actor/w2'] as tf.Tensor2D,
      bias: p['actor/b2'],
      activation: 'relu',
    });
    const z = tf.fused.matMul({
      a: h2,
      b: p['actor/w3'] as tf.Tensor2D,
      bias: p['actor/b3'],
      activation: 'sigmoid',
    });
    return z.dataSync() as Float32Array;
  });
}

function toyBatch(ppo: PpoLearner, n: number, seed: number): Experience[] {
  const x = rows(seed, n, F);
  const p = ppo.probabilities(x, n);
  const rng = new Rng(seed + 1);
  return Array.from({ length: n }, (_, r) => {
    const { action, logProb } = sampleBernoulli(p[r], rng.next());
    return {
      obs: x.slice(r * F, (r + 1) * F),
      action,
      logProb,
      reward: action ? (x[r * F] > 0.5 ? 1 : -1) : 0,
    };
  });
}

async function benchBackend(name: BackendName) {
  const loader =
    name === 'tensorflow'
      ? DEFAULT_LOADERS.gpu
      : name === 'wasm'
        ? DEFAULT_LOADERS.wasm
        : DEFAULT_LOADERS.cpu;
  try {
    await loader();
  } catch (e) {
    return { backend: name, available: false, reason: (e as Error).message.split('\n')[0] };
  }
  const minMs = quick ? 300 : 1500;
  const handle = new ModelHandle(allocationNet, initAllocationWeights(1));
  const scorer = new LearnedAllocationScorer(handle);
  const allocation_rows_per_s: Record<string, number> = {};
  const allocation_ms_per_batch: Record<string, number> = {};
  for (const n of [1_000, 10_000, 100_000]) {
    const x = rows(n, n, F);
    const ms = timeIt(() => scorer.score(x, n), minMs, n >= 100_000 ? 2 : 3);
    allocation_rows_per_s[String(n)] = Math.round((n / ms) * 1000);
    allocation_ms_per_batch[String(n)] = +ms.toFixed(3);
  }
  const packed = packMlp3(handle.current.weights);
  const variants: Record<string, (x: Float32Array, n: number) => Float32Array> = {
    tfjs_graph: (x, n) => scoreBatch(allocationNet, handle.current.params, x, n),
    tfjs_fused: (x, n) => fusedScore(handle.current.params, x, n),
    js: (x, n) => jsScore(packed, x, n),
  };
  const allocation_variants: Record<
    string,
    Record<string, { rows_per_s: number; rows_per_cpu_s: number }>
  > = {};
  for (const [v, f] of Object.entries(variants)) {
    allocation_variants[v] = {};
    // The pure-JS pass is ~10× slower than wasm: 100k rows only in full runs.
    for (const n of v === 'js' || name === 'cpu'
      ? quick
        ? [10_000]
        : [10_000, 100_000]
      : [10_000, 100_000]) {
      const x = rows(n, n, F);
      const t = timeWallCpu(() => f(x, n), minMs);
      allocation_variants[v][String(n)] = {
        rows_per_s: Math.round((n / t.wall) * 1000),
        rows_per_cpu_s: Math.round((n / t.cpu) * 1000),
      };
    }
  }
  // Sharded over worker threads: wasm only (the pure-JS cpu path would take minutes at 1M rows).
  const allocation_pool = name === 'wasm' ? await benchPool(handle, minMs) : undefined;
  const alloc_best = allocation_pool ? bestOf(allocation_rows_per_s, allocation_pool) : undefined;
  const eh = new ModelHandle(exploreNet, initExploreWeights(1));
  const policy = new LearnedExplorePolicy(eh);
  const explore_rows_per_s: Record<string, number> = {};
  for (const n of [1_000, 10_000]) {
    const mind = rows(1, n, MIND_FEATURE_COUNT);
    const beh = rows(2, n, BEHAVIOUR_SEQUENCE_LENGTH * BEHAVIOUR_STEP_FEATURE_COUNT);
    const ms = timeIt(() => policy.exploreProbabilities(mind, beh, n), minMs);
    explore_rows_per_s[String(n)] = Math.round((n / ms) * 1000);
  }
  const ppo_step_ms: Record<string, number> = {};
  for (const mb of [64, 256]) {
    const ppo = new PpoLearner(allocationNet, initAllocationWeights(1), { epochs: 1, minibatchSize: mb }, 1);
    const batch = toyBatch(ppo, mb * 8, 3);
    ppo.update(batch); // warm-up, Adam slots
    const reps = quick ? 2 : 5;
    const t0 = performance.now();
    let steps = 0;
    for (let i = 0; i < reps; i++) steps += ppo.update(batch).steps;
    ppo_step_ms[String(mb)] = +((performance.now() - t0) / steps).toFixed(3);
    ppo.dispose();
  }
  handle.dispose();
  eh.dispose();
  return {
    backend: name,
    available: true,
    allocation_rows_per_s,
    allocation_ms_per_batch,
    allocation_variants,
    allocation_pool,
    alloc_best,
    explore_rows_per_s,
    ppo_step_ms,
  };
}

interface PoolConfig {
  /** Worker threads (0: LearnedAllocationScorer in this thread, for comparison). */
  workers: number;
  /** Whether the calling thread scores a shard too (else it only waits). */
  mainShard: boolean;
}

/** Sharded wasm scoring: rows per wall second and per process CPU second, per config and batch. */
async function benchPool(handle: ModelHandle, minMs: number) {
  const cores = os.availableParallelism();
  const configs: Record<string, PoolConfig> = quick
    ? { main_plus_1: { workers: 1, mainShard: true } }
    : {
        in_thread: { workers: 0, mainShard: true },
        workers_1: { workers: 1, mainShard: false },
        workers_2: { workers: 2, mainShard: false },
        main_plus_1: { workers: 1, mainShard: true },
      };
  if (!quick && Math.min(cores, 4) > 2)
    configs[`main_plus_${Math.min(cores, 4) - 1}`] = { workers: Math.min(cores, 4) - 1, mainShard: true };
  const batches = quick ? [100_000] : [10_000, 100_000, 1_000_000];
  const out: Record<string, Record<string, { rows_per_s: number; rows_per_cpu_s: number }>> = {};
  for (const [name, c] of Object.entries(configs)) {
    out[name] = {};
    let score: (x: Float32Array, n: number) => Float32Array;
    let close: () => Promise<void>;
    if (c.workers === 0) {
      const s = new LearnedAllocationScorer(handle);
      score = (x, n) => s.score(x, n);
      close = async () => {};
    } else if (c.mainShard) {
      const s = await ShardedAllocationScorer.create(handle, {
        threads: c.workers + 1,
        backend: 'wasm',
        minRows: 0,
      });
      score = (x, n) => s.score(x, n);
      close = () => s.close();
    } else {
      const pool = await AllocScorerPool.create({ workers: c.workers, backend: 'wasm' });
      score = (x, n) => pool.score(handle.current.weights, x, n);
      close = () => pool.close();
    }
    try {
      for (const n of batches) {
        const x = rows(n, n, F);
        const t = timeWallCpu(() => score(x, n), minMs);
        out[name][String(n)] = {
          rows_per_s: Math.round((n / t.wall) * 1000),
          rows_per_cpu_s: Math.round((n / t.cpu) * 1000),
        };
      }
    } finally {
      await close();
    }
  }
  return out;
}

/** The fastest configuration: in-thread (allocation_rows_per_s) or one of the pool's. */
function bestOf(
  inThread: Record<string, number>,
  pool: Record<string, Record<string, { rows_per_s: number }>>,
) {
  let best = { rows_per_s: 0, config: 'in_thread', batch: 0 };
  for (const [batch, v] of Object.entries(inThread))
    if (v > best.rows_per_s) best = { rows_per_s: v, config: 'in_thread', batch: Number(batch) };
  for (const [config, byBatch] of Object.entries(pool))
    for (const [batch, v] of Object.entries(byBatch))
      if (v.rows_per_s > best.rows_per_s) best = { rows_per_s: v.rows_per_s, config, batch: Number(batch) };
  return best;
}

async function leakRun() {
  const sel = await selectBackend({ requested: 'auto' });
  const handle = new ModelHandle(allocationNet, initAllocationWeights(1));
  const scorer = new LearnedAllocationScorer(handle);
  const buffer = new ExperienceBuffer();
  const trainer = new Trainer({ handle, buffer }, { minBatch: 256, stepsPerTurn: 4, ppo: { epochs: 1 } });
  const x = rows(5, 200, F);
  const rng = new Rng(9);
  let updates = 0;
  let i = 0;
  const step = async (): Promise<void> => {
    const s = scorer.score(x, 200);
    if (i % 50 === 0) {
      for (let r = 0; r < 200; r += 8) {
        const { action, logProb } = sampleBernoulli(s[r], rng.next());
        buffer.record({
          allocationId: `${i}-${r}`,
          obs: x.subarray(r * F, (r + 1) * F),
          action,
          logProb,
          weights: { user_satisfaction: 0.4, platform_revenue: 0.3, long_term: 0.3 },
          cost: 10,
          validUntil: i,
        });
        if (action)
          buffer.observe({
            allocationId: `${i}-${r}`,
            click: x[r * F] > 0.5,
            completion: x[r * F],
            shared: false,
          });
      }
      buffer.advance(i);
      if (await trainer.maybeTrain()) updates++;
    }
    i++;
  };
  // Warm-up until the first update has run (it creates Adam's slot variables once).
  while (updates === 0) await step();
  const tensorsBefore = tf.memory().numTensors;
  const bytesBefore = tf.memory().numBytes;
  const calls = quick ? 2_000 : 20_000;
  const updatesBefore = updates;
  for (let k = 0; k < calls; k++) await step();
  updates -= updatesBefore;
  const tensorsAfterScoring = tf.memory().numTensors;
  const out = {
    backend: sel.backend,
    score_calls: calls,
    rows_per_call: 200,
    ppo_updates_and_swaps: updates,
    model_version: handle.version,
    tensors_before: tensorsBefore,
    tensors_after: tensorsAfterScoring,
    bytes_before: bytesBefore,
    bytes_after: tf.memory().numBytes,
  };
  trainer.dispose();
  handle.dispose();
  return out;
}

const backends = (only ?? ['tensorflow', 'wasm', 'cpu', 'webgpu']) as BackendName[];
const results = [];
const submitBatch = process.argv.find((a) => a.startsWith('--webgpu-submit-batch='))?.split('=')[1];
for (const b of backends)
  results.push(
    b === 'webgpu'
      ? await benchWebGpu(quick, submitBatch === undefined ? undefined : Number(submitBatch))
      : await benchBackend(b),
  );
const leak = await leakRun();
// Only the wasm entry has one.
const best = results.map((r) => ('alloc_best' in r ? r.alloc_best : undefined)).find((b) => b);
console.log(
  JSON.stringify({
    bench: 'alloc',
    quick,
    node: process.version,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model,
    wasm_simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
    wasm_threads: tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'),
    // Forcing the flag on loads tfjs-backend-wasm-threaded-simd.wasm, whose pthread pool starts
    // workers from blob: URLs, which Node's worker_threads reject (ERR_WORKER_PATH); tfjs turns
    // the flag off under Node for that reason (tfjs#3830).
    wasm_threads_note: 'threaded SIMD unavailable in Node: pthread workers from blob: URLs (ERR_WORKER_PATH)',
    // The headline figure: the best wasm configuration (in-thread, or sharded over worker threads).
    alloc_rows_per_s: best?.rows_per_s ?? null,
    alloc_best: best ? { backend: 'wasm', ...best } : null,
    backends: results,
    leak,
  }),
);
