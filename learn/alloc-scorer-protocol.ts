// What the allocation scorer pool (learn/alloc-scorer-pool.ts, main thread) and its scoring threads
// (learn/alloc-scorer-worker.ts) exchange. Weights, buffers and jobs travel as messages on one
// port each way in order, so a job always finds the weights and buffers posted before it. The
// main thread waits for a job with Atomics on a shared control array (the allocator's scorer
// interface is synchronous): it cannot take 'message' events while it waits, so a job's error
// text comes back on a second port that it reads with receiveMessageOnPort.
import type { MessagePort } from 'node:worker_threads';
import type { NamedArray } from './network.js';

/**
 * The backends a scoring thread can load. tfjs-node-gpu is not sharded (one device, read
 * synchronously in the calling thread); webgpu is read asynchronously only, so it runs in ONE
 * scoring thread that takes the whole batch while the calling thread waits.
 */
export type PoolBackend = 'wasm' | 'cpu' | 'webgpu';

export interface WorkerInit {
  backend: PoolBackend;
  /** This thread's slot in the control array. */
  slot: number;
  /** Int32, see controlInts. */
  control: SharedArrayBuffer;
  /** Job errors, read by the main thread with receiveMessageOnPort while it waits. */
  errors: MessagePort;
}

/**
 * Control array layout (Int32): [0] the next chunk of the current job to take (every thread takes
 * chunks with Atomics.add until none is left), then per slot [done generation, status].
 */
export const NEXT_CHUNK = 0;
export const controlInts = (slots: number): number => 1 + slots * 2;
export const genIndex = (slot: number): number => 1 + slot * 2;
export const statusIndex = (slot: number): number => 2 + slot * 2;
export const STATUS_OK = 0;
export const STATUS_FAILED = 1;

export type ToWorker =
  /** A weight set; `id` is the pool's own counter, so any WeightSet (not only newer seqs) works. */
  | { type: 'weights'; id: number; arch: string; name: string; seq: number; arrays: NamedArray[] }
  /** Row-major features (rows × width Float32) and scores (rows Float32), shared by all threads. */
  | { type: 'buffers'; features: SharedArrayBuffer; scores: SharedArrayBuffer }
  /**
   * Score chunks of `chunkRows` rows of the first `rows` rows with weights `weightsId` until none
   * is left, then publish `gen` in the slot.
   */
  | { type: 'job'; gen: number; weightsId: number; rows: number; chunkRows: number };

export type FromWorker = { type: 'ready'; backend: string } | { type: 'init_failed'; error: string };

export interface JobError {
  gen: number;
  error: string;
}
