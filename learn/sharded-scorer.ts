// The learned allocation scorer spread over several threads: a batch of at least
// `minRows` rows is split between this thread and an AllocScorerPool of `threads − 1` workers;
// smaller batches stay in this thread (a job round trip adds ≈ 0.2-0.3 ms; 4k rows take ≈ 6 ms).
// Every chunk runs the same scoreLoaded() on the same backend and the same weights version, so the
// scores equal the in-thread scorer's (unit-tested) and replays allocate identically whatever
// the thread count.
//
// On webgpu (learn/webgpu.ts: a GPU whose tensors Node reads asynchronously only) ONE scoring
// thread takes each large batch whole while this thread waits; this thread runs a synchronous
// backend (wasm / cpu) for the small batches and for the fallback.
//
// A failed pool does not fail the tick: that batch is scored in this thread, a warning is logged,
// and a new pool starts in the background (at most `maxRestarts` times; then in-thread for good).
import os from 'node:os';
import { silentLogger, type Logger } from '../core/log.js';
import { LearnedAllocationScorer, allocationNet, scoreLoaded } from './allocation-model.js';
import { AllocScorerPool, ScorerPoolError, type AllocScorerPoolOptions } from './alloc-scorer-pool.js';
import type { PoolBackend } from './alloc-scorer-protocol.js';
import type { LoadedModel, ModelHandle } from './network.js';

/** Batches below this many rows are scored in the calling thread. */
export const DEFAULT_MIN_SHARDED_ROWS = 4096;

/** Threads scoring one batch by default: the cores, at most 4 (the calling thread included). */
export const defaultScorerThreads = (): number => Math.min(os.availableParallelism(), 4);

export interface ShardedScorerOptions {
  /**
   * Threads scoring one batch, the calling thread included (≥ 2; 1 is LearnedAllocationScorer).
   * Ignored on webgpu: one GPU thread.
   */
  threads: number;
  /** The backend the workers load: the one this thread runs (selectBackend's choice), or webgpu. */
  backend: PoolBackend;
  minRows?: number;
  maxRestarts?: number;
  logger?: Logger;
  /** Passed to the pool (tests shorten the timeout or wrap the thread start). */
  timeoutMs?: AllocScorerPoolOptions['timeoutMs'];
  spawn?: AllocScorerPoolOptions['spawn'];
}

export class ShardedAllocationScorer extends LearnedAllocationScorer {
  private pool: AllocScorerPool | undefined;
  private starting: Promise<void> | undefined;
  private restarts = 0;
  private closed = false;
  private sharded = 0;
  private readonly minRows: number;
  private readonly log: Logger;

  private constructor(
    handle: ModelHandle,
    pool: AllocScorerPool,
    private readonly opts: ShardedScorerOptions,
  ) {
    super(handle);
    this.pool = pool;
    this.minRows = opts.minRows ?? DEFAULT_MIN_SHARDED_ROWS;
    this.log = opts.logger ?? silentLogger;
  }

  /** Starts the workers (they load the backend: ≈ 0.3-1 s); rejects with a ScorerPoolError. */
  static async create(handle: ModelHandle, opts: ShardedScorerOptions): Promise<ShardedAllocationScorer> {
    if (handle.net !== allocationNet)
      throw new Error(`ShardedAllocationScorer scores ${allocationNet.arch}, not ${handle.net.arch}`);
    if (opts.backend !== 'webgpu' && (!Number.isInteger(opts.threads) || opts.threads < 2))
      throw new Error(`ShardedAllocationScorer needs ≥ 2 threads, got ${opts.threads}`);
    const pool = await AllocScorerPool.create(poolOptions(opts));
    return new ShardedAllocationScorer(handle, pool, opts);
  }

  /** Batches scored across the threads so far (the others were scored in this thread). */
  get shardedBatches(): number {
    return this.sharded;
  }

  /** Whether large batches are sharded right now (false while a failed pool restarts). */
  get sharding(): boolean {
    return this.pool !== undefined;
  }

  /** Resolves once a restart started after a pool failure has finished (or at once). */
  async settled(): Promise<void> {
    await this.starting;
  }

  /** Stops the workers; later batches are scored in this thread. */
  async close(): Promise<void> {
    this.closed = true;
    await this.starting;
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  protected override scoreModel(model: LoadedModel, features: Float32Array, rows: number): Float32Array {
    const local = (x: Float32Array, n: number): Float32Array => scoreLoaded(allocationNet, model, x, n);
    const pool = this.pool;
    if (!pool || rows < this.minRows) return local(features, rows);
    try {
      const out = pool.score(
        model.weights,
        features,
        rows,
        this.opts.backend === 'webgpu' ? undefined : local,
      );
      this.sharded++;
      return out;
    } catch (e) {
      if (!(e instanceof ScorerPoolError)) throw e;
      this.restart(pool, e);
      return local(features, rows);
    }
  }

  private restart(failed: AllocScorerPool, err: ScorerPoolError): void {
    this.pool = undefined;
    void failed.close();
    const again = this.restarts < (this.opts.maxRestarts ?? 3) && !this.closed;
    this.log.warn(
      { event: 'scorer.pool_failed', err: err.message, restarts: this.restarts, restarting: again },
      again
        ? 'allocation scorer pool failed: batch scored in-thread, starting a new pool'
        : 'allocation scorer pool failed: scoring in-thread from now on',
    );
    if (!again) return;
    this.restarts++;
    this.starting = AllocScorerPool.create(poolOptions(this.opts)).then(
      (pool) => {
        if (this.closed) return pool.close();
        this.pool = pool;
      },
      (e: unknown) =>
        this.log.warn(
          { event: 'scorer.pool_failed', err: (e as Error).message },
          'allocation scorer pool did not restart: scoring in-thread',
        ),
    );
  }
}

const poolOptions = (o: ShardedScorerOptions): AllocScorerPoolOptions => ({
  workers: o.backend === 'webgpu' ? 1 : o.threads - 1,
  backend: o.backend,
  timeoutMs: o.timeoutMs,
  spawn: o.spawn,
});
