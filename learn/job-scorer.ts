// Picks the Kafka job's allocation scorer from the learn config (issue 7): `rule` (default) or
// `learned`, the allocation network loaded from the model store (Redis in the job) by version.
// No stored weights, or weights that cannot load, is not fatal: the job allocates with the rule
// scorer, logs a warning and counts thermostat_scorer_fallback_total{reason}. The job never trains
// here (training runs where the experiences are, e.g. the simulator or a trainer process); a new
// version is picked up at the next start or by `reload()`.
import { Counter, type Registry } from 'prom-client';
import { RuleScorer } from '../agents/rule-scorer.js';
import type { AllocationScorer } from '../agents/scorer.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import { ALLOCATION_MODEL_NAME, LearnedAllocationScorer, allocationNet } from './allocation-model.js';
import { selectBackend, type BackendLoaders } from './backend.js';
import type { LearnConfig } from './config.js';
import { loadLatestWeights, type ModelStore } from './model-store.js';
import { ModelHandle } from './network.js';

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
  dispose(): void;
}

export interface JobScorerOptions {
  config: Pick<LearnConfig, 'scorer' | 'modelSeq' | 'backend'>;
  store?: ModelStore;
  logger?: Logger;
  metrics?: Pick<Metrics, 'register' | 'backend' | 'modelVersion'>;
  loaders?: Partial<BackendLoaders>;
}

const rule = (fallback?: ScorerFallbackReason): JobScorer => {
  const s = new RuleScorer();
  return { scorer: () => s, selected: 'rule', version: s.modelVersion, fallback, dispose() {} };
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
  await selectBackend({ requested: cfg.backend, logger: log, metrics, loaders: opts.loaders });
  const handle = new ModelHandle(allocationNet, weights);
  const scorer = new LearnedAllocationScorer(handle);
  metrics?.modelVersion.set(weights.seq);
  log.info(
    { event: 'scorer.selected', scorer: 'learned', version: handle.version },
    'allocation scorer: learned',
  );
  return {
    scorer: () => scorer,
    selected: 'learned',
    version: handle.version,
    dispose: () => handle.dispose(),
  };
}
