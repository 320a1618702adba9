// Online learning and LLM reward weights in the Kafka job (learn.online.enabled, learn.llm.enabled).
// Both write control records to the allocator's input topic (pipelines/allocator-control.ts) with
// their own producer: a model version the learner trained, or reward weights an LLM proposed, reach
// the allocator through its log, so a replay after a crash decides exactly as the first run did.
// The learner runs where the allocator task runs (it learns from the allocator's tick reports); on
// an instance without the allocator it only waits.
import type { StateRedis } from '../../state/redis-options.js';
import type { AgentConfig } from '../../agents/config.js';
import type { RuntimeConfig } from '../../core/config.js';
import type { Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import { KafkaSink } from '../../io/kafka.js';
import type { LearnConfig } from '../../learn/config.js';
import { LlmRewardWeightsProvider } from '../../learn/llm-weights.js';
import { RedisModelStore } from '../../learn/model-store.js';
import { LlmWeightsDriver } from '../../learn/online/llm-driver.js';
import { createOnlineLearning } from '../../learn/online/index.js';
import {
  controlInput,
  type AllocatorControlSink,
  type AllocatorModelPort,
} from '../../pipelines/allocator-control.js';
import type { TickReport } from '../../pipelines/allocator-task.js';
import type { RecordSerde } from '../../pipelines/task.js';
import type { TopologyNames } from '../../pipelines/topology.js';

export interface JobLearning {
  /** GraphSettings.models (absent with learning off). */
  models?: AllocatorModelPort;
  /** Called with every tick report. */
  onTick(report: TickReport): void;
  stop(): Promise<void>;
}

export interface JobLearningOptions {
  config: RuntimeConfig;
  learn: LearnConfig;
  agents: AgentConfig;
  names: TopologyNames;
  serde: RecordSerde;
  redis: StateRedis;
  log: Logger;
  metrics: Metrics;
}

/** null when neither online learning nor the LLM provider is configured. */
export async function startJobLearning(o: JobLearningOptions): Promise<JobLearning | null> {
  const { learn, log } = o;
  if (!learn.online.enabled && !learn.llm.enabled) return null;
  const sink = new KafkaSink({
    brokers: o.config.kafka.brokers,
    rdkafka: o.config.kafka.rdkafka,
    clientId: `${o.config.appId}-learner`,
  });
  await sink.connect();
  const control: AllocatorControlSink = {
    async send(c) {
      await sink.send(o.names.allocatorInput, null, o.serde.encode('AllocatorInput', controlInput(c)), {
        partition: 0,
      });
    },
  };
  if (learn.online.enabled && learn.scorer === 'learned')
    log.warn(
      { event: 'learner.scorer_ignored' },
      'learn.scorer=learned is ignored with online learning on: the allocator scores with the versions the learner publishes',
    );
  const online = learn.online.enabled
    ? await createOnlineLearning({
        config: learn,
        agents: o.agents,
        control,
        store: new RedisModelStore(o.redis, o.config.appId),
        mode: 'job',
        log,
        metrics: o.metrics,
      })
    : null;
  const llm =
    learn.llm.enabled && learn.llm.url
      ? new LlmWeightsDriver(
          new LlmRewardWeightsProvider(
            { ...learn.llm, url: learn.llm.url },
            { initial: { ...o.agents.system.defaultWeights }, logger: log, metrics: o.metrics },
          ),
          { control, intervalMs: learn.llm.intervalMs, log, metrics: o.metrics },
        )
      : null;
  llm?.start();
  return {
    models: online?.models,
    onTick(r) {
      online?.onTick(r);
      llm?.onTick(r);
    },
    async stop() {
      llm?.stop();
      await online?.close();
      await sink.disconnect();
    },
  };
}
