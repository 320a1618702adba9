// Picks the Kafka job's allocation scorer from the learn config: `rule` (default) or
// `learned`, the allocation network loaded from the model store (Redis in the job) by version.
// No stored weights, or weights that cannot load, is not fatal: the job allocates with the rule
// scorer, logs a warning and counts thermostat_scorer_fallback_total{reason}. The job never trains
// here (training runs where the experiences are, e.g. the simulator or a trainer process); a new
// version is picked up at the next start or by `reload()`.
// On wasm / cpu the learned scorer shards large batches over `scorerWorkers` threads (this one
// included; default the cores, at most 4): learn/sharded-scorer.ts. Workers that cannot start are
// not fatal either: the scorer runs in-thread and a warning says why.
// On webgpu (learn.backend=webgpu) one scoring thread holds the GPU and takes each large batch
// whole; this thread runs wasm (else cpu) for small batches. A GPU thread that cannot start fails
// the start with a ConfigError naming the key, as any explicit backend that cannot load does.
import { Counter, type Registry } from 'prom-client';
import { RuleScorer } from '../agents/rule-scorer.js';
import type { AllocationScorer } from '../agents/scorer.js';
import { ConfigError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import { ALLOCATION_MODEL_NAME, LearnedAllocationScorer, allocationNet } from './allocation-model.js';
import {
  BACKEND_CONFIG_KEY,
  exportBackend,
  selectBackend,
  type BackendLoaders,
  type BackendName,
} from './backend.js';
import type { LearnConfig } from './config.js';
import { loadLatestWeights, type ModelStore } from './model-store.js';
import { ModelHandle } from './network.js';
import { ShardedAllocationScorer, defaultScorerThreads } from './sharded-scorer.js';

export const SCORER_FALLBACK_METRIC = 'thermostat_scorer_fallback_total';
export type ScorerFallbackReason = 'no_store' | 'no_weights' | 'load_failed';

/** The counter on the job's registry (created once per registry). */
export function scorerFallbackCounter(register: Registry): Counter<'reason'> {
  const existing = register.getSingleMetric(SCORER_FALLBACK_METRIC);
  if (existing) return existing as Counter<'reason'>;
  return new Counter({
    name: SCORER_FALLBACK_METRIC,
    help: 'Starts where the learned allocation scorer was configured but the rule scorer ran instead, per reason.',
    labelNames: ['reason'],
    registers: [register],
  });
}

export interface JobScorer {
  /** GraphSettings.scorer: read once per tick. */
  scorer: () => AllocationScorer;
  /** What is scoring: the rule, or the learned network at `version`. */
  selected: 'rule' | 'learned';
  version: string;
  /** Set when `learned` was configured but the rule scorer runs. */
  fallback?: ScorerFallbackReason;
  /** Threads scoring one large batch (1: in-thread). */
  scoringThreads: number;
  /** Frees the model and stops the scoring threads (resolves once they have exited). */
  dispose(): Promise<void>;
}

export interface JobScorerOptions {
  config: Pick<LearnConfig, 'scorer' | 'modelSeq' | 'backend' | 'scorerWorkers'>;
  store?: ModelStore;
  logger?: Logger;
  metrics?: Pick<Metrics, 'register' | 'backend' | 'modelVersion'>;
  loaders?: Partial<BackendLoaders>;
}

const rule = (fallback?: ScorerFallbackReason): JobScorer => {
  const s = new RuleScorer();
  return {
    scorer: () => s,
    selected: 'rule',
    version: s.modelVersion,
    fallback,
    scoringThreads: 1,
    dispose: async () => {},
  };
};

export async function createJobScorer(opts: JobScorerOptions): Promise<JobScorer> {
  const { config: cfg, store, metrics } = opts;
  const log = opts.logger ?? silentLogger;
  if (cfg.scorer === 'rule') {
    log.info({ event: 'scorer.selected', scorer: 'rule' }, 'allocation scorer: rule');
    return rule();
  }
  const fallback = (reason: ScorerFallbackReason, err?: unknown): JobScorer => {
    if (metrics) scorerFallbackCounter(metrics.register).inc({ reason });
    log.warn(
      { event: 'scorer.fallback', reason, modelSeq: cfg.modelSeq, err },
      `learned allocation scorer configured but unavailable (${reason}): using the rule scorer`,
    );
    return rule(reason);
  };
  if (!store) return fallback('no_store');
  let weights;
  try {
    weights = await loadLatestWeights(store, allocationNet, ALLOCATION_MODEL_NAME, cfg.modelSeq);
  } catch (e) {
    return fallback('load_failed', e);
  }
  if (!weights) return fallback('no_weights');
  // A backend that cannot load is a configuration error (explicit choice) and fails the start.
  const gpuThread = cfg.backend === 'webgpu';
  const { backend: hostBackend } = await selectBackend({
    // webgpu: this thread keeps a synchronous backend (wasm, else cpu); the GPU is a thread's.
    requested: gpuThread ? 'auto' : cfg.backend,
    logger: log,
    metrics,
    loaders: gpuThread ? { ...opts.loaders, gpu: notTriedForWebGpu } : opts.loaders,
  });
  const handle = new ModelHandle(allocationNet, weights);
  const threads = gpuThread ? 1 : (cfg.scorerWorkers ?? defaultScorerThreads());
  const scorer = gpuThread
    ? await webGpuScorer(handle, log)
    : await learnedScorer(handle, hostBackend, threads, log);
  const backend: BackendName = gpuThread ? 'webgpu' : hostBackend;
  if (gpuThread && metrics) exportBackend(metrics, backend);
  const scoringThreads = scorer instanceof ShardedAllocationScorer ? threads : 1;
  metrics?.modelVersion.set(weights.seq);
  log.info(
    { event: 'scorer.selected', scorer: 'learned', version: handle.version, backend, scoringThreads },
    'allocation scorer: learned',
  );
  return {
    scorer: () => scorer,
    selected: 'learned',
    version: handle.version,
    scoringThreads,
    dispose: () => {
      handle.dispose(); // now: the tensors are freed when dispose() returns, the threads stop later
      return scorer instanceof ShardedAllocationScorer ? scorer.close() : Promise.resolve();
    },
  };
}

const notTriedForWebGpu = (): Promise<void> =>
  Promise.reject(new Error('not tried: learn.backend=webgpu keeps wasm/cpu in this thread'));

/** The GPU scoring thread; one that cannot start is a configuration error (explicit choice). */
async function webGpuScorer(handle: ModelHandle, log: Logger): Promise<LearnedAllocationScorer> {
  try {
    return await ShardedAllocationScorer.create(handle, { threads: 1, backend: 'webgpu', logger: log });
  } catch (e) {
    throw new ConfigError(
      BACKEND_CONFIG_KEY,
      `backend "webgpu" was requested but its scoring thread cannot start: ${(e as Error).message}`,
    );
  }
}

/** Sharded over `threads` on wasm / cpu when threads > 1 and the workers start, else in-thread. */
export async function learnedScorer(
  handle: ModelHandle,
  backend: BackendName,
  threads: number,
  log: Logger,
): Promise<LearnedAllocationScorer> {
  // tfjs-node-gpu: one device, already parallel; a worker per thread would only compete for it.
  if (threads < 2 || backend === 'tensorflow') return new LearnedAllocationScorer(handle);
  try {
    return await ShardedAllocationScorer.create(handle, { threads, backend, logger: log });
  } catch (e) {
    log.warn(
      { event: 'scorer.pool_failed', err: (e as Error).message, threads },
      'allocation scoring threads did not start: scoring in-thread',
    );
    return new LearnedAllocationScorer(handle);
  }
}
