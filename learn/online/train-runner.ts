// Where the online learner's training runs. In the job: a worker thread (WorkerTrainRunner), so a
// PPO update never blocks the stream graph. In the simulator and tests: in this thread, at once
// (InlineTrainRunner), so a replay publishes every version at the same tick. Both run TrainWork.
import { Worker } from 'node:worker_threads';
import { ThermostatError } from '../../core/errors.js';
import type { BackendLoaders } from '../backend.js';
import type { PpoConfig, PpoStats } from '../ppo.js';
import { workerEntry } from '../worker-entry.js';
import {
  TrainWork,
  fromWeightData,
  type TrainJob,
  type TrainOutcome,
  type WeightData,
} from './train-work.js';

export interface TrainRunner {
  /** true: `runNow` is available and the learner publishes inside the tick that triggered it. */
  readonly synchronous: boolean;
  runNow?(job: TrainJob): TrainOutcome;
  run(job: TrainJob): Promise<TrainOutcome>;
  close(): Promise<void>;
}

/**
 * Training in this thread. `synchronous` (the simulator): the learner trains and publishes inside
 * the tick that triggered it. Otherwise (the job's fallback when the training thread cannot start)
 * each job runs on a later event-loop turn: outside the tick, but it still occupies this thread.
 */
export class InlineTrainRunner implements TrainRunner {
  private readonly work: TrainWork;

  constructor(
    ppo: Partial<PpoConfig>,
    seed: number,
    readonly synchronous = true,
  ) {
    this.work = new TrainWork(ppo, seed);
  }

  runNow(job: TrainJob): TrainOutcome {
    return this.work.run(job);
  }

  run(job: TrainJob): Promise<TrainOutcome> {
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(this.work.run(job));
        } catch (e) {
          reject(e as Error);
        }
      }),
    );
  }

  async close(): Promise<void> {
    this.work.dispose();
  }
}

// ---- the thread protocol ----
export interface TrainerInit {
  /** Loader of the thread's backend (training never runs on webgpu: its reads are asynchronous). */
  backend: Exclude<keyof BackendLoaders, 'webgpu'>;
  ppo: Partial<PpoConfig>;
  seed: number;
}
export interface ToTrainer {
  id: number;
  job: TrainJob;
}
export type FromTrainer =
  | { type: 'ready' }
  | { type: 'init_failed'; error: string }
  | {
      type: 'done';
      id: number;
      weights: WeightData;
      ppo?: PpoStats;
      imitation?: { lossBefore: number; lossAfter: number };
    }
  | { type: 'failed'; id: number; error: string };

export class TrainerThreadError extends ThermostatError {
  constructor(message: string) {
    super('DEPENDENCY', `training thread: ${message}`, { retriable: true });
  }
}

/**
 * One training thread; jobs run one at a time, in order. A thread that dies fails the jobs it held;
 * later jobs run in this thread between batches (`onDeath` is told why, once).
 */
export class WorkerTrainRunner implements TrainRunner {
  readonly synchronous = false;
  private nextId = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (o: TrainOutcome) => void; reject: (e: Error) => void }
  >();
  private dead: string | null = null;
  private fallback: InlineTrainRunner | null = null;
  /** Called once when the thread died (not on close()). */
  onDeath: ((why: string) => void) | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly init: TrainerInit,
  ) {
    worker.on('message', (m: FromTrainer) => {
      if (m.type !== 'done' && m.type !== 'failed') return;
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (!w) return;
      if (m.type === 'failed') w.reject(new TrainerThreadError(m.error));
      else w.resolve({ weights: fromWeightData(m.weights), ppo: m.ppo, imitation: m.imitation });
    });
    const die = (why: string): void => {
      if (this.dead === null) this.onDeath?.(why);
      this.dead = why;
      for (const w of this.waiting.values()) w.reject(new TrainerThreadError(why));
      this.waiting.clear();
    };
    worker.on('error', (e) => die(e.message));
    worker.on('exit', (code) => die(`exited (code ${code})`));
  }

  /** Starts the thread and waits until its backend is loaded (at most `startTimeoutMs`). */
  static async create(init: TrainerInit, startTimeoutMs = 60_000): Promise<WorkerTrainRunner> {
    const entry = workerEntry(import.meta.url, 'train-worker');
    const worker = new Worker(entry.code, { eval: entry.eval, workerData: init });
    worker.unref();
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new TrainerThreadError(`did not start within ${startTimeoutMs} ms`)),
          startTimeoutMs,
        );
        worker.once('message', (m: FromTrainer) => {
          clearTimeout(timer);
          if (m.type === 'ready') resolve();
          else reject(new TrainerThreadError(m.type === 'init_failed' ? m.error : `unexpected ${m.type}`));
        });
        worker.once('error', (e) => (clearTimeout(timer), reject(new TrainerThreadError(e.message))));
      });
    } catch (e) {
      await worker.terminate();
      throw e;
    }
    return new WorkerTrainRunner(worker, init);
  }

  run(job: TrainJob): Promise<TrainOutcome> {
    if (this.dead)
      return (this.fallback ??= new InlineTrainRunner(this.init.ppo, this.init.seed, false)).run(job);
    const id = this.nextId++;
    return new Promise<TrainOutcome>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, job } satisfies ToTrainer);
    });
  }

  async close(): Promise<void> {
    this.dead ??= 'closed';
    await this.worker.terminate();
    await this.fallback?.close();
  }
}
