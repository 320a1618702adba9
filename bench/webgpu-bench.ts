// The allocation bench's webgpu entry (bench/alloc-bench.ts): the same networks on a GPU through
// WebGPU (learn/webgpu.ts). Node reads WebGPU tensors asynchronously only, so the figures are:
//   allocation_rows_per_s      scoreLoadedAsync in this thread (upload, 3 layers, read back)
//   allocation_job_path        the job's synchronous scorer: this thread waits while ONE scoring
//                              thread scores the batch on the GPU (learn/sharded-scorer.ts)
//   explore_rows_per_s         the explore network, async read
//   ppo_step_ms                one clipped-PPO gradient step (Adam), timed to the GPU's completion;
//                              ppo_step_dispatch_ms is this thread's part (building the kernels)
//   job_scorer                 the Kafka job's own scorer (createJobScorer, learn.backend=webgpu,
//                              weights from a model store): backend, threads, scores vs pure JS
//   leak                       tensors and bytes before/after a long run of scoring, PPO steps and
//                              weight swaps (the device's memory must not grow either)
// A webgpu that cannot load reports {available: false, reason}, like the other backends.
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
  ModelHandle,
  allocationNet,
  initAllocationWeights,
  scoreBatchAsync,
  scoreLoadedAsync,
} from '../learn/allocation-model.js';
import { jsScore, packMlp3 } from '../learn/fast-scorer.js';
import { parseLearnConfig } from '../learn/config.js';
import { createJobScorer } from '../learn/job-scorer.js';
import { InMemoryModelStore, saveWeights } from '../learn/model-store.js';
import { exploreNet, initExploreWeights, packExploreObs } from '../learn/explore-model.js';
import { makeWeights, sampleBernoulli } from '../learn/network.js';
import { PpoLearner, type Experience } from '../learn/ppo.js';
import { ShardedAllocationScorer } from '../learn/sharded-scorer.js';
import { rows, timeIt } from './timing.js';
import { describeAdapter, loadWebGpuBackend, webGpuAdapter, webGpuErrors } from '../learn/webgpu.js';

/** Mean wall ms per call of an async fn, after one warm-up call (shader compilation). */
async function timeAsync(fn: () => Promise<unknown>, minMs: number, minReps = 3): Promise<number> {
  await fn();
  let reps = 0;
  const t0 = performance.now();
  while (reps < minReps || performance.now() - t0 < minMs) {
    await fn();
    reps++;
  }
  return (performance.now() - t0) / reps;
}

function toyBatch(n: number, seed: number): Experience[] {
  const x = rows(seed, n, F);
  const rng = new Rng(seed + 1);
  return Array.from({ length: n }, (_, r) => {
    const { action, logProb } = sampleBernoulli(0.5, rng.next());
    return {
      obs: x.slice(r * F, (r + 1) * F),
      action,
      logProb,
      reward: action ? (x[r * F] > 0.5 ? 1 : -1) : 0,
    };
  });
}

/** Gradient steps of one PPO update, timed until the GPU has finished them (one read at the end). */
async function ppoSteps(
  ppo: PpoLearner,
  batch: Experience[],
  key: string,
): Promise<{ steps: number; ms: number; dispatchMs: number }> {
  // Batches here are whole multiples of the minibatch: this many steps, then the statistics.
  const total = (batch.length / ppo.cfg.minibatchSize) * ppo.cfg.epochs;
  const it = ppo.updateSteps(batch, key);
  const t0 = performance.now();
  let steps = 0;
  // The generator yields after each step; returning before its statistics (read synchronously,
  // which webgpu in Node cannot do) still runs its finally, which disposes the batch tensors.
  while (steps < total && !it.next().done) steps++;
  it.return({} as never);
  const dispatchMs = performance.now() - t0; // this thread's share: building and submitting kernels
  const w = (ppo as unknown as { vars: Record<string, tf.Variable> }).vars['actor/w1'];
  await w.data(); // the queue is drained once the last step's weights can be read
  return { steps, ms: performance.now() - t0, dispatchMs };
}

/**
 * `submitBatch`: kernels tfjs records before one queue submit (its WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE,
 * default 15); Dawn's submit is this thread's largest cost in a PPO step (profile, docs/results/performance.md).
 */
export async function benchWebGpu(quick: boolean, submitBatch?: number) {
  try {
    await loadWebGpuBackend();
    if (submitBatch !== undefined) tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', submitBatch);
  } catch (e) {
    return { backend: 'webgpu', available: false, reason: (e as Error).message.split('\n')[0] };
  }
  const adapter = webGpuAdapter();
  const minMs = quick ? 300 : 1500;
  const handle = new ModelHandle(allocationNet, initAllocationWeights(1));
  const allocation_rows_per_s: Record<string, number> = {};
  const allocation_ms_per_batch: Record<string, number> = {};
  for (const n of quick ? [10_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000]) {
    const x = rows(n, n, F);
    const ms = await timeAsync(() => scoreLoadedAsync(allocationNet, handle.current, x, n), minMs, 2);
    allocation_rows_per_s[String(n)] = Math.round((n / ms) * 1000);
    allocation_ms_per_batch[String(n)] = +ms.toFixed(3);
  }
  // The GPU's scores against the pure-JS forward pass (float32 on both; summation order differs).
  const xc = rows(11, 10_000, F);
  const gpuScores = await scoreLoadedAsync(allocationNet, handle.current, xc, 10_000);
  const jsScores = jsScore(packMlp3(handle.current.weights), xc, 10_000);
  let max_abs_diff_vs_js = 0;
  for (let i = 0; i < 10_000; i++)
    max_abs_diff_vs_js = Math.max(max_abs_diff_vs_js, Math.abs(gpuScores[i] - jsScores[i]));
  const allocation_job_path: Record<string, number> = {};
  const gpuThread = await ShardedAllocationScorer.create(handle, {
    threads: 1,
    backend: 'webgpu',
    minRows: 0,
  });
  try {
    for (const n of quick ? [100_000] : [4_096, 10_000, 100_000, 1_000_000]) {
      const x = rows(n + 1, n, F);
      const ms = timeIt(() => gpuThread.score(x, n), minMs, 2);
      allocation_job_path[String(n)] = Math.round((n / ms) * 1000);
    }
  } finally {
    await gpuThread.close();
  }
  const job_scorer = await jobScorerCheck(handle);
  const eh = new ModelHandle(exploreNet, initExploreWeights(1));
  const explore_rows_per_s: Record<string, number> = {};
  for (const n of [1_000, 10_000]) {
    const obs = packExploreObs(
      rows(1, n, MIND_FEATURE_COUNT),
      rows(2, n, BEHAVIOUR_SEQUENCE_LENGTH * BEHAVIOUR_STEP_FEATURE_COUNT),
      n,
    );
    const ms = await timeAsync(() => scoreBatchAsync(exploreNet, eh.current.params, obs, n), minMs);
    explore_rows_per_s[String(n)] = Math.round((n / ms) * 1000);
  }
  const ppo_step_ms: Record<string, number> = {};
  const ppo_step_dispatch_ms: Record<string, number> = {};
  for (const mb of [64, 256, 4096]) {
    const ppo = new PpoLearner(allocationNet, initAllocationWeights(1), { epochs: 1, minibatchSize: mb }, 1);
    const batch = toyBatch(mb * 8, 3);
    await ppoSteps(ppo, batch, 'warm-up'); // shader compilation, Adam slots
    let steps = 0;
    let ms = 0;
    let dispatchMs = 0;
    for (let i = 0; i < (quick ? 2 : 5); i++) {
      const r = await ppoSteps(ppo, batch, `rep-${i}`);
      steps += r.steps;
      ms += r.ms;
      dispatchMs += r.dispatchMs;
    }
    ppo_step_ms[String(mb)] = +(ms / steps).toFixed(3);
    ppo_step_dispatch_ms[String(mb)] = +(dispatchMs / steps).toFixed(3);
    ppo.dispose();
  }
  const leak = await leakRun(handle, quick ? 200 : 2_000);
  handle.dispose();
  eh.dispose();
  return {
    backend: 'webgpu',
    available: true,
    adapter: adapter ? describeAdapter(adapter) : null,
    submit_batch: tf.env().getNumber('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE'),
    allocation_rows_per_s,
    allocation_ms_per_batch,
    max_abs_diff_vs_js,
    allocation_job_path,
    explore_rows_per_s,
    ppo_step_ms,
    ppo_step_dispatch_ms,
    job_scorer,
    leak,
    // Any device error means some op's figures above measured a failed pipeline.
    device_errors: webGpuErrors(),
  };
}

/** createJobScorer as the job calls it with learn.backend=webgpu; scores compared with pure JS. */
async function jobScorerCheck(handle: ModelHandle) {
  const store = new InMemoryModelStore();
  const w = handle.current.weights;
  await saveWeights(store, makeWeights(w, 1, w.arrays), 1);
  const config = parseLearnConfig({ scorer: 'learned', backend: 'webgpu' });
  const job = await createJobScorer({ config, store });
  try {
    const n = 100_000;
    const x = rows(13, n, F);
    const got = job.scorer().score(x, n);
    const want = jsScore(packMlp3(w), x, n);
    let maxAbsDiff = 0;
    for (let i = 0; i < n; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(got[i] - want[i]));
    return {
      selected: job.selected,
      version: job.version,
      this_thread_backend: tf.getBackend(),
      scoring_threads: job.scoringThreads,
      rows: n,
      max_abs_diff_vs_js: maxAbsDiff,
    };
  } finally {
    await job.dispose();
    await loadWebGpuBackend(); // the check left wasm in this thread; the bench goes on on webgpu
  }
}

/** Scoring, PPO steps and weight swaps in a loop; tensors and bytes must come back to their level. */
async function leakRun(handle: ModelHandle, rounds: number) {
  const ppo = new PpoLearner(allocationNet, initAllocationWeights(2), { epochs: 1, minibatchSize: 256 }, 2);
  const batch = toyBatch(1024, 5);
  const x = rows(7, 10_000, F);
  const round = async (i: number): Promise<void> => {
    await scoreLoadedAsync(allocationNet, handle.current, x, 10_000);
    if (i % 10 === 0) {
      await ppoSteps(ppo, batch, `leak-${i}`);
      const w = initAllocationWeights(100 + i);
      handle.swap(makeWeights(w, i, w.arrays));
    }
  };
  await round(0); // Adam's slot variables are created once
  const before = tf.memory();
  for (let i = 1; i <= rounds; i++) await round(i);
  const after = tf.memory();
  ppo.dispose();
  return {
    rounds,
    tensors_before: before.numTensors,
    tensors_after: after.numTensors,
    bytes_before: before.numBytes,
    bytes_after: after.numBytes,
    model_version: handle.version,
  };
}
