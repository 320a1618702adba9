// `thermostat produce-sample`: seeded, valid Avro sample data (contents, objectives, interactions)
// on the input topics, optionally with a share of corrupt records to exercise the DLQ.
import type { Command } from 'commander';
import { loadRuntimeConfig } from '../../core/config.js';
import { KafkaSink } from '../../io/kafka.js';
import { probeBroker } from '../../io/probe.js';
import { SampleTraffic } from '../../io/sample-traffic.js';
import { Serde } from '../../io/serde.js';
import { ensureTopics } from '../../io/topics.js';
import { topicSpecs, topologyNames } from '../../pipelines/topology.js';
import { decimal, integer } from '../options.js';

export interface ProduceSampleOptions {
  interactions: number;
  contents: number;
  users: number;
  seed: number;
  corruptFraction: number;
  /** Interactions per second; 0 = as fast as possible. */
  rate: number;
  startTime: number;
}

export async function produceSample(
  o: ProduceSampleOptions,
  log: (l: string) => void = console.log,
): Promise<{ interactions: number; contents: number }> {
  const cfg = loadRuntimeConfig();
  const brokers = cfg.kafka.brokers;
  const names = topologyNames(cfg.appId, cfg.topicPrefix);
  await probeBroker(brokers, { rdkafka: cfg.kafka.rdkafka });
  await ensureTopics(topicSpecs(names, cfg.kafka.inputPartitions), {
    brokers,
    rdkafka: cfg.kafka.rdkafka,
    replicationFactor: cfg.kafka.replicationFactor,
  });
  const serde = Serde.fromConfig(cfg);
  await serde.prepareWriter(names.interactions, 'UserInteraction');
  await serde.prepareWriter(names.published, 'ContentPublished');
  await serde.prepareWriter(names.objectives, 'BusinessObjectives');
  const sink = new KafkaSink({
    brokers,
    rdkafka: cfg.kafka.rdkafka,
    clientId: `${cfg.appId}-produce-sample`,
  });
  await sink.connect();
  try {
    const traffic = new SampleTraffic(serde, {
      seed: o.seed,
      users: o.users,
      contents: o.contents,
      startTime: o.startTime,
      topics: names,
    });
    const first = [traffic.objectivesRecord(), ...traffic.contentRecords()];
    await Promise.all(first.map((r) => sink.send(r.topic, r.key, r.value)));
    const started = Date.now();
    let pending: Promise<unknown>[] = [];
    for (let i = 0; i < o.interactions; i++) {
      const r = traffic.next(o.corruptFraction);
      pending.push(sink.send(r.topic, r.key, r.value));
      if (pending.length >= 10_000) {
        await Promise.all(pending);
        pending = [];
      }
      if (o.rate > 0 && i % 100 === 99) {
        const ahead = started + ((i + 1) / o.rate) * 1000 - Date.now();
        if (ahead > 0) await new Promise((res) => setTimeout(res, ahead));
      }
    }
    await Promise.all(pending);
    await sink.flush();
    log(
      `produced ${o.contents} contents, 1 objectives record and ${o.interactions} interactions (seed ${o.seed}) to ${brokers} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await sink.disconnect();
  }
  return { interactions: o.interactions, contents: o.contents };
}

export function register(program: Command): void {
  program
    .command('produce-sample')
    .description('Produce seeded sample Avro records to the input topics (creates topics first)')
    .option('--interactions <n>', 'user interactions to produce', integer(0), 10_000)
    .option('--contents <n>', 'contents to publish', integer(1), 500)
    .option('--users <n>', 'distinct users', integer(1), 2000)
    .option('--seed <n>', 'random seed (same seed, same records)', integer(0), 42)
    .option('--corrupt-fraction <f>', 'share of interactions that are corrupt (DLQ test)', decimal(0, 1), 0)
    .option('--rate <r>', 'interactions per second (0 = as fast as possible)', integer(0), 0)
    .option('--start-time <ms>', 'event time of the first record (epoch ms)', integer(0), 1_700_000_000_000)
    .action(async (o: ProduceSampleOptions) => {
      await produceSample(o);
    });
}
