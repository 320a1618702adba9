// `thermostat run`: the main job. Validates the whole configuration first (before any I/O), brings
// up the local stack unless kafka.brokers is set (KAFKA_BROKERS or the config file), checks
// the brokers answer, starts the three-stage graph on Kafka (state checkpointed to Redis), feeds
// seeded sample traffic on the local stack (served by a sample ranker that follows the job's
// allocations, so heated impressions and their outcomes flow back), reports live stats, and stops
// gracefully on
// SIGTERM/SIGINT (stop fetching, drain, final checkpoint, commit, disconnect) within
// shutdownTimeoutMs.
import type { Command } from 'commander';
import { buildInfo, readBuildInfo } from '../../core/build-info.js';
import { loadConfig, type RuntimeConfig } from '../../core/config.js';
import { ThermostatError } from '../../core/errors.js';
import { createLogger, LOG_EVENTS, type Logger } from '../../core/log.js';
import { createMetrics, type Metrics } from '../../core/metrics.js';
import { KafkaSink } from '../../io/kafka.js';
import { probeBroker } from '../../io/probe.js';
import { latestEventTime, startSampleProducer } from '../../io/sample-producer.js';
import { startSampleRanker } from '../../io/sample-ranker.js';
import { SampleTraffic } from '../../io/sample-traffic.js';
import { Serde } from '../../io/serde.js';
import { startJob } from '../../runtime/kafka/run-job.js';
import { topologyNames, type TopologyNames } from '../../pipelines/topology.js';
import { prepareWriters } from '../../pipelines/wire-serde.js';
import { formatStats, startLiveStats, type Stats, type StatsSample } from '../live-stats.js';
import { decimal, integer } from '../options.js';
import { runStackScript } from './stack.js';

interface RunOptions {
  sampleTraffic?: boolean;
  rate: number;
  corruptFraction: number;
}

/** The demo's sample traffic: event time runs this many times faster than the wall clock. */
const DEMO_SPEEDUP = 20;
/** With online learning on, 100×: its 2-hour event-time warm-up passes in about 72 s. */
const DEMO_LEARNING_SPEEDUP = 100;
/**
 * The demo publishes a new content after every this many interactions (a live catalogue): each
 * new item gets a trial of about 25 impressions, so trials take under a tenth of the traffic and
 * leave room in the pool for heat that follows evidence.
 */
const DEMO_PUBLISH_EVERY = 300;
/**
 * Users and contents of the demo's sample traffic. At the default rate and DEMO_SPEEDUP a user makes
 * about 18 requests per hour of event time, so the serving helper's per-user cap (4 heated an hour)
 * leaves room for the job's heating cap (20%) to be the limit, as on a platform. A faster demo has
 * proportionally fewer users, so that stays true.
 */
const DEMO_USERS = 20_000;
const DEMO_CONTENTS = 1000;
/** How long the start-up probe waits for the brokers. */
const BROKER_PROBE_MS = 10_000;

const sumOf = async (
  m: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> },
  filter: (l: Record<string, unknown>) => boolean = () => true,
) => (await m.get()).values.filter((v) => filter(v.labels)).reduce((a, v) => a + v.value, 0);

/**
 * Seeded sample traffic on the job's own input topics (topicPrefix included), its page requests
 * served by a ranker that follows the job's allocations and reads mind states from Redis.
 */
async function startSampleTraffic(
  cfg: RuntimeConfig,
  names: TopologyNames,
  o: RunOptions & { speedup: number },
  log: Logger,
) {
  const serde = Serde.fromConfig(cfg);
  await prepareWriters(names, serde);
  const sink = new KafkaSink({
    brokers: cfg.kafka.brokers,
    rdkafka: cfg.kafka.rdkafka,
    clientId: `${cfg.appId}-sample`,
  });
  await sink.connect();
  // Event time `speedup`× faster than the wall clock, so an allocation tick closes every few
  // seconds; a rerun goes on from where the previous one left event time (else all late).
  const stepMs = (o.speedup * 1000) / o.rate;
  const resumeAt = await latestEventTime({
    brokers: cfg.kafka.brokers,
    rdkafka: cfg.kafka.rdkafka,
    topic: names.interactions,
    serde,
  });
  const traffic = new SampleTraffic(serde, {
    seed: cfg.seed,
    users: Math.round((DEMO_USERS * DEMO_SPEEDUP) / o.speedup),
    contents: DEMO_CONTENTS,
    startTime: Math.max(Date.now(), resumeAt + stepMs),
    stepMs,
    publishEvery: DEMO_PUBLISH_EVERY,
    topics: names,
  });
  const ranker = await startSampleRanker({
    brokers: cfg.kafka.brokers,
    rdkafka: cfg.kafka.rdkafka,
    allocationsTopic: names.allocations,
    serde,
    redis: cfg.redis,
    appId: cfg.appId,
    partitions: cfg.kafka.inputPartitions,
    now: () => traffic.now(),
    onError: (err) => log.warn({ err }, 'sample ranker'),
  });
  const producer = await startSampleProducer(sink, traffic, {
    ratePerSec: o.rate,
    corruptFraction: o.corruptFraction,
    ranker: ranker.ranker,
  });
  return {
    producer,
    activeAllocations: () => ranker.ranker.activeCount(traffic.now()),
    async stop() {
      await producer.stop();
      await ranker.stop();
      await sink.disconnect();
    },
  };
}

/**
 * The event-time bound (watermark.maxAheadMs) for sample traffic `speedup`× faster than the wall
 * clock. Its records run ahead of their Kafka timestamps, so the bound rests on each partition's
 * last event time, and at 100× a content-published partition gets a publication only every minute
 * or two of event time: one gap past 5 min and the partition refuses every later publication.
 * Scaled with the speed, the bound keeps the 20× demo's margin (15 s of wall time).
 */
function demoBound(cfg: RuntimeConfig, speedup: number): RuntimeConfig {
  const maxAheadMs = Math.round((cfg.watermark.maxAheadMs * speedup) / DEMO_SPEEDUP);
  return { ...cfg, watermark: { ...cfg.watermark, maxAheadMs } };
}

/** Samples the job's metrics in the background, for the live stats. */
function sampleMetrics(metrics: Metrics, names: TopologyNames, ready: () => boolean) {
  let latest: StatsSample = {
    recordsIn: 0,
    dlq: 0,
    lag: 0,
    allocations: 0,
    heatedShare: 0,
    model: 0,
  };
  const timer = setInterval(() => {
    void Promise.all([
      sumOf(metrics.recordsIn, (l) => l.stage === 'user' && l.topic === names.interactions),
      sumOf(metrics.dlqRecords),
      sumOf(metrics.allocations),
      metrics.heatedShare.get().then((g) => g.values[0]?.value ?? 0),
      sumOf(metrics.consumerLag),
      sumOf(metrics.budgetPoolRemaining),
      sumOf(metrics.allocationTicks),
      sumOf(metrics.modelVersion),
    ]).then(([recordsIn, dlq, allocations, heatedShare, lag, pool, ticks, model]) => {
      // The pool is known once the allocator ran a tick (the gauge reads 0 before).
      const poolRemaining = ticks > 0 ? pool : undefined;
      latest = { recordsIn, dlq, allocations, heatedShare, lag, poolRemaining, model };
    });
  }, 500);
  timer.unref();
  return { latest: () => ({ ...latest, ready: ready() }), stop: () => clearInterval(timer) };
}

/** A text line on a terminal; a JSON log line otherwise (never plain text in a JSON log). */
function statsWriter(log: Logger): (s: Stats) => void {
  return process.stdout.isTTY
    ? (s) => process.stdout.write(`${formatStats(s)}\n`)
    : (s) => log.info({ event: 'job.stats', ...s }, 'stats');
}

async function run(o: RunOptions): Promise<void> {
  const { config: cfg, isSet } = loadConfig();
  const log = createLogger(cfg.logLevel);
  const external = isSet('kafka.brokers');
  if (!external && runStackScript('up') !== 0)
    throw new ThermostatError('DEPENDENCY', 'the local stack did not start (see .stack/kafka/server.log)');
  await probeBroker(cfg.kafka.brokers, { rdkafka: cfg.kafka.rdkafka, timeoutMs: BROKER_PROBE_MS });
  const metrics = createMetrics(undefined, {
    build: cfg.revision ? readBuildInfo(cfg.revision) : buildInfo(),
  });
  const learn = cfg.learn;
  // Sample traffic only on the embedded stack: never write test data into someone's cluster.
  const sampling = o.sampleTraffic ?? !external;
  const speedup = learn.online.enabled ? DEMO_LEARNING_SPEEDUP : DEMO_SPEEDUP;
  const running = await startJob({ config: sampling ? demoBound(cfg, speedup) : cfg, log, metrics, learn });
  const names = topologyNames(cfg.appId, cfg.topicPrefix);

  const sample = sampling ? await startSampleTraffic(cfg, names, { ...o, speedup }, log) : undefined;
  const stats = sampleMetrics(metrics, names, () => running.job.ready);
  const stopStats = startLiveStats(
    () => ({
      ...stats.latest(),
      ...(sample && {
        produced: sample.producer.produced(),
        served: sample.producer.served(),
        allocationsActive: sample.activeAllocations(),
      }),
    }),
    statsWriter(log),
  );

  log.info(
    { event: LOG_EVENTS.started, brokers: cfg.kafka.brokers, metrics: `${running.ops.url}/metrics` },
    'thermostat running',
  );
  if (process.stdout.isTTY)
    process.stdout.write(
      `thermostat: job running on ${cfg.kafka.brokers}; metrics at ${running.ops.url}/metrics, health at ${running.ops.url}/readyz (Ctrl-C to stop)\n`,
    );

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ event: LOG_EVENTS.stopping, signal });
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  const force = setTimeout(() => {
    log.error('shutdown timed out');
    process.exit(1);
  }, cfg.shutdownTimeoutMs);
  force.unref();
  stopStats();
  stats.stop();
  await sample?.stop();
  await running.stop();
  log.info({ event: LOG_EVENTS.stopped });
  process.exit(0);
}

export function register(program: Command): void {
  program
    .command('run')
    .description(
      'Run the job: the three-stage graph on Kafka with Redis checkpoints (sample traffic on the local stack)',
    )
    .option('--sample-traffic', 'produce seeded sample traffic in-process (default: only on the local stack)')
    .option('--no-sample-traffic', 'do not produce sample traffic')
    .option('--rate <n>', 'sample interactions per second', integer(1, 1_000_000), 2000)
    .option(
      '--corrupt-fraction <f>',
      'share of corrupt sample records (shows the DLQ at work)',
      decimal(0, 1),
      0.01,
    )
    .action(async (o: RunOptions) => {
      await run(o);
    });
}
