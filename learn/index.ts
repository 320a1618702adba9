// learn/: TensorFlow.js models behind the agents/ interfaces. createLearning() is the one call the
// job (and the simulator) makes at start: backend selection, weights restored from the model store
// (or seeded), scorers, experience buffers, trainers and the optional LLM reward-weights provider.
import { silentLogger, type Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { RewardWeights } from '../schemas/types.js';
import {
  LearnedAllocationScorer,
  allocationNet,
  initAllocationWeights,
  ALLOCATION_MODEL_NAME,
} from './allocation-model.js';
import { ConfigError } from '../core/errors.js';
import { BACKEND_CONFIG_KEY, selectBackend, type BackendLoaders, type BackendSelection } from './backend.js';
import type { LearnConfig } from './config.js';
import { ExperienceBuffer } from './experience.js';
import { LearnedExplorePolicy, exploreNet, initExploreWeights, EXPLORE_MODEL_NAME } from './explore-model.js';
import { LlmRewardWeightsProvider } from './llm-weights.js';
import { loadLatestWeights, type ModelStore } from './model-store.js';
import { ModelHandle, type BernoulliNet, type WeightSet } from './network.js';
import { Trainer } from './trainer.js';

export * from './allocation-model.js';
export * from './backend.js';
export * from './config.js';
export * from './experience.js';
export * from './explore-model.js';
export * from './llm-weights.js';
export * from './model-store.js';
export * from './network.js';
export * from './ppo.js';
export * from './trainer.js';
export * from './imitation.js';

export interface LearnedModel<S> {
  handle: ModelHandle;
  /** The agents/ interface implementation (AllocationScorer or ExplorePolicy). */
  scorer: S;
  buffer: ExperienceBuffer;
  trainer: Trainer;
  /** Where the initial weights came from. */
  restoredFrom: 'store' | 'seed';
}

export interface Learning {
  backend: BackendSelection;
  allocation: LearnedModel<LearnedAllocationScorer>;
  explore: LearnedModel<LearnedExplorePolicy>;
  /** Present when config.llm.enabled. Not started: call llm.start(objectivesGetter, onWeights). */
  llm?: LlmRewardWeightsProvider;
  dispose(): void;
}

export interface CreateLearningOptions {
  config: LearnConfig;
  /** Checkpoints; without one, weights are seeded and never persisted (simulator, tests). */
  store?: ModelStore;
  logger?: Logger;
  metrics?: Metrics;
  /** Weights in force before any LLM answer (business-objectives or defaults). */
  initialRewardWeights?: RewardWeights;
  loaders?: Partial<BackendLoaders>;
}

async function restore(
  net: BernoulliNet,
  name: string,
  seeded: () => WeightSet,
  store: ModelStore | undefined,
): Promise<{ w: WeightSet; from: 'store' | 'seed' }> {
  const w = store ? await loadLatestWeights(store, net, name) : undefined;
  return w ? { w, from: 'store' } : { w: seeded(), from: 'seed' };
}

export async function createLearning(opts: CreateLearningOptions): Promise<Learning> {
  const { config: cfg, store, metrics } = opts;
  const logger = opts.logger ?? silentLogger;
  // Training and the simulator's in-thread scoring read tensors synchronously; Node reads WebGPU
  // tensors asynchronously only (learn/webgpu.ts), so webgpu serves the job's scorer thread alone.
  if (cfg.backend === 'webgpu')
    throw new ConfigError(
      BACKEND_CONFIG_KEY,
      "webgpu serves the Kafka job's allocation scorer only (Node reads WebGPU tensors asynchronously); training and the simulator need auto, gpu, wasm or cpu",
    );
  const backend = await selectBackend({ requested: cfg.backend, logger, metrics, loaders: opts.loaders });
  const trainerCfg = { ...cfg.trainer, ppo: cfg.ppo, seed: cfg.seed };

  const a = await restore(allocationNet, ALLOCATION_MODEL_NAME, () => initAllocationWeights(cfg.seed), store);
  const aHandle = new ModelHandle(allocationNet, a.w);
  const aBuffer = new ExperienceBuffer(cfg.reward);
  const allocation: LearnedModel<LearnedAllocationScorer> = {
    handle: aHandle,
    scorer: new LearnedAllocationScorer(aHandle),
    buffer: aBuffer,
    trainer: new Trainer({ handle: aHandle, buffer: aBuffer, store, logger, metrics }, trainerCfg),
    restoredFrom: a.from,
  };

  const e = await restore(exploreNet, EXPLORE_MODEL_NAME, () => initExploreWeights(cfg.seed), store);
  const eHandle = new ModelHandle(exploreNet, e.w);
  const eBuffer = new ExperienceBuffer({ ...cfg.reward, settleDenialsAtOnce: false }); // exploit has outcomes too
  // The explore trainer does not drive thermostat_model_version (that gauge is the allocation model's).
  const explore: LearnedModel<LearnedExplorePolicy> = {
    handle: eHandle,
    scorer: new LearnedExplorePolicy(eHandle),
    buffer: eBuffer,
    trainer: new Trainer({ handle: eHandle, buffer: eBuffer, store, logger }, trainerCfg),
    restoredFrom: e.from,
  };
  logger.info(
    {
      allocation: aHandle.version,
      allocationFrom: a.from,
      explore: eHandle.version,
      exploreFrom: e.from,
      backend: backend.backend,
    },
    'learned models ready',
  );

  let llm: LlmRewardWeightsProvider | undefined;
  if (cfg.llm.enabled && cfg.llm.url) {
    llm = new LlmRewardWeightsProvider(
      { ...cfg.llm, url: cfg.llm.url },
      {
        initial: opts.initialRewardWeights ?? {
          user_satisfaction: 0.4,
          platform_revenue: 0.3,
          long_term: 0.3,
        },
        logger,
        metrics,
      },
    );
  }

  return {
    backend,
    allocation,
    explore,
    llm,
    dispose() {
      llm?.stop();
      for (const m of [allocation, explore]) {
        m.trainer.dispose();
        m.handle.dispose();
      }
    },
  };
}
export * from './credit.js';
export * from './job-scorer.js';
