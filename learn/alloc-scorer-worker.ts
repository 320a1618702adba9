// A scoring thread of the allocation scorer pool (learn/alloc-scorer-pool.ts): its own tfjs with
// the pool's backend, the weights it was sent, and the shared feature / score buffers. For a job
// it takes contiguous chunks of rows until none is left, scores each with scoreLoaded (exactly
// what the main thread runs) and writes the scores in place, then publishes the job's generation
// in its control slot and wakes the main thread. An error is reported, never thrown: the main
// thread is blocked and would only time out. On webgpu (tensors read asynchronously) a chunk is
// awaited, so messages are handled one after another: a weight set posted during a job waits for it.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { ALLOCATION_FEATURE_COUNT as F } from '../agents/scorer.js';
import { allocationNet, scoreLoaded, scoreLoadedAsync } from './allocation-model.js';
import {
  NEXT_CHUNK,
  STATUS_FAILED,
  STATUS_OK,
  genIndex,
  statusIndex,
  type FromWorker,
  type JobError,
  type ToWorker,
  type WorkerInit,
} from './alloc-scorer-protocol.js';
import { DEFAULT_LOADERS } from './backend.js';
import { ModelHandle, makeWeights } from './network.js';

const port = parentPort;
if (!port) throw new Error('alloc-scorer-worker must run as a worker thread');
const init = workerData as WorkerInit;
const control = new Int32Array(init.control);

let model: { id: number; handle: ModelHandle } | undefined;
let features: Float32Array | undefined;
let scores: Float32Array | undefined;

function publish(gen: number, status: number): void {
  Atomics.store(control, statusIndex(init.slot), status);
  Atomics.store(control, genIndex(init.slot), gen);
  Atomics.notify(control, genIndex(init.slot));
}

const asyncReads = init.backend === 'webgpu';

/** Takes chunks until none is left; each chunk is scored in place in the shared score buffer. */
async function runJob(job: Extract<ToWorker, { type: 'job' }>): Promise<void> {
  if (!model || model.id !== job.weightsId)
    throw new Error(`weights ${job.weightsId} were not received (have ${model?.id ?? 'none'})`);
  if (!features || !scores || job.rows > scores.length)
    throw new Error(`${job.rows} rows exceed the shared buffers`);
  const loaded = model.handle.current;
  for (;;) {
    const start = Atomics.add(control, NEXT_CHUNK, 1) * job.chunkRows;
    if (start >= job.rows) return;
    const n = Math.min(job.chunkRows, job.rows - start);
    const x = features.subarray(start * F, (start + n) * F);
    scores.set(
      asyncReads
        ? await scoreLoadedAsync(allocationNet, loaded, x, n)
        : scoreLoaded(allocationNet, loaded, x, n),
      start,
    );
  }
}

async function onMessage(msg: ToWorker): Promise<void> {
  if (msg.type === 'weights') {
    // A new handle per weight set: the pool may send any version, ModelHandle.swap only newer ones.
    const handle = new ModelHandle(allocationNet, makeWeights(msg, msg.seq, msg.arrays));
    model?.handle.dispose();
    model = { id: msg.id, handle };
  } else if (msg.type === 'buffers') {
    features = new Float32Array(msg.features);
    scores = new Float32Array(msg.scores);
  } else {
    try {
      await runJob(msg);
      publish(msg.gen, STATUS_OK);
    } catch (e) {
      // The text first: the main thread reads it as soon as it sees the generation.
      const err: JobError = { gen: msg.gen, error: (e as Error).message };
      init.errors.postMessage(err);
      publish(msg.gen, STATUS_FAILED);
    }
  }
}

try {
  await DEFAULT_LOADERS[init.backend]();
  let queue = Promise.resolve();
  port.on('message', (msg: ToWorker) => {
    // A job reports its own errors; any other failure (a bad weight set) ends the thread, as a
    // throw from a synchronous handler would: the pool sees the exit and fails over.
    queue = queue
      .then(() => onMessage(msg))
      .catch((e: unknown) => {
        setImmediate(() => {
          throw e;
        });
      });
  });
  port.postMessage({ type: 'ready', backend: tf.getBackend() } as FromWorker);
} catch (e) {
  port.postMessage({ type: 'init_failed', error: (e as Error).message } as FromWorker);
}
