// Assembles the production job from configuration: serde (local or HTTP schema registry), topics,
// Redis checkpoint store behind write-behind, Kafka consumers/producer, the KafkaJob, and the
// ops HTTP server (/metrics, /healthz, /readyz). `thermostat run` calls startJob().
import type { AgentConfig } from '../../agents/config.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { RuntimeConfig } from '../../core/config.js';
import { LOG_EVENTS, type Logger } from '../../core/log.js';
import { createMetrics, type Metrics } from '../../core/metrics.js';
import { startOpsServer, type OpsServer } from '../../io/http.js';
import { createJobScorer } from '../../learn/job-scorer.js';
import type { LearnConfig } from '../../learn/config.js';
import { RedisModelStore } from '../../learn/model-store.js';
import { KafkaSink, KafkaSource } from '../../io/kafka.js';
import { Serde } from '../../io/serde.js';
import { ensureTopics } from '../../io/topics.js';
import { stateExpiry } from '../../state/expiry.js';
import { CheckpointLostError, RedisCheckpointStore } from '../../state/redis-checkpoint.js';
import { connectStateRedis, defaultMinReplicaAcks, type StateRedis } from '../../state/redis-options.js';
import { WriteBehind } from '../../state/write-behind.js';
import { startJobLearning } from './job-learning.js';
import { KafkaJob } from './job.js';
import type { SinkPort, SourceOptions, SourcePort } from './ports.js';
import type { GraphSettings } from '../../pipelines/task-factory.js';
import type { RawRecord } from '../task-runner.js';
import { topicSpecs, topologyNames, tpKey } from '../../pipelines/topology.js';
import { prepareWriters, wireSerde } from '../../pipelines/wire-serde.js';
import { DegradedReadiness } from '../readiness.js';
import { LoadHealth } from '../state-gate.js';

export interface JobOptions {
  /** Validated at start (core/config.ts loadConfig): agents and learn sections included. */
  config: RuntimeConfig;
  /** The agent rules, instead of the config's `agents` section. */
  agents?: AgentConfig;
  log: Logger;
  metrics?: Metrics;
  clock?: Clock;
  /** The learn section (scorer choice, model version, backend), instead of the config's. */
  learn?: LearnConfig;
}

export interface RunningJob {
  job: KafkaJob;
  metrics: Metrics;
  ops: OpsServer;
  /** Graceful stop: drain, final checkpoint, commit, disconnect. */
  stop(): Promise<void>;
}

/** A KafkaSource as the job's SourcePort. */
function sourcePort(cfg: RuntimeConfig, o: SourceOptions, log: Logger): SourcePort {
  const source = new KafkaSource({
    brokers: cfg.kafka.brokers,
    groupId: o.groupId,
    topics: o.topics,
    // One consumer per stage, each in its own group, so the same instance id is unique per group.
    rdkafka: cfg.kafka.instanceId
      ? { 'group.instance.id': cfg.kafka.instanceId, ...cfg.kafka.rdkafka }
      : cfg.kafka.rdkafka,
    onAssign: async (tps) => {
      const start = await o.onAssign(tps);
      return new Map(start.map((p) => [tpKey(p.topic, p.partition), p.offset]));
    },
    onRevoke: (tps, lost) => o.onRevoke(tps, lost),
    onEof: (tp, end) => o.onEof?.(tp, end),
    onError: (err) => log.warn({ err, group: o.groupId }, 'kafka consumer error'),
  });
  return {
    connect: () => source.connect(),
    poll: async (max, timeoutMs) =>
      (await source.poll(max, timeoutMs)).map((r): RawRecord => ({
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        key: r.key === null ? null : r.key.toString('utf8'),
        value: r.value,
        timestamp: r.timestamp,
        headers: headerStrings(r.headers),
      })),
    commit: (offsets) =>
      source.commit(offsets.map((o2) => ({ topic: o2.topic, partition: o2.partition, offset: o2.offset }))),
    lag: () => [...source.lag().values()].reduce((a, b) => a + b, 0),
    endOffset: (tp) => source.endOffset(tp),
    pause: (tps) => source.pause([...tps]),
    resume: (tps) => source.resume([...tps]),
    disconnect: () => source.disconnect(),
  };
}

/** Record headers as strings (the job reads only its own ASCII headers); none: undefined. */
function headerStrings(h: Record<string, Buffer>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(h)) (out ??= {})[k] = v.toString('utf8');
  return out;
}

/**
 * A KafkaSink as the job's SinkPort: sends are fire-and-forget (`produce`: no promise per record;
 * the checkpoint awaits `flush`), and a failed delivery fails the next flush, so a checkpoint
 * never covers a lost output.
 */
function sinkPort(sink: KafkaSink, log: Logger): SinkPort {
  return {
    send(topic, key, value, opts) {
      sink.produce(topic, key, value, opts);
    },
    async flush() {
      try {
        await sink.flush();
      } catch (e) {
        log.error({ err: e }, 'delivery failed');
        throw e;
      }
    },
    disconnect: () => sink.disconnect(),
  };
}

export async function startJob(opts: JobOptions): Promise<RunningJob> {
  const { config: cfg, log } = opts;
  // Redis first: one the job cannot use (unreachable within redis.connectTimeoutMs, refused
  // credentials) ends the start with a one-line error before anything is created.
  const redis = await connectStateRedis(cfg.redis, { connectTimeoutMs: cfg.redis.connectTimeoutMs }, (err) =>
    log.warn({ err, event: LOG_EVENTS.redisDown }, 'redis error'),
  );
  try {
    return await assembleJob(opts, redis);
  } catch (e) {
    redis.disconnect(); // a client left connected would keep the failed process alive
    throw e;
  }
}

async function assembleJob(opts: JobOptions, redis: StateRedis): Promise<RunningJob> {
  const { config: cfg, log } = opts;
  const clock = opts.clock ?? systemClock;
  const metrics = opts.metrics ?? createMetrics();
  const agents = opts.agents ?? cfg.agents;
  const names = topologyNames(cfg.appId, cfg.topicPrefix);
  const partitions = cfg.kafka.inputPartitions;

  // Topics first: every topic of the graph, plus the late side output and internal DLQs.
  await ensureTopics(topicSpecs(names, partitions), {
    brokers: cfg.kafka.brokers,
    rdkafka: cfg.kafka.rdkafka,
    replicationFactor: cfg.kafka.replicationFactor,
  });

  const serde = Serde.fromConfig(cfg);
  await prepareWriters(names, serde);
  const recordSerde = wireSerde(names, serde);

  const store = new RedisCheckpointStore({
    redis,
    appId: cfg.appId,
    metrics,
    minReplicaAcks: cfg.redis.minReplicaAcks ?? defaultMinReplicaAcks(cfg.redis.url),
    replicaAckTimeoutMs: cfg.redis.replicaAckTimeoutMs,
    expireAfterMs: stateExpiry(cfg.state),
  });
  const learn = opts.learn ?? cfg.learn;
  // Online learning / LLM reward weights: control records on the allocator's input log.
  const learning = await startJobLearning({
    config: cfg,
    learn,
    agents,
    names,
    serde: recordSerde,
    redis,
    log,
    metrics,
  });
  // Allocation scorer: rule, or the learned network from the model store (rule + warning when absent).
  const jobScorer = await createJobScorer({
    config: learning?.models ? { ...learn, scorer: 'rule' } : learn,
    store: new RedisModelStore(redis, cfg.appId),
    logger: log,
    metrics,
  });
  let job: KafkaJob | null = null;
  const writeBehind = new WriteBehind({
    store,
    maxQueuedEntries: cfg.redis.maxQueuedEntries,
    clock,
    metrics,
    log,
    onDurable: (task, offsets) => void job?.onDurable(task, offsets),
    onFenced: (task, err) => {
      // Redis lost checkpoints it had confirmed: this process is past what Redis holds. As after
      // a lost output, only a restart from Redis' state (restore, replay from its offsets) is safe.
      if (err instanceof CheckpointLostError) {
        log.fatal(
          { err, task },
          'Redis lost confirmed checkpoints: exiting to restart from the state it holds',
        );
        process.exit(70);
      }
      log.warn({ err, task, event: LOG_EVENTS.checkpointFenced }, 'task fenced by a newer owner');
      job?.onFenced(task);
    },
  });
  redis.on('ready', () => writeBehind.kick());

  // Fire-and-forget outputs (produce + flush at checkpoints): delivery reports for failures only.
  const kafkaSink = new KafkaSink({
    brokers: cfg.kafka.brokers,
    rdkafka: cfg.kafka.rdkafka,
    clientId: `${cfg.appId}-producer`,
    errorReportsOnly: true,
  });
  await kafkaSink.connect();

  const settings: GraphSettings = {
    names,
    partitions,
    objectivesPartitions: 1,
    agents,
    timing: {
      tickMs: cfg.tickMs,
      outOfOrdernessMs: cfg.watermark.outOfOrdernessMs,
      allowedLatenessMs: cfg.watermark.allowedLatenessMs,
      idleMaxLagMs: cfg.watermark.idleMaxLagMs,
      maxAheadMs: cfg.watermark.maxAheadMs,
      aheadPolicy: cfg.watermark.aheadPolicy,
      userIdleTtlMs: cfg.state.userIdleTtlMs,
      contentIdleTtlMs: cfg.state.contentIdleTtlMs,
    },
    maxRecordBytes: cfg.kafka.maxRecordBytes,
    partitionMismatch: cfg.kafka.partitionMismatch,
    onMisrouted: (topic) => metrics.misroutedRecords.inc({ topic, action: cfg.kafka.partitionMismatch }),
    clock,
    loadHealth: new LoadHealth(clock),
    seed: cfg.seed,
    cacheMaxEntries: cfg.state.cacheMaxEntries,
    scorer: jobScorer.scorer,
    models: learning?.models,
    onFlagged: () => metrics.flaggedContent.inc(),
    onTick: (r) => {
      metrics.allocationTicks.inc();
      metrics.heatedShare.set(r.metrics.heatedShare);
      metrics.budgetPoolRemaining.set(r.metrics.poolRemaining);
      metrics.clearingPrice.set(r.metrics.clearingScore);
      metrics.heatingCap.set(r.metrics.heatingCap);
      metrics.heatingCapBinding.set(r.metrics.capBinding ? 1 : 0);
      metrics.allocatedImpressions.inc(r.metrics.grantedImpressions);
      metrics.unjoinedDeliveries.inc(r.metrics.unjoinedDeliveries);
      metrics.heatingRequests.inc(r.metrics.requests);
      if (r.totals.new_content_impressions > 0)
        metrics.newContentCtr.set(r.totals.new_content_clicks / r.totals.new_content_impressions);
      for (const a of r.allocations) metrics.allocations.inc({ policy: a.policy });
      learning?.onTick(r);
    },
  };
  metrics.heatingCap.set(agents.system.heatingCap);

  job = new KafkaJob({
    settings,
    agents,
    serde: recordSerde,
    store,
    writeBehind,
    createSource: (o) => sourcePort(cfg, o, log),
    sink: sinkPort(kafkaSink, log),
    clock,
    metrics,
    log,
    appId: cfg.appId,
    batchSize: cfg.kafka.batchSize,
    commitIntervalMs: cfg.commitIntervalMs,
    commitMinIntervalMs: cfg.commitMinIntervalMs,
    maxDirtyBeforeCheckpoint: cfg.state.maxDirtyBeforeCheckpoint,
    maxParkedRecords: cfg.redis.maxParkedRecords,
    idleTimeoutMs: cfg.watermark.idleTimeoutMs,
  });
  const running = job;

  const readiness = new DegradedReadiness(clock, cfg.redis.degradedReadyLimitMs);
  const ops = await startOpsServer({
    port: cfg.http.port,
    host: cfg.http.host,
    register: metrics.register,
    readiness: () => {
      const r = readiness.check({
        starting: running.notReadyReason(),
        health: writeBehind.health(),
        parked: running.parkedRecords(),
      });
      metrics.ready.set(r.ready ? 1 : 0);
      metrics.degraded.set(r.degraded ? 1 : 0);
      return r;
    },
  });

  await running.start();

  return {
    job: running,
    metrics,
    ops,
    async stop() {
      await running.stop();
      writeBehind.close();
      await learning?.stop();
      await jobScorer.dispose();
      await ops.close();
      redis.disconnect();
    },
  };
}
