// The simulator's graph transport on the real local Kafka: the production job (startJob: Kafka
// consumers and producer, Redis checkpoints behind write-behind, Avro on the wire) runs in this
// process on topics with a per-run prefix; the simulator produces its records with the real serde
// and reads the job's output topics back.
//
// Synchronisation is by offsets, never by sleeps. The job commits a stage's consumer offsets only
// after the checkpoint that covers them: changelogs flushed, producer flushed, state in Redis. So
// advanceEventTime(t):
//   1. waits for its own records to be acknowledged (their end offsets are known),
//   2. waits until the user stage committed those ends (stage 1 consumed all input),
//   3. sends the heartbeat t through the job (KafkaJob.advanceEventTime: stage-1 watermarks move to
//      t, markers go down content-events, as ThermostatTestDriver.advanceEventTime does in memory),
//   4. waits until the content stage committed content-events' end offsets (ticks ≤ t closed,
//      their AllocatorInputs written), then until the allocator committed allocator-input's end
//      offsets (allocations written),
//   5. reads heating-allocations, content-state and user-mind-state up to their end offsets.
// Idle detection is switched off (it is wall-clock driven; a partition declared idle while the
// simulator's next records are still in flight could make them late): only heartbeats move time.
import rdkafka from '@confluentinc/kafka-javascript';
import type {
  IAdminClient,
  KafkaConsumer as Consumer,
  LibrdKafkaError,
  Message,
} from '@confluentinc/kafka-javascript';
import { parseAgentConfig, type AgentConfigInput } from '../agents/config.js';
import { loadRuntimeConfig } from '../core/config.js';
import { ThermostatError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { KafkaSink } from '../io/kafka.js';
import { probeBroker } from '../io/probe.js';
import { ensureTopics } from '../io/topics.js';
import { startJob, type RunningJob } from '../runtime/kafka/run-job.js';
import {
  consumerGroup,
  PUBLIC_TOPICS,
  topicSchemas,
  topicSpecs,
  topologyNames,
  tpKey,
  type StageName,
  type TopologyNames,
} from '../pipelines/topology.js';
import { wireSerde } from '../pipelines/wire-serde.js';
import { createStateRedis } from '../state/redis-options.js';
import { deleteMatching } from '../state/redis-scan.js';
import type { RecordSerde } from '../pipelines/task.js';
import type { UserMindState } from '../schemas/types.js';
import type { GraphTransport } from './transport.js';

const { AdminClient, KafkaConsumer, OffsetSpec } = rdkafka;

export interface KafkaTransportOptions {
  brokers: string;
  /** Redis for the job's checkpoints; every key is prefixed by `appId`. */
  redisUrl: string;
  /** Unique per run: consumer groups, internal topics, Redis keys; public topics get `<appId>.`. */
  appId: string;
  partitions: number;
  tickMs: number;
  seed: number;
  agents: AgentConfigInput;
  /** Checkpoint/commit interval of the job: the granularity of every synchronisation step. */
  commitIntervalMs?: number;
  /** Longest wait for one synchronisation step before failing with what was awaited. */
  stepTimeoutMs?: number;
  /** Delete the run's topics, consumer groups and Redis keys on close (default true). */
  cleanup?: boolean;
  log?: Logger;
}

type Tp = { topic: string; partition: number };
const tpOf = (t: Tp): string => tpKey(t.topic, t.partition);
const OFFSET_INVALID = -1001;

function cb<T>(fn: (done: (err: LibrdKafkaError | null | undefined, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A unique app id for one simulator run on Kafka (topic/group/Redis key prefix). */
export function simAppId(seed: number): string {
  return `sim-${seed}-${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 0xffff).toString(36)}`;
}

export { probeBroker, probeRedis } from '../io/probe.js';

export class KafkaGraphTransport implements GraphTransport {
  readonly names: TopologyNames;
  private readonly serde: RecordSerde;
  private readonly schemaOf: Record<string, string>;
  private started: Promise<void> | null = null;
  private job: RunningJob | null = null;
  private sink: KafkaSink | null = null;
  private admin: IAdminClient | null = null;
  private reader: Consumer | null = null;
  /** Sends not yet awaited (awaited at the next advance). */
  private inFlight: Promise<void>[] = [];
  /** Next offset after the last record produced, per input partition. */
  private readonly inputEnds = new Map<string, number>();
  /** Next offset to read, per output partition. */
  private readonly readPos = new Map<string, number>();
  private readonly outputs = new Map<string, unknown[]>();
  private readonly users = new Map<string, UserMindState>();

  constructor(private readonly opts: KafkaTransportOptions) {
    this.names = topologyNames(opts.appId, `${opts.appId}.`);
    this.serde = wireSerde(this.names);
    this.schemaOf = topicSchemas(this.names);
  }

  /** Public topic name (as the policies use it) → this run's topic. */
  private topic(name: string): string {
    const k = (Object.keys(PUBLIC_TOPICS) as (keyof typeof PUBLIC_TOPICS)[]).find(
      (x) => PUBLIC_TOPICS[x] === name,
    );
    if (!k) throw new Error(`unknown topic ${name}`);
    return this.names[k];
  }

  private partitionsOf(topic: string): Tp[] {
    return Array.from({ length: this.opts.partitions }, (_, partition) => ({ topic, partition }));
  }

  private get outputTopics(): string[] {
    return [this.names.allocations, this.names.contentChangelog, this.names.userChangelog];
  }

  /** Starts on first use, so creating a policy (e.g. to validate names) costs nothing. */
  private ensureStarted(): Promise<void> {
    this.started ??= this.start();
    return this.started;
  }

  private async start(): Promise<void> {
    const o = this.opts;
    await probeBroker(o.brokers);
    await ensureTopics(topicSpecs(this.names, o.partitions), { brokers: o.brokers });
    const config = loadRuntimeConfig({
      env: {},
      overrides: {
        appId: o.appId,
        topicPrefix: `${o.appId}.`,
        kafka: { brokers: o.brokers, inputPartitions: o.partitions },
        redis: { url: o.redisUrl },
        http: { port: 0, host: '127.0.0.1' },
        commitIntervalMs: o.commitIntervalMs ?? 20,
        tickMs: o.tickMs,
        seed: o.seed,
        // As the in-memory driver: event time moves only by records and heartbeats; no idleness.
        watermark: { outOfOrdernessMs: 0, allowedLatenessMs: 0, idleTimeoutMs: 2 ** 40 },
        logLevel: 'silent',
      },
    });
    this.admin = AdminClient.create({ 'bootstrap.servers': o.brokers, log_level: 3 } as never);
    this.sink = new KafkaSink({ brokers: o.brokers, clientId: `${o.appId}-sim` });
    await this.sink.connect();
    this.reader = new KafkaConsumer(
      {
        'bootstrap.servers': o.brokers,
        'group.id': `${o.appId}-sim-reader`,
        'enable.auto.commit': false,
        'fetch.wait.max.ms': 10,
        log_level: 3,
      } as never,
      { 'auto.offset.reset': 'earliest' },
    );
    await cb<unknown>((done) => this.reader!.connect({ timeout: 30_000 }, done));
    this.reader.setDefaultConsumeTimeout(20);
    const outs = this.outputTopics.flatMap((t) => this.partitionsOf(t));
    this.reader.assign(outs.map((tp) => ({ ...tp, offset: 0 })));
    for (const tp of outs) this.readPos.set(tpOf(tp), 0);
    this.job = await startJob({ config, agents: parseAgentConfig(o.agents), log: o.log ?? silentLogger });
    // Every stage's tasks must exist before the first heartbeat (it goes to the owned tasks).
    await this.until(async () => this.job!.job.ready, 'the job to get its partitions assigned');
  }

  /** `what` is read when the wait times out, so it can say how far the wait got. */
  private async until(cond: () => Promise<boolean>, what: string | (() => string)): Promise<void> {
    const deadline = Date.now() + (this.opts.stepTimeoutMs ?? 60_000);
    while (!(await cond())) {
      if (Date.now() > deadline)
        throw new ThermostatError(
          'DEPENDENCY',
          `kafka transport: timed out waiting for ${typeof what === 'string' ? what : what()}`,
          { retriable: true },
        );
      await sleep(5);
    }
  }

  async pipeInput(topic: string, records: readonly object[]): Promise<void> {
    await this.ensureStarted();
    const t = this.topic(topic);
    const schema = this.schemaOf[t];
    if (t !== this.names.interactions && t !== this.names.published)
      throw new Error(`not an input topic: ${topic}`);
    const keyField = t === this.names.interactions ? 'user_id' : 'content_id';
    // Sends are queued in order (one idempotent producer: per-partition order is kept) and awaited
    // at the next advance, where their end offsets are needed.
    for (const r of records) {
      const key = String((r as Record<string, unknown>)[keyField]);
      this.inFlight.push(
        this.sink!.send(t, key, this.serde.encode(schema as never, r)).then((d) => {
          const k = tpOf(d);
          if (d.offset + 1 > (this.inputEnds.get(k) ?? 0)) this.inputEnds.set(k, d.offset + 1);
        }),
      );
    }
  }

  async advanceEventTime(t: number): Promise<void> {
    await this.ensureStarted();
    const sent = this.inFlight;
    this.inFlight = [];
    await Promise.all(sent);
    const inputs = [this.names.interactions, this.names.published].flatMap((x) => this.partitionsOf(x));
    await this.waitCommitted(
      'user',
      new Map(inputs.map((tp) => [tpOf(tp), this.inputEnds.get(tpOf(tp)) ?? 0])),
    );
    await this.job!.job.advanceEventTime(t);
    await this.waitCommitted('content', await this.ends(this.partitionsOf(this.names.contentEvents)));
    await this.waitCommitted(
      'allocator',
      await this.ends([{ topic: this.names.allocatorInput, partition: 0 }]),
    );
    await this.readOutputs(await this.ends(this.outputTopics.flatMap((x) => this.partitionsOf(x))));
  }

  /** End offsets (next offset to be written) of the given partitions. */
  private async ends(tps: Tp[]): Promise<Map<string, number>> {
    const r = await cb<{ topic: string; partition: number; offset: number; error?: LibrdKafkaError }[]>(
      (done) =>
        this.admin!.listOffsets(
          tps.map((tp) => ({ ...tp, offset: OffsetSpec.LATEST })),
          { timeout: 10_000 },
          done,
        ),
    );
    const out = new Map<string, number>();
    for (const x of r) {
      if (x.error)
        throw new ThermostatError('DEPENDENCY', `listOffsets ${x.topic}:${x.partition}: ${x.error.message}`, {
          retriable: true,
        });
      out.set(tpOf(x), x.offset);
    }
    return out;
  }

  /** Waits until `stage`'s consumer group committed at least `ends` on every partition. */
  private async waitCommitted(stage: StageName, ends: Map<string, number>): Promise<void> {
    const groupId = consumerGroup(this.opts.appId, stage);
    const tps = [...ends.keys()].map((k) => {
      const i = k.lastIndexOf(':');
      return { topic: k.slice(0, i), partition: Number(k.slice(i + 1)) };
    });
    let behind = '';
    await this.until(
      async () => {
        const [res] = await cb<
          { error?: LibrdKafkaError; partitions: { topic: string; partition: number; offset: number }[] }[]
        >((done) =>
          this.admin!.listConsumerGroupOffsets([{ groupId, partitions: tps }], { timeout: 10_000 }, done),
        );
        if (res.error)
          throw new ThermostatError('DEPENDENCY', `committed offsets of ${groupId}: ${res.error.message}`, {
            retriable: true,
          });
        const committed = new Map(
          res.partitions.map((p) => [tpOf(p), p.offset === OFFSET_INVALID ? 0 : p.offset]),
        );
        const lagging = [...ends].filter(([k, end]) => (committed.get(k) ?? 0) < end);
        behind = lagging.map(([k, end]) => `${k} ${committed.get(k) ?? 0}/${end}`).join(', ');
        return lagging.length === 0;
      },
      () => `the ${stage} stage to commit its input (${groupId}: ${behind || 'no answer'})`,
    );
  }

  /** Reads every output partition up to `ends`, buffering decoded records for readOutput. */
  private async readOutputs(ends: Map<string, number>): Promise<void> {
    const got: Message[] = [];
    const lagging = () => [...ends].some(([k, end]) => (this.readPos.get(k) ?? 0) < end);
    await this.until(async () => {
      if (!lagging()) return true;
      const msgs = await cb<Message[]>((done) => this.reader!.consume(5000, done));
      for (const m of msgs) {
        const k = tpOf(m);
        if (m.offset < (this.readPos.get(k) ?? 0)) continue;
        this.readPos.set(k, m.offset + 1);
        got.push(m);
      }
      return !lagging();
    }, 'the output topics to be read to their end offsets');
    // The in-memory driver hands out a topic's new records by (partition, offset): same order here.
    got.sort((a, b) =>
      a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || a.offset - b.offset,
    );
    for (const m of got) {
      if (!m.value) continue; // a tombstone carries no state
      const v = this.serde.decode(m.topic, m.value);
      if (m.topic === this.names.userChangelog) {
        const u = v as UserMindState;
        this.users.set(u.user_id, u);
        continue;
      }
      let buf = this.outputs.get(m.topic);
      if (!buf) this.outputs.set(m.topic, (buf = []));
      buf.push(v);
    }
  }

  readOutput<T = unknown>(topic: string): T[] {
    const t = this.topic(topic);
    const out = (this.outputs.get(t) ?? []) as T[];
    this.outputs.delete(t);
    return out;
  }

  userState(userId: string): UserMindState | undefined {
    return this.users.get(userId);
  }

  async close(): Promise<void> {
    if (!this.started) return;
    await this.started.catch(() => undefined);
    await Promise.allSettled(this.inFlight);
    this.inFlight = [];
    if (this.job) await this.job.stop().catch(() => undefined);
    if (this.reader?.isConnected())
      await cb<unknown>((done) => this.reader!.disconnect(done)).catch(() => undefined);
    await this.sink?.disconnect().catch(() => undefined);
    if (this.opts.cleanup !== false)
      await this.cleanup().catch((e) =>
        (this.opts.log ?? silentLogger).warn({ err: e }, 'sim cleanup failed'),
      );
    this.admin?.disconnect();
    this.job = null;
  }

  /** Removes the run's topics, consumer groups and Redis keys (all named after the unique app id). */
  private async cleanup(): Promise<void> {
    const admin = this.admin;
    if (!admin) return;
    const groups = (['user', 'content', 'allocator'] as const).map((s) => consumerGroup(this.opts.appId, s));
    await cb<unknown>((done) => admin.deleteGroups(groups, { timeout: 10_000 }, done)).catch(() => undefined);
    const topics = [...new Set(topicSpecs(this.names, this.opts.partitions).map((s) => s.name))];
    for (const t of topics)
      await cb<void>((done) => admin.deleteTopic(t, 10_000, (err) => done(err, undefined))).catch(
        () => undefined,
      );
    const redis = createStateRedis(this.opts.redisUrl);
    redis.on('error', () => {});
    try {
      await redis.connect();
      // Every key of the job carries the tag {<appId>.<stage>.<partition>} (models: {<appId>:model:…}).
      await deleteMatching(redis, `{${this.opts.appId}[.:]*`);
    } finally {
      redis.disconnect();
    }
  }
}
