// A pool of scoring threads for the allocation network (one core's wasm-SIMD GEMM rate
// caps in-thread scoring at ≈ 0.6-0.7M rows/s). Each worker_thread has its own tfjs with the
// pool's backend. score() copies the batch into a SharedArrayBuffer, posts one job per worker, and
// every thread (the calling one too, when asked) takes contiguous chunks of rows from a shared
// counter and writes their scores into a shared score buffer; the calling thread then blocks
// (Atomics.wait) until every worker is done: synchronous, like the allocator's scorer interface.
//
// One version per batch: weights are posted to every worker before the first job that uses them,
// on the same ordered port, and every job names the weights it must use.
// Failure never hangs: a worker that reports an error, exits, or does not finish within the
// timeout fails the call with a ScorerPoolError and the pool is closed; the owner creates a new one.
import {
  MessageChannel,
  Worker,
  receiveMessageOnPort,
  type MessagePort,
  type WorkerOptions,
} from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { ALLOCATION_FEATURE_COUNT as F } from '../agents/scorer.js';
import { ThermostatError } from '../core/errors.js';
import {
  NEXT_CHUNK,
  STATUS_OK,
  controlInts,
  genIndex,
  statusIndex,
  type FromWorker,
  type JobError,
  type PoolBackend,
  type ToWorker,
  type WorkerInit,
} from './alloc-scorer-protocol.js';
import { SCORE_CHUNK_ROWS } from './allocation-model.js';
import { checkBatch, type WeightSet } from './network.js';
import { workerEntry } from './worker-entry.js';

/** The pool failed (a worker crashed, stalled or reported an error); create a new pool. */
export class ScorerPoolError extends ThermostatError {
  constructor(message: string) {
    super('DEPENDENCY', `allocation scorer pool: ${message}`, { retriable: true });
  }
}

export interface AllocScorerPoolOptions {
  /** Worker threads (≥ 1). */
  workers: number;
  backend: PoolBackend;
  /**
   * How long one call may wait for the workers (ms), by batch rows. Default 10 s + 20 µs per row
   * (≥ 50k rows/s per thread, far below even the pure-JS path on a loaded box).
   */
  timeoutMs?: (rows: number) => number;
  /** How long the workers may take to load their backend (ms). Default 60 s. */
  startTimeoutMs?: number;
  /** Starts one thread (default `new Worker`); tests wrap it to reach or replace the workers. */
  spawn?: (entry: string | URL, options: WorkerOptions) => Worker;
}

/** Chunks start on a multiple of this many rows (a whole number of GEMM row tiles). */
const CHUNK_ALIGN = 16;
/**
 * Chunk length bounds. Below ≈ 8k rows the fixed cost of a tfjs call shows (2k-row calls score
 * ≈ 12 % fewer rows per CPU-second than 16k-64k-row ones on wasm); above SCORE_CHUNK_ROWS the
 * activations stop fitting the caches.
 */
const MIN_CHUNK = 8192;
const MAX_CHUNK = SCORE_CHUNK_ROWS;
/** About this many chunks per thread, so a slower thread can hand work to faster ones. */
const CHUNKS_PER_THREAD = 4;

/** Rows per chunk: a few per thread, not too short, and never more chunks than needed for balance. */
function chunkSize(rows: number, threads: number): number {
  const even = Math.ceil(rows / (threads * CHUNKS_PER_THREAD));
  const floor = Math.min(MIN_CHUNK, Math.ceil(rows / threads)); // a small batch: one chunk each
  const size = Math.min(MAX_CHUNK, Math.max(even, floor));
  return Math.ceil(size / CHUNK_ALIGN) * CHUNK_ALIGN;
}
const defaultTimeout = (rows: number): number => 10_000 + rows * 0.02;

interface Thread {
  worker: Worker;
  /** Job errors, read synchronously while the calling thread waits. */
  errors: MessagePort;
}

export class AllocScorerPool {
  private readonly control: Int32Array;
  private features = new Float32Array(new SharedArrayBuffer(0));
  private scores = new Float32Array(new SharedArrayBuffer(0));
  private weightsSent: WeightSet | undefined;
  private weightsId = 0;
  private gen = 0;
  private failed: string | undefined;
  private closing: Promise<void> | undefined;
  private live: number;

  private constructor(
    private readonly threads: Thread[],
    control: SharedArrayBuffer,
    private readonly timeoutMs: (rows: number) => number,
    /** webgpu: a thread takes the whole batch (it splits it for the device itself). */
    private readonly wholeBatch: boolean,
  ) {
    this.control = new Int32Array(control);
    this.live = threads.length;
    threads.forEach(({ worker }, slot) => {
      worker.on('error', (e) => this.markFailed(`scoring thread ${slot} failed: ${e.message}`));
      worker.on('exit', (code) => {
        this.live--;
        if (!this.closing) this.markFailed(`scoring thread ${slot} exited (code ${code})`);
      });
    });
  }

  /** Starts `workers` threads and resolves once each has loaded its backend. */
  static async create(opts: AllocScorerPoolOptions): Promise<AllocScorerPool> {
    if (!Number.isInteger(opts.workers) || opts.workers < 1)
      throw new ThermostatError('INTERNAL', `scorer pool: workers must be ≥ 1, got ${opts.workers}`);
    const control = new SharedArrayBuffer(controlInts(opts.workers) * 4);
    const entry = workerEntry(import.meta.url, 'alloc-scorer-worker');
    const threads: Thread[] = [];
    const started: Promise<void>[] = [];
    const spawn = opts.spawn ?? ((e, o) => new Worker(e, o));
    for (let slot = 0; slot < opts.workers; slot++) {
      const { port1, port2 } = new MessageChannel();
      const init: WorkerInit = { backend: opts.backend, slot, control, errors: port2 };
      const worker = spawn(entry.code, { eval: entry.eval, workerData: init, transferList: [port2] });
      threads.push({ worker, errors: port1 });
      started.push(ready(worker, slot, opts.backend));
    }
    let timer: NodeJS.Timeout | undefined;
    const startMs = opts.startTimeoutMs ?? 60_000;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ScorerPoolError(`scoring threads did not start within ${startMs} ms`)),
        startMs,
      );
    });
    try {
      await Promise.race([Promise.all(started), timeout]);
    } catch (e) {
      await Promise.all(threads.map((t) => t.worker.terminate()));
      for (const t of threads) t.errors.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return new AllocScorerPool(threads, control, opts.timeoutMs ?? defaultTimeout, opts.backend === 'webgpu');
  }

  /** Worker threads (the calling thread, when it scores too, comes on top). */
  get workers(): number {
    return this.threads.length;
  }

  /** Worker threads not yet exited (0 after close()). */
  get liveWorkers(): number {
    return this.live;
  }

  /** Why the pool stopped working, once it has. */
  get failure(): string | undefined {
    return this.failed;
  }

  /**
   * Scores `rows` rows of `features` (row-major, rows × ALLOCATION_FEATURE_COUNT) with `weights` on
   * the workers and, when `local` is given, the calling thread too. The batch is cut in contiguous
   * chunks that each thread takes in turn until none is left, so a thread slowed down by other
   * work on the box takes fewer. Scores come back in row order.
   */
  score(
    weights: WeightSet,
    features: Float32Array,
    rows: number,
    local?: (features: Float32Array, rows: number) => Float32Array,
  ): Float32Array {
    if (this.failed) throw new ScorerPoolError(this.failed);
    if (this.closing) throw new ScorerPoolError('closed');
    checkBatch('allocation scorer pool', features, rows, F);
    if (rows === 0) return new Float32Array(0);
    this.ensureCapacity(rows);
    this.ensureWeights(weights);
    const threads = this.threads.length + (local ? 1 : 0);
    const chunkRows = this.wholeBatch ? rows : chunkSize(rows, threads);
    this.features.set(features.subarray(0, rows * F));
    this.gen = (this.gen % 0x7fffffff) + 1;
    const gen = this.gen;
    Atomics.store(this.control, NEXT_CHUNK, 0);
    for (let slot = 0; slot < this.threads.length; slot++)
      this.post(slot, { type: 'job', gen, weightsId: this.weightsId, rows, chunkRows });
    let localError: unknown;
    if (local) {
      try {
        for (;;) {
          const start = Atomics.add(this.control, NEXT_CHUNK, 1) * chunkRows;
          if (start >= rows) break;
          const n = Math.min(chunkRows, rows - start);
          this.scores.set(local(features.subarray(start * F, (start + n) * F), n), start);
        }
      } catch (e) {
        // Still wait for the workers: the next call reuses the shared buffers. The chunks this
        // thread did not score stay unscored, so the call fails.
        localError = e;
        Atomics.store(this.control, NEXT_CHUNK, 0x3fffffff);
      }
    }
    const timeout = this.timeoutMs(rows);
    const deadline = performance.now() + timeout;
    for (let slot = 0; slot < this.threads.length; slot++) this.waitFor(slot, gen, deadline, timeout);
    if (localError !== undefined) throw localError;
    return this.scores.slice(0, rows);
  }

  /** Terminates every worker; resolves once all have exited. Safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= Promise.all(this.threads.map((t) => t.worker.terminate())).then(() => {
      for (const t of this.threads) t.errors.close();
    });
    return this.closing;
  }

  private post(slot: number, msg: ToWorker): void {
    this.threads[slot].worker.postMessage(msg);
  }

  /** Shared buffers for at least `rows` rows (grown to the next power of two, never shrunk). */
  private ensureCapacity(rows: number): void {
    if (this.scores.length >= rows) return;
    const cap = 2 ** Math.ceil(Math.log2(rows));
    this.features = new Float32Array(new SharedArrayBuffer(cap * F * 4));
    this.scores = new Float32Array(new SharedArrayBuffer(cap * 4));
    for (let slot = 0; slot < this.threads.length; slot++)
      this.post(slot, {
        type: 'buffers',
        features: this.features.buffer,
        scores: this.scores.buffer,
      });
  }

  /** Posts `weights` to every worker unless they were the last ones posted. */
  private ensureWeights(weights: WeightSet): void {
    if (weights === this.weightsSent) return;
    this.weightsId++;
    const { arch, name, seq } = weights;
    const arrays = weights.arrays.map((a) => ({ name: a.name, shape: a.shape, values: a.values }));
    for (let slot = 0; slot < this.threads.length; slot++)
      this.post(slot, { type: 'weights', id: this.weightsId, arch, name, seq, arrays });
    this.weightsSent = weights;
  }

  /** Blocks until worker `slot` published `gen`, or fails the pool at the deadline. */
  private waitFor(slot: number, gen: number, deadline: number, timeout: number): void {
    const at = genIndex(slot);
    for (;;) {
      const seen = Atomics.load(this.control, at);
      if (seen === gen) break;
      const left = deadline - performance.now();
      if (left <= 0)
        this.fail(
          `scoring thread ${slot} did not finish its part of the batch within ${Math.round(timeout)} ms`,
        );
      Atomics.wait(this.control, at, seen, left);
    }
    if (Atomics.load(this.control, statusIndex(slot)) !== STATUS_OK) {
      const msg = receiveMessageOnPort(this.threads[slot].errors)?.message as JobError | undefined;
      this.fail(`scoring thread ${slot} failed on its part of the batch: ${msg?.error ?? 'no error text'}`);
    }
  }

  private markFailed(reason: string): void {
    if (this.failed) return;
    this.failed = reason;
    void this.close();
  }

  private fail(reason: string): never {
    this.markFailed(reason);
    throw new ScorerPoolError(this.failed ?? reason);
  }
}

/** Resolves when worker `slot` reports its backend loaded; rejects when it fails or exits first. */
function ready(worker: Worker, slot: number, backend: PoolBackend): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      worker.off('message', onMessage);
      reject(new ScorerPoolError(`scoring thread ${slot} could not start the ${backend} backend: ${why}`));
    };
    const onMessage = (m: FromWorker) => {
      worker.off('message', onMessage);
      if (m.type === 'ready') resolve();
      else fail(m.error);
    };
    worker.on('message', onMessage);
    worker.once('error', (e) => fail(e.message));
    worker.once('exit', (code) => fail(`exited (code ${code})`));
  });
}
