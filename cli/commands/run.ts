// `thermostat run` (minimal for now): bring up the local stack unless KAFKA_BROKERS is set, ensure
// topics, feed seeded sample traffic (local stack only), consume the inputs with decode +
// validation + DLQ, serve /metrics /healthz /readyz, print live stats, stop cleanly on SIGTERM.
import type { Command } from 'commander';
import { systemClock } from '../../core/clock.js';
import { loadRuntimeConfig } from '../../core/config.js';
import { createLogger, LOG_EVENTS } from '../../core/log.js';
import { createMetrics } from '../../core/metrics.js';
import { DlqWriter } from '../../io/dlq.js';
import { startOpsServer } from '../../io/http.js';
import { startIngestLoop } from '../../io/ingest-loop.js';
import { KafkaSink, KafkaSource } from '../../io/kafka.js';
import { startSampleProducer, type SampleProducer } from '../../io/sample-producer.js';
import { SampleTraffic } from '../../io/sample-traffic.js';
import { Serde } from '../../io/serde.js';
import { ensureTopics, jobTopicSpecs, TOPICS } from '../../io/topics.js';
import { startLiveStats } from '../live-stats.js';
import { runStackScript } from './stack.js';

interface RunOptions {
  sampleTraffic?: boolean;
  rate: number;
  corruptFraction: number;
}

async function run(o: RunOptions): Promise<void> {
  const cfg = loadRuntimeConfig();
  const log = createLogger(cfg.logLevel);
  const external = Boolean(process.env.KAFKA_BROKERS);
  if (!external && runStackScript('up') !== 0) throw new Error('the local stack did not start (see .stack/kafka/server.log)');
  const brokers = cfg.kafka.brokers;
  const kafka = { brokers, rdkafka: cfg.kafka.rdkafka };
  await ensureTopics(jobTopicSpecs(cfg.appId, cfg.kafka.inputPartitions), { ...kafka, replicationFactor: cfg.kafka.replicationFactor });

  const serde = Serde.fromConfig(cfg);
  for (const [topic, name] of [[TOPICS.userInteractions, 'UserInteraction'], [TOPICS.contentPublished, 'ContentPublished'], [TOPICS.businessObjectives, 'BusinessObjectives']] as const) {
    await serde.prepareWriter(topic, name);
  }
  const metrics = createMetrics();
  const sink = new KafkaSink({ ...kafka, clientId: `${cfg.appId}-sink` });
  await sink.connect();
  const dlq = new DlqWriter(sink, systemClock, metrics);

  const source = new KafkaSource({
    ...kafka,
    groupId: `${cfg.appId}-ingest`,
    topics: [TOPICS.userInteractions, TOPICS.contentPublished],
    onAssign: async (tps) => void log.info({ event: LOG_EVENTS.partitionsAssigned, partitions: tps.length }),
    onRevoke: async (tps) => void log.info({ event: LOG_EVENTS.partitionsRevoked, partitions: tps.length }),
    onError: (e) => log.warn({ err: e }, 'kafka consumer error'),
  });
  await source.connect();
  const ops = await startOpsServer({
    port: cfg.http.port,
    host: cfg.http.host,
    register: metrics.register,
    readiness: () => (source.assignment().length > 0 ? { ready: true } : { ready: false, reason: 'no partitions assigned yet' }),
  });

  // Sample traffic only on the embedded stack: never write test data into someone's cluster.
  let producer: SampleProducer | undefined;
  if (o.sampleTraffic ?? !external) {
    const traffic = new SampleTraffic(serde, { seed: cfg.seed, users: 5000, contents: 1000, startTime: Date.now() });
    producer = await startSampleProducer(sink, traffic, { ratePerSec: o.rate, corruptFraction: o.corruptFraction });
  }

  const loop = startIngestLoop({
    source, serde, dlq, metrics, stage: 'ingest', batchSize: cfg.kafka.batchSize, commitIntervalMs: cfg.commitIntervalMs, now: () => Date.now(),
    expected: { [TOPICS.userInteractions]: 'UserInteraction', [TOPICS.contentPublished]: 'ContentPublished' },
    onError: (e) => log.warn({ err: e }, 'ingest error'),
  });
  let dlqCount = 0;
  const stopStats = startLiveStats(() => {
    const lag = [...source.lag().values()].reduce((a, b) => a + b, 0);
    metrics.consumerLag.set({ stage: 'ingest' }, lag);
    return { recordsIn: loop.consumed(), dlq: dlqCount, lag, produced: producer?.produced() };
  });
  const dlqTimer = setInterval(() => void metrics.dlqRecords.get().then((m) => (dlqCount = m.values.reduce((a, v) => a + v.value, 0))), 500);
  dlqTimer.unref();

  log.info({ event: LOG_EVENTS.started, brokers, metrics: `${ops.url}/metrics` }, 'thermostat running');
  console.log(`thermostat: consuming ${TOPICS.userInteractions}, ${TOPICS.contentPublished} on ${brokers}; metrics at ${ops.url}/metrics (Ctrl-C to stop)`);

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
  clearInterval(dlqTimer);
  await producer?.stop();
  await loop.stop();
  await source.disconnect();
  await sink.disconnect();
  await ops.close();
  log.info({ event: LOG_EVENTS.stopped, consumed: loop.consumed() });
  process.exit(0);
}

export function register(program: Command): void {
  program
    .command('run')
    .description('Run the job (for now: ingest with decode, validation and DLQ; sample traffic on the local stack)')
    .option('--sample-traffic', 'produce seeded sample traffic in-process (default: only on the local stack)')
    .option('--no-sample-traffic', 'do not produce sample traffic')
    .option('--rate <n>', 'sample interactions per second', (v) => Number(v), 2000)
    .option('--corrupt-fraction <f>', 'share of corrupt sample records (shows the DLQ at work)', (v) => Number(v), 0.01)
    .action(async (o: RunOptions) => {
      await run(o);
    });
}
