// learn/online/: online learning of the allocation network, wired the same way for the Kafka job
// (runtime/kafka/run-job.ts) and the simulator (sim/policy/learned-policy.ts). createOnlineLearning() gives
// the allocator's model port (GraphSettings.models), the tick-report hook (GraphSettings.onTick)
// and the learner behind them; the caller supplies where control records go.
import type { AgentConfig } from '../../agents/config.js';
import { ConfigError } from '../../core/errors.js';
import { LOG_EVENTS, silentLogger, type Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { AllocatorControlSink } from '../../pipelines/allocator-control.js';
import type { TickReport } from '../../pipelines/allocator-task.js';
import { LearnedAllocationScorer, allocationNet, initAllocationWeights } from '../allocation-model.js';
import { BACKEND_CONFIG_KEY, selectBackend, type BackendName } from '../backend.js';
import type { LearnConfig } from '../config.js';
import { learnedScorer } from '../job-scorer.js';
import type { ModelStore } from '../model-store.js';
import { ModelHandle } from '../network.js';
import { ShardedAllocationScorer, defaultScorerThreads } from '../sharded-scorer.js';
import { OnlineAllocatorModels } from './allocator-models.js';
import { OnlineLearner, type LearnerEvent } from './learner.js';
import { InlineTrainRunner, WorkerTrainRunner, type TrainRunner } from './train-runner.js';

export * from './allocator-models.js';
export * from './guard.js';
export * from './learner.js';
export * from './reward-join.js';
export * from './scorers.js';
export * from './train-runner.js';
export * from './train-work.js';

export interface OnlineLearningOptions {
  config: LearnConfig;
  agents: AgentConfig;
  control: AllocatorControlSink;
  store?: ModelStore;
  /**
   * job: PPO in a worker thread (or inline between batches, learn.online.trainIn), published when
   * done; scoring threads as the job scorer has them. simulation: in-thread, published inside the
   * tick that triggered it, so the same seed gives the same run.
   */
  mode: 'job' | 'simulation';
  log?: Logger;
  metrics?: Metrics;
  onEvent?: (e: LearnerEvent) => void;
}

export interface OnlineLearning {
  models: OnlineAllocatorModels;
  learner: OnlineLearner;
  /** GraphSettings.onTick. */
  onTick(report: TickReport): void;
  backend: BackendName;
  close(): Promise<void>;
}

/** The host loader of a backend (training threads load their own tfjs). */
const LOADER_OF: Record<BackendName, 'gpu' | 'wasm' | 'cpu' | null> = {
  tensorflow: 'gpu',
  wasm: 'wasm',
  cpu: 'cpu',
  webgpu: null,
};

export async function createOnlineLearning(o: OnlineLearningOptions): Promise<OnlineLearning> {
  const cfg = o.config;
  const log = o.log ?? silentLogger;
  if (cfg.backend === 'webgpu')
    throw new ConfigError(
      BACKEND_CONFIG_KEY,
      'online learning trains and scores with synchronous reads: use auto, gpu, wasm or cpu',
    );
  const { backend } = await selectBackend({ requested: cfg.backend, logger: log, metrics: o.metrics });
  const handle = new ModelHandle(allocationNet, initAllocationWeights(cfg.seed));
  const job = o.mode === 'job';
  const learned = job
    ? await learnedScorer(handle, backend, cfg.scorerWorkers ?? defaultScorerThreads(), log)
    : new LearnedAllocationScorer(handle);
  const on = cfg.online;
  const models = new OnlineAllocatorModels({
    learned,
    handle,
    threshold: o.agents.system.scoreThreshold,
    seed: cfg.seed,
    ruleHoldout: on.ruleHoldout,
    store: o.store,
    log,
    metrics: o.metrics,
  });
  const runner = job ? await jobRunner(cfg, backend, log) : new InlineTrainRunner(cfg.ppo, cfg.seed);
  const learner = new OnlineLearner(
    { models, runner, control: o.control, store: o.store, log, metrics: o.metrics, onEvent: o.onEvent },
    {
      seed: cfg.seed,
      warmupMs: on.warmupMs,
      warmupMaxRows: on.warmupMaxRows,
      imitationTemperature: on.imitationTemperature,
      threshold: o.agents.system.scoreThreshold,
      minBatch: cfg.trainer.minBatch,
      maxBatch: cfg.trainer.maxBatch,
      join: { reward: cfg.reward, credit: on.credit, maxDenialsPerTick: on.maxDenialsPerTick },
      guard: on.guard,
      maxRollbacks: on.maxRollbacks,
    },
  );
  await learner.init();
  log.info(
    { event: 'learner.started', backend, trainIn: runner instanceof WorkerTrainRunner ? 'thread' : 'inline' },
    'online learning on',
  );
  return {
    models,
    learner,
    onTick: (r) => learner.onTick(r),
    backend,
    async close() {
      await runner.close();
      if (learned instanceof ShardedAllocationScorer) await learned.close();
      handle.dispose();
    },
  };
}

/** The job's training thread; if it cannot start, inline between batches (logged). */
async function jobRunner(cfg: LearnConfig, backend: BackendName, log: Logger): Promise<TrainRunner> {
  const loader = LOADER_OF[backend];
  if (cfg.online.trainIn === 'thread' && loader) {
    try {
      const runner = await WorkerTrainRunner.create({ backend: loader, ppo: cfg.ppo, seed: cfg.seed });
      runner.onDeath = (why) =>
        log.error(
          { event: LOG_EVENTS.learnerFailed, err: why },
          'training thread died: training in the job thread between batches from now on',
        );
      return runner;
    } catch (e) {
      log.warn(
        { event: 'learner.thread_failed', err: (e as Error).message },
        'training thread did not start: training in the job thread between batches',
      );
    }
  }
  return new InlineTrainRunner(cfg.ppo, cfg.seed, false);
}
