// Online learning in the running job, against the real local Kafka and a private redis-server: the
// job (`thermostat run`, a child process) started with learning on trains on a live stream of
// interactions whose heated impressions serve its own allocations (the test plays the platform: the
// demo's ranker, io/sample-ranker.ts, follows heating-allocations and reads mind states from Redis;
// the test produces the served page requests with their outcomes), publishes
// model versions > 0 to the Redis model store, adopts them at ticks, and emits allocations with
// policy LEARNED and the new model_version. It is SIGKILLed while learning and restarted; then:
//  - the replay emits learned allocations again (checkpoints are 15 s apart), and every
//    re-emitted allocation equals the first emission (policy, model_version, impressions, score);
//  - replaying the allocator's input log (with its control records) through a fresh allocator gives
//    exactly the set of allocations the job emitted, ids and model versions included: what was
//    decided is a function of the log, not of when training finished.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAgentConfig } from '../../agents/config.js';
import { KafkaSink, KafkaSource } from '../../io/kafka.js';
import { startSampleRanker, type RunningSampleRanker } from '../../io/sample-ranker.js';
import { SampleTraffic } from '../../io/sample-traffic.js';
import { Serde } from '../../io/serde.js';
import { ensureTopics } from '../../io/topics.js';
import {
  LearnedAllocationScorer,
  allocationNet,
  initAllocationWeights,
} from '../../learn/allocation-model.js';
import { selectBackend } from '../../learn/backend.js';
import { RedisModelStore } from '../../learn/model-store.js';
import { ModelHandle } from '../../learn/network.js';
import { OnlineAllocatorModels } from '../../learn/online/allocator-models.js';
import { topicSpecs, topologyNames } from '../../pipelines/topology.js';
import { prepareWriters, wireSerde } from '../../pipelines/wire-serde.js';
import type { AllocatorInput, HeatingAllocation } from '../../schemas/types.js';
import { replayAllocatorLog } from '../support/allocator-replay.js';
import { PARTITIONS, T0, readTopic, verifyClient } from '../support/job-fixture.js';
import { JobProcess, sleep, waitQuiescent } from '../../bench/support/job-process.js';
import { uniqueName } from '../support/kafka.js';
import { TestRedis } from '../../bench/support/redis-server.js';
import { learnConfig } from '../support/config.js';
import { ensureStack } from '../support/stack.js';

const RATE = 2000; // interactions per second
const STEP_MS = 30; // event time between interactions: one 1-minute tick per wall second

/** The platform side: sample page requests served by the demo's ranker over the job's allocations. */
class Platform {
  readonly seen: HeatingAllocation[] = [];
  private running = true;
  private readonly done: Promise<void>[] = [];

  constructor(
    private readonly brokers: string,
    private readonly names: ReturnType<typeof topologyNames>,
    private readonly traffic: SampleTraffic,
    private readonly ranker: RunningSampleRanker,
  ) {}

  start(): void {
    this.done.push(this.follow(), this.produce());
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await Promise.all(this.done);
    await this.ranker.stop();
  }

  /** Every record of heating-allocations, duplicates included (what the test checks). */
  private async follow(): Promise<void> {
    const serde = wireSerde(this.names);
    const source = new KafkaSource({
      brokers: this.brokers,
      groupId: uniqueName('learn-ranker'),
      topics: [this.names.allocations],
    });
    await source.connect();
    try {
      while (this.running) {
        const batch = (await source.poll(1000, 100)).map(
          (r) => serde.decode(this.names.allocations, r.value!) as HeatingAllocation,
        );
        this.seen.push(...batch);
      }
    } finally {
      await source.disconnect();
    }
  }

  private async produce(): Promise<void> {
    const sink = new KafkaSink({ brokers: this.brokers, clientId: 'it-learn-platform' });
    await sink.connect();
    try {
      for (const r of this.traffic.contentRecords()) await sink.send(r.topic, r.key, r.value);
      const perSlice = RATE / 20;
      while (this.running) {
        const requests = Array.from({ length: perSlice }, () => this.traffic.nextRequest());
        // A ranker failure serves the organic items, as the demo's producer does.
        const picks = await this.ranker.ranker.serve(requests).catch(() => []);
        requests.forEach((req, i) => {
          const r = this.traffic.interactionRecord(this.traffic.interaction(req, picks[i]));
          void sink.send(r.topic, r.key, r.value);
        });
        await sleep(50);
      }
      await sink.flush();
    } finally {
      await sink.disconnect();
    }
  }
}

const learnedVersion = (as: readonly HeatingAllocation[]): number =>
  Math.max(0, ...as.filter((a) => a.policy === 'LEARNED').map((a) => Number(a.model_version.split('@')[1])));

test(
  'online learning in the job: versions in Redis, adopted at a tick, LEARNED allocations; a replay after kill -9 emits the same ids and versions',
  {
    timeout: 420_000,
  },
  async (t) => {
    const { brokers } = ensureStack();
    const appId = uniqueName('learn');
    const names = topologyNames(appId, `${appId}.`);
    await ensureTopics(topicSpecs(names, PARTITIONS), { brokers });
    const redis = await TestRedis.start();
    t.after(() => redis.dispose());
    const client = verifyClient(redis.port);
    t.after(() => client.disconnect());
    // Learning switched on, sized for a short test: a 10-minute warm-up, small PPO batches, and the
    // cpu backend (the test's own replay scores bit for bit as the job does).
    const learnSection = {
      backend: 'cpu',
      trainer: { minBatch: 48, maxBatch: 256 },
      ppo: { epochs: 2, minibatchSize: 32 },
      online: { enabled: true, warmupMs: 600_000, warmupMaxRows: 256 },
    };
    const learn = learnConfig({}, learnSection); // what the job reads (seed, hold-out share)
    const configFile = join(mkdtempSync(join(tmpdir(), 'thermostat-learn-')), 'config.json');
    writeFileSync(configFile, JSON.stringify({ learn: learnSection }));
    const spawn = await JobProcess.restarter({ appId, redis }, brokers, {
      logFile: process.env.THERMOSTAT_TEST_LEARN_LOG,
      env: {
        THERMOSTAT_LOG_LEVEL: process.env.THERMOSTAT_TEST_LEARN_LOG ? 'info' : 'warn',
        THERMOSTAT_CONFIG: configFile,
        // Checkpoints 15 s apart, never earlier under load: the kill leaves learned ticks for the
        // replay to emit again.
        THERMOSTAT_COMMIT_INTERVAL_MS: '15000',
        THERMOSTAT_COMMIT_MIN_INTERVAL_MS: '0',
        THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '500',
        THERMOSTAT_TICK_MS: '60000',
        THERMOSTAT_KAFKA_RDKAFKA: JSON.stringify({ 'group.instance.id': `${appId}-0` }),
      },
    });
    let job = spawn();
    t.after(() => job.dispose());
    await job.waitStarted();

    const serde = Serde.local();
    await prepareWriters(names, serde);
    const traffic = new SampleTraffic(serde, {
      seed: 11,
      users: 2000,
      contents: 300,
      startTime: T0,
      stepMs: STEP_MS,
      topics: names,
    });
    const ranker = await startSampleRanker({
      brokers,
      allocationsTopic: names.allocations,
      serde,
      redis: { url: redis.url },
      appId,
      partitions: PARTITIONS,
      now: () => traffic.now(),
    });
    const platform = new Platform(brokers, names, traffic, ranker);
    platform.start();
    t.after(() => platform.stop());

    // Learning: the warm start, then PPO versions, adopted and allocating.
    const t0 = Date.now();
    const deadline = t0 + 180_000;
    while (learnedVersion(platform.seen) < 2 && Date.now() < deadline) await sleep(250);
    const learnedAfterMs = Date.now() - t0;
    assert.ok(learnedVersion(platform.seen) >= 2, `learned allocations by allocation@2: ${job.outputTail}`);
    await sleep(300 + Math.floor(Math.random() * 1200));
    const killedAt = learnedVersion(platform.seen);
    assert.equal((await job.crash()).signal, 'SIGKILL');
    job = spawn();
    await job.waitStarted();
    // Learning goes on after the restart: a version beyond the one live at the kill.
    const deadline2 = Date.now() + 90_000;
    while (learnedVersion(platform.seen) <= killedAt && Date.now() < deadline2) await sleep(250);
    await platform.stop();
    await waitQuiescent(job);
    assert.deepEqual((await job.terminate()).code, 0, job.outputTail);

    // Versions > 0 in the Redis model store.
    const stored = (await new RedisModelStore(client, appId).load('allocation'))?.seq ?? 0;
    assert.ok(stored >= 2, `stored seq ${stored}`);

    // Every allocation the job emitted, and the re-emissions of the replay after the kill.
    const emitted = (
      await readTopic<HeatingAllocation>(brokers, names, names.allocations, uniqueName('v'))
    ).map((r) => r.value);
    const first = new Map<string, HeatingAllocation>();
    let reEmitted = 0;
    let reEmittedLearned = 0;
    const same = (a: HeatingAllocation) =>
      `${a.policy} ${a.model_version} ${a.impressions} ${a.score} ${a.cost}`;
    for (const a of emitted) {
      const f = first.get(a.allocation_id);
      if (!f) first.set(a.allocation_id, a);
      else {
        reEmitted++;
        if (a.policy === 'LEARNED') reEmittedLearned++;
        assert.equal(same(a), same(f), `re-emitted ${a.allocation_id}`);
      }
    }
    assert.ok(reEmittedLearned > 0, `learned allocations emitted again by the replay (${reEmitted} in all)`);
    const learned = [...first.values()].filter((a) => a.policy === 'LEARNED');
    assert.ok(learned.length > 0 && learnedVersion(learned) > killedAt);

    // The uninterrupted run: the allocator's input log replayed through a fresh allocator.
    const inputs = (
      await readTopic<AllocatorInput>(brokers, names, names.allocatorInput, uniqueName('v'), 1)
    ).map((r) => r.value);
    await selectBackend({ requested: 'cpu' });
    const agents = parseAgentConfig({});
    const handle = new ModelHandle(allocationNet, initAllocationWeights(learn.seed));
    const models = new OnlineAllocatorModels({
      learned: new LearnedAllocationScorer(handle),
      handle,
      threshold: agents.system.scoreThreshold,
      seed: learn.seed,
      ruleHoldout: learn.online.ruleHoldout,
    });
    const replay = await replayAllocatorLog({
      names,
      contentPartitions: PARTITIONS,
      agents,
      tickMs: 60_000,
      objectives: [],
      inputs,
      models,
      batchSize: 500,
    });
    const key = (a: HeatingAllocation) => `${a.allocation_id} ${same(a)}`;
    assert.deepEqual(replay.map(key).sort(), [...first.values()].map(key).sort());
    const controls = inputs.filter((i) => i.control).length;
    t.diagnostic(
      `online learning: allocation@2 allocating ${(learnedAfterMs / 1000).toFixed(1)} s after traffic started; ${first.size} allocations (${learned.length} LEARNED, up to allocation@${learnedVersion(learned)}), ` +
        `killed at allocation@${killedAt}, ${reEmitted} re-emitted by the replay (${reEmittedLearned} LEARNED) and equal; ${controls} control records; ` +
        `store at seq ${stored}; the log replayed gives the same ${replay.length} allocations`,
    );
  },
);
