// `thermostat run`: the main job. Brings up the local stack unless KAFKA_BROKERS is set, starts
// the three-stage graph on Kafka (state checkpointed to Redis), feeds seeded sample traffic on
// the local stack, prints live stats and the metrics URL, and stops gracefully on SIGTERM/SIGINT
// (stop fetching, drain, final checkpoint, commit, disconnect) within shutdownTimeoutMs.
import type { Command } from 'commander';
import { loadRuntimeConfig } from '../../core/config.js';
import { createLogger, LOG_EVENTS } from '../../core/log.js';
import { createMetrics } from '../../core/metrics.js';
import { KafkaSink } from '../../io/kafka.js';
import { startSampleProducer, type SampleProducer } from '../../io/sample-producer.js';
import { HeatedServing } from '../../io/sample-serving.js';
import { SampleTraffic } from '../../io/sample-traffic.js';
import { Serde } from '../../io/serde.js';
import { startJob } from '../../pipelines/run-job.js';
import { topologyNames } from '../../pipelines/topology.js';
import { prepareWriters } from '../../pipelines/wire-serde.js';
import { startLiveStats } from '../live-stats.js';
import { runStackScript } from './stack.js';

interface RunOptions {
  sampleTraffic?: boolean;
  rate: number;
  corruptFraction: number;
  eventStepMs: number;
}

const sumOf = async (
  m: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> },
  filter: (l: Record<string, unknown>) => boolean = () => true,
) => (await m.get()).values.filter((v) => filter(v.labels)).reduce((a, v) => a + v.value, 0);

async function run(o: RunOptions): Promise<void> {
  const cfg = loadRuntimeConfig();
  const log = createLogger(cfg.logLevel);
  const external = Boolean(process.env.KAFKA_BROKERS);
  if (!external && runStackScript('up') !== 0)
    throw new Error('the local stack did not start (see .stack/kafka/server.log)');
  const metrics = createMetrics();
  // The sample traffic's heated slot serves the allocations the job emits (a ranker's part), so
  // heated impressions and their outcomes flow back: what online learning learns from.
  const serving = new HeatedServing();
  const running = await startJob({ config: cfg, log, metrics, onAllocations: (a) => serving.add(a) });
  const names = topologyNames(cfg.appId, cfg.topicPrefix);

  // Sample traffic only on the embedded stack: never write test data into someone's cluster.
  let producer: SampleProducer | undefined;
  let sampleSink: KafkaSink | undefined;
  if (o.sampleTraffic ?? !external) {
    const serde = Serde.fromConfig(cfg);
    await prepareWriters(names, serde);
    sampleSink = new KafkaSink({
      brokers: cfg.kafka.brokers,
      rdkafka: cfg.kafka.rdkafka,
      clientId: `${cfg.appId}-sample`,
    });
    await sampleSink.connect();
    const traffic = new SampleTraffic(serde, {
      seed: cfg.seed,
      users: 5000,
      contents: 1000,
      startTime: Date.now(),
      stepMs: o.eventStepMs,
      serving: { slots: serving, share: 0.1 },
      topics: names,
    });
    producer = await startSampleProducer(sampleSink, traffic, {
      ratePerSec: o.rate,
      corruptFraction: o.corruptFraction,
    });
  }

  let sample = { recordsIn: 0, dlq: 0, lag: 0, allocations: 0, heated: 0, model: 0, learned: 0 };
  const refresh = setInterval(() => {
    void Promise.all([
      sumOf(metrics.recordsIn, (l) => l.stage === 'user' && l.topic === names.interactions),
      sumOf(metrics.dlqRecords),
      sumOf(metrics.allocations),
      metrics.heatedShare.get().then((g) => g.values[0]?.value ?? 0),
      sumOf(metrics.consumerLag),
      sumOf(metrics.modelVersion),
      sumOf(metrics.allocations, (l) => l.policy === 'LEARNED'),
    ]).then(
      ([recordsIn, dlq, allocations, heated, lag, model, learned]) =>
        (sample = { recordsIn, dlq, allocations, heated, lag, model, learned }),
    );
  }, 500);
  refresh.unref();
  const stopStats = startLiveStats(() => ({
    recordsIn: sample.recordsIn,
    dlq: sample.dlq,
    lag: sample.lag,
    produced: producer?.produced(),
    extra:
      `allocations ${sample.allocations} (learned ${sample.learned})  heated share ${(sample.heated * 100).toFixed(1)}%` +
      `  model ${sample.model > 0 ? `allocation@${sample.model}` : 'rule'}  ready ${running.job.ready}`,
  }));

  log.info(
    { event: LOG_EVENTS.started, brokers: cfg.kafka.brokers, metrics: `${running.ops.url}/metrics` },
    'thermostat running',
  );
  console.log(
    `thermostat: job running on ${cfg.kafka.brokers}; metrics at ${running.ops.url}/metrics, health at ${running.ops.url}/readyz (Ctrl-C to stop)`,
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
  clearInterval(refresh);
  await producer?.stop();
  await sampleSink?.disconnect();
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
    .option('--rate <n>', 'sample interactions per second', (v) => Number(v), 2000)
    .option(
      '--event-step-ms <ms>',
      'event time between sample interactions (50 at 2,000/s: a one-minute tick every 0.6 s)',
      (v) => Number(v),
      50,
    )
    .option(
      '--corrupt-fraction <f>',
      'share of corrupt sample records (shows the DLQ at work)',
      (v) => Number(v),
      0.01,
    )
    .action(async (o: RunOptions) => {
      await run(o);
    });
}
