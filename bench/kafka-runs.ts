// End-to-end runs through the real local Kafka: the job is a child process
// (`node bin/thermostat.mjs run --no-sample-traffic`, env config with a unique app id and topic
// prefix, a private redis-server), the benchmark produces input and reads outputs.
//   - throughput: produce N interactions as fast as the producer goes while the job runs; done
//     when stage 1 consumed all N and every stage's consumer lag is 0 (the lag is sampled while
//     it runs: it stays bounded when the job keeps up);
//   - latency: produce at a fixed rate with event_time = produce wall time; time each sampled
//     interaction until its user's serving copy in Redis reflects it (what a ranker reads,
//     serving-watch.ts), and every one until its forwarded record on <app>-content-events is read;
//   - recovery: state for N users, kill -9, restart: seconds until ready and caught up.
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import rdkafka, { type LibrdKafkaError } from '@confluentinc/kafka-javascript';
import { KafkaSink, KafkaSource } from '../io/kafka.js';
import { Serde } from '../io/serde.js';
import { consumerGroup, topicSpecs, topologyNames, type TopologyNames } from '../pipelines/topology.js';
import { loadRuntimeConfig } from '../core/config.js';
import type { ContentEvent, UserInteraction } from '../schemas/types.js';
import { JobProcess, sleep, sumMetric } from './support/job-process.js';
import { CpuWindow, listenerPid, type CpuShare } from './proc-cpu.js';
import { ServingCopyWatch } from './serving-watch.js';
import { freePort, TestRedis } from './support/redis-server.js';
import { BENCH_START, type Workload } from './workload.js';

/** The configured brokers (KAFKA_BROKERS), the local stack by default. */
export const BROKERS = loadRuntimeConfig().kafka.brokers;

export interface JobEnv {
  appId: string;
  prefix: string;
  names: TopologyNames;
  redis: TestRedis;
  port: number;
  log: (msg: string) => void;
}

export async function jobEnv(tag: string, log: (m: string) => void): Promise<JobEnv> {
  const id = `bench-${tag}-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  return {
    appId: id,
    prefix: `${id}.`,
    names: topologyNames(id, `${id}.`),
    redis: await TestRedis.start(),
    port: await freePort(),
    log,
  };
}

/**
 * Removes what a run leaves behind: its private redis-server (with every state key) and, on the
 * shared broker, its topics and consumer groups (all named after the unique app id). A 1M-user
 * recovery run alone writes ~1M records to each of three topics.
 */
export async function disposeEnv(env: JobEnv): Promise<void> {
  await env.redis.dispose();
  const admin = rdkafka.AdminClient.create({ 'bootstrap.servers': BROKERS, log_level: 0 } as never);
  const done =
    (resolve: () => void) =>
    (err?: LibrdKafkaError | null): void => {
      if (err) env.log(`cleanup of ${env.appId}: ${err.message}`);
      resolve();
    };
  try {
    const groups = [
      ...(['user', 'content', 'allocator'] as const).map((s) => consumerGroup(env.appId, s)),
      `${env.appId}-reader`,
    ];
    await new Promise<void>((r) => admin.deleteGroups(groups, { timeout: 10_000 }, done(r)));
    for (const t of new Set(topicSpecs(env.names, 1).map((x) => x.name)))
      await new Promise<void>((r) => admin.deleteTopic(t, 10_000, done(r)));
  } finally {
    admin.disconnect();
  }
}

/**
 * Node options of the job children: BENCH_JOB_NODE_ARGS (space-separated, e.g.
 * `--max-semi-space-size=64`), and with BENCH_JOB_CPU_PROF=DIR a CPU profile of every job process
 * in DIR, written when it stops.
 */
function jobNodeArgs(): string[] {
  const args = (process.env.BENCH_JOB_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const prof = process.env.BENCH_JOB_CPU_PROF;
  return prof ? [...args, '--cpu-prof', `--cpu-prof-dir=${prof}`] : args;
}

export function spawnJob(env: JobEnv, extra: Record<string, string> = {}, port = env.port): JobProcess {
  return JobProcess.spawn({
    brokers: BROKERS,
    appId: env.appId,
    topicPrefix: env.prefix,
    redisUrl: env.redis.url,
    httpPort: port,
    env: { THERMOSTAT_BATCH_SIZE: '5000', THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '1000', ...extra },
    logFile: `/tmp/${env.appId}${port === env.port ? '' : `-${port}`}.log`,
    nodeArgs: jobNodeArgs(),
  });
}

/** How many job instances share the consumer groups, and on how many input partitions. */
export interface JobShape {
  instances?: number;
  /** kafka.inputPartitions (default: the job's). */
  partitions?: number;
  /** Extra THERMOSTAT_* settings for every instance. */
  env?: Record<string, string>;
}

/**
 * Starts `shape.instances` job processes in one consumer group per stage (static membership, one
 * HTTP port each) and waits until the groups have spread the partitions over all of them.
 */
async function startJobs(env: JobEnv, shape: JobShape, timeoutMs: number): Promise<JobProcess[]> {
  const n = shape.instances ?? 1;
  const extra: Record<string, string> = {
    ...(shape.partitions === undefined ? {} : { THERMOSTAT_INPUT_PARTITIONS: String(shape.partitions) }),
    ...shape.env,
  };
  const jobs: JobProcess[] = [];
  for (let i = 0; i < n; i++) {
    const member: Record<string, string> = n > 1 ? { THERMOSTAT_INSTANCE_ID: `${env.appId}-${i}` } : {};
    jobs.push(spawnJob(env, { ...extra, ...member }, i === 0 ? env.port : await freePort()));
  }
  for (const job of jobs) await job.waitStarted(90_000);
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ms = await Promise.all(jobs.map(metricsOf));
    // The job's /readyz asks for a task of every stage, so an instance without the allocator's
    // single partition never reports ready: wait until the group spread every partition instead.
    const ready = await Promise.all(jobs.map(async (j) => (await j.readyz())?.status === 200));
    const total = (k: 'userPartitions' | 'contentPartitions' | 'allocatorPartitions') =>
      ms.reduce((s, m) => s + (m?.[k] ?? 0), 0);
    const spread =
      ms.every((m) => m !== null && m.userPartitions > 0 && m.contentPartitions > 0) &&
      total('userPartitions') === (shape.partitions ?? total('userPartitions')) &&
      total('contentPartitions') === total('userPartitions') &&
      total('allocatorPartitions') === 1;
    if (spread && ready.some((r) => r)) return jobs;
    if (Date.now() > end)
      throw new Error(
        `jobs not ready with partitions within ${timeoutMs} ms: ${JSON.stringify(ms)}; ${jobs[0].outputTail.slice(-300)}`,
      );
    for (const job of jobs) if (!job.running) throw new Error(`job exited: ${job.outputTail.slice(-500)}`);
    await sleep(100);
  }
}

export async function waitReady(job: JobProcess, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!job.running) throw new Error(`job exited: ${job.outputTail.slice(-500)}`);
    const r = await job.readyz();
    if (r?.status === 200) return;
    await sleep(50);
  }
  throw new Error(`job not ready within ${timeoutMs} ms: ${job.outputTail.slice(-500)}`);
}

async function metricsOf(job: JobProcess) {
  const m = await job.metrics();
  if (!m) return null;
  return {
    userIn: sumMetric(m, 'thermostat_records_in_total', 'stage="user"'),
    lag: sumMetric(m, 'thermostat_consumer_lag_records'),
    checkpointsOk: sumMetric(m, 'thermostat_checkpoints_total', 'outcome="ok"'),
    // Task checkpoints a round handled: written, or found to change nothing (an idle task's).
    checkpointsDone:
      sumMetric(m, 'thermostat_checkpoints_total', 'outcome="ok"') +
      sumMetric(m, 'thermostat_checkpoints_skipped_total'),
    redisCommands: sumMetric(m, 'thermostat_redis_commands_total'),
    queued: sumMetric(m, 'thermostat_checkpoint_queued_entries'),
    ready: sumMetric(m, 'thermostat_ready'),
    userPartitions: sumMetric(m, 'thermostat_assigned_partitions', 'stage="user"'),
    contentPartitions: sumMetric(m, 'thermostat_assigned_partitions', 'stage="content"'),
    allocatorPartitions: sumMetric(m, 'thermostat_assigned_partitions', 'stage="allocator"'),
  };
}

/** Stage-1 records in, consumer lag, Redis commands and checkpoints summed over instances (null while one does not answer). */
async function groupMetrics(
  jobs: JobProcess[],
): Promise<{ userIn: number; lag: number; redisCommands: number; checkpointsOk: number } | null> {
  const ms = await Promise.all(jobs.map(metricsOf));
  if (ms.some((m) => m === null)) return null;
  const sum = (k: 'userIn' | 'lag' | 'redisCommands' | 'checkpointsOk') => ms.reduce((s, m) => s + m![k], 0);
  return {
    userIn: sum('userIn'),
    lag: sum('lag'),
    redisCommands: sum('redisCommands'),
    checkpointsOk: sum('checkpointsOk'),
  };
}

async function stopJobs(jobs: JobProcess[]): Promise<void> {
  await Promise.all(jobs.map((j) => j.terminate(20_000).catch(() => undefined)));
}

/** Produces values with at most 50k unacknowledged (optionally at a fixed rate); resolves when all are acknowledged. */
async function produceAll(
  sink: KafkaSink,
  topic: string,
  items: { key: string; value: Buffer }[],
  ratePerS?: number,
): Promise<void> {
  const WINDOW = 50_000;
  let pending = 0;
  let failed: unknown = null;
  let wake: (() => void) | null = null;
  const settle = () => {
    pending--;
    if (wake !== null && pending < WINDOW / 2) {
      const w = wake;
      wake = null;
      w();
    }
  };
  const t0 = performance.now();
  for (let i = 0; i < items.length; i++) {
    if (failed !== null) throw failed;
    if (ratePerS !== undefined) {
      const due = t0 + (i / ratePerS) * 1000;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
    }
    pending++;
    sink.send(topic, items[i].key, items[i].value).then(settle, (e: unknown) => {
      failed = e;
      settle();
    });
    if (pending >= WINDOW) await new Promise<void>((r) => (wake = r));
  }
  while (pending > 0) {
    await new Promise<void>((r) => (wake = r));
    if (pending < WINDOW / 2 && pending > 0) await sleep(10);
  }
  if (failed !== null) throw failed;
}

export interface ThroughputResult {
  events: number;
  seconds: number;
  eventsPerS: number;
  maxLag: number;
  produceSeconds: number;
  /** Where the CPU went, from the first produce until caught up (Linux /proc). */
  cpu: ThroughputCpu;
  /** Commands the job's state layer sent to Redis (its counter) per interaction, and checkpoints (all tasks) in the run. */
  redisCmdsPerEvent: number;
  checkpoints: number;
}

export interface ThroughputCpu {
  /** Job process(es), the broker (if it listens on this box), the private redis-server, this process (the producer). */
  shares: CpuShare[];
  /** Busy time of every core over the window: minus the shares, what else ran on the box. */
  boxCpuSeconds: number | null;
  wallSeconds: number;
  /** 2 s with the job idle, before producing and after catching up: the broker's CPU/s and the box's busy cores (other work). */
  idle: IdleRates[];
}

export interface IdleRates {
  brokerCpuPerS: number | null;
  boxBusyCores: number | null;
}

/** CPU of the broker and the box over 2 s with the job idle (what the run did not cause). */
async function idleRates(env: JobEnv, jobs: JobProcess[], brokerPid: number | undefined): Promise<IdleRates> {
  const window = cpuWindow(env, jobs, brokerPid);
  await sleep(2000);
  const c = window.stop(1, 'bench');
  const broker = c.shares.find((x) => x.name === 'broker');
  return {
    brokerCpuPerS: broker ? Number((broker.cpuSeconds / c.wallSeconds).toFixed(3)) : null,
    boxBusyCores: c.boxCpuSeconds === null ? null : Number((c.boxCpuSeconds / c.wallSeconds).toFixed(2)),
  };
}

/** The local broker's process (the first configured broker, if it is on this box). */
function localBrokerPid(): number | undefined {
  const m = /^(127\.0\.0\.1|localhost|\[?::1\]?):(\d+)$/.exec(BROKERS.split(',')[0].trim());
  return m ? (listenerPid(Number(m[2])) ?? undefined) : undefined;
}

/** Watches the CPU of the job(s), the local broker, the private Redis and this process. */
function cpuWindow(env: JobEnv, jobs: JobProcess[], brokerPid: number | undefined): CpuWindow {
  return new CpuWindow([
    ...jobs.map((j, k) => ({ name: jobs.length > 1 ? `job-${k}` : 'job', pid: j.proc.pid, threads: true })),
    { name: 'broker', pid: brokerPid },
    { name: 'redis', pid: env.redis.pid },
  ]);
}

export async function e2eThroughput(
  w: Workload,
  events: number,
  timeoutMs: number,
  log: (m: string) => void,
  shape: JobShape = {},
): Promise<ThroughputResult> {
  const env = await jobEnv('tput', log);
  const serde = Serde.local();
  const sink = new KafkaSink({ brokers: BROKERS, clientId: `${env.appId}-producer` });
  let jobs: JobProcess[] = [];
  try {
    jobs = await startJobs(env, shape, 120_000);
    await sink.connect();
    const brokerPid = localBrokerPid();
    const idleBefore = await idleRates(env, jobs, brokerPid);
    await produceAll(
      sink,
      env.names.published,
      w.published.map((p) => ({ key: p.content_id, value: serde.encode('ContentPublished', p) })),
    );
    const input = w.interactions
      .slice(0, events)
      .map((e) => ({ key: e.user_id, value: serde.encode('UserInteraction', e) }));
    log(`e2e throughput: producing ${input.length} interactions`);
    const window = cpuWindow(env, jobs, brokerPid);
    const m0 = await groupMetrics(jobs);
    const t0 = performance.now();
    let produceSeconds = 0;
    const producing = produceAll(sink, env.names.interactions, input).then(
      () => (produceSeconds = (performance.now() - t0) / 1000),
    );
    let maxLag = 0;
    const deadline = Date.now() + timeoutMs;
    let last: Awaited<ReturnType<typeof groupMetrics>>;
    for (;;) {
      await sleep(100);
      const m = (last = await groupMetrics(jobs));
      if (m) maxLag = Math.max(maxLag, m.lag);
      if (m && m.userIn >= input.length + w.published.length && m.lag === 0 && produceSeconds > 0) break;
      if (Date.now() > deadline)
        throw new Error(
          `e2e throughput: not caught up within ${timeoutMs} ms (stage-1 in ${m?.userIn}, lag ${m?.lag})`,
        );
      for (const job of jobs) if (!job.running) throw new Error(`job exited: ${job.outputTail.slice(-500)}`);
    }
    await producing;
    const seconds = (performance.now() - t0) / 1000;
    const used = window.stop(input.length, 'bench (producer)');
    const cpu = { ...used, idle: [idleBefore, await idleRates(env, jobs, brokerPid)] };
    const delta = (k: 'redisCommands' | 'checkpointsOk') => (m0 && last ? last[k] - m0[k] : NaN);
    return {
      events: input.length,
      seconds,
      eventsPerS: input.length / seconds,
      maxLag,
      produceSeconds,
      cpu,
      redisCmdsPerEvent: delta('redisCommands') / input.length,
      checkpoints: delta('checkpointsOk'),
    };
  } finally {
    await sink.disconnect().catch(() => undefined);
    await stopJobs(jobs);
    await disposeEnv(env);
  }
}

/** Latency figures (ms from produce) of one way of seeing an interaction. */
export interface LatencyFigures {
  /** Interactions measured, and of those, seen within the wait. */
  measured: number;
  seen: number;
  p50: number;
  p99: number;
  max: number;
  /** Some were never seen within the wait (counted with their wait so far): lower bounds. */
  lowerBound: boolean;
  /** p50 / max of the interactions sent in each second of the run: shows stalls. */
  perSecond: { p50: number; max: number }[];
}

export interface LatencyResult extends LatencyFigures {
  rate: number;
  sent: number;
  /** p50/p99/max above: to the user's serving copy in Redis; every `sampleEvery`-th interaction. */
  sampleEvery: number;
  /** User-task checkpoints the bench saw land in Redis during the run, at the job's commit interval. */
  checkpoints: number;
  commitIntervalMs: number;
  /** p99 / max event-loop delay (ms) of this process while it produced and timed: how late it may have noticed. */
  benchLoopDelayMs: { p99: number; max: number };
  /** Commands the job's state layer sent to Redis per interaction while they were produced (its counter). */
  redisCmdsPerEvent: number;
  /**
   * Serving copy − forwarded record, over the sampled interactions that have both (ms): the wait
   * for the checkpoint round and the round; the minimum is about the shortest round (cut → in Redis).
   */
  servingAfterTopicMs: { min: number; p50: number; p99: number };
  /** To the forwarded record on `<app>-content-events` (every interaction). */
  contentEvents: LatencyFigures;
}

/**
 * Percentiles of `seenAt[i] − sentAt[i]` over the measured indices (`every`-th of `n`); one not
 * seen counts with its wait until `stoppedAt`.
 */
function latencyFigures(
  seenAt: Float64Array,
  sentAt: Float64Array,
  every: number,
  rate: number,
  stoppedAt: number,
): LatencyFigures {
  const idx: number[] = [];
  for (let i = 0; i < sentAt.length; i += every) idx.push(i);
  const wait = (i: number) => (seenAt[i] >= 0 ? seenAt[i] : stoppedAt) - sentAt[i];
  const sorted = (xs: number[]) => xs.map(wait).sort((a, b) => a - b);
  const perSecond: { p50: number; max: number }[] = [];
  for (let s = 0; s * rate < sentAt.length; s++) {
    const sec = sorted(idx.filter((i) => i >= s * rate && i < (s + 1) * rate));
    if (sec.length > 0) perSecond.push({ p50: sec[Math.floor(sec.length / 2)], max: sec[sec.length - 1] });
  }
  const all = sorted(idx);
  const q = (p: number) => all[Math.min(all.length - 1, Math.floor(p * all.length))];
  const seen = idx.filter((i) => seenAt[i] >= 0).length;
  return {
    measured: idx.length,
    seen,
    p50: q(0.5),
    p99: q(0.99),
    max: all[all.length - 1],
    lowerBound: seen < idx.length,
    perSecond,
  };
}

/** Serving-copy reads per second the latency run aims at (one HGET per sampled interaction per checkpoint). */
const SERVING_READS_PER_S = 2000;

/**
 * Produces `rate` interactions/s for `seconds` with event_time = produce wall time, and times each
 * until its user's serving copy in Redis reflects it (ServingCopyWatch; sampled) and until its
 * forwarded record is read from `<app>-content-events`.
 */
export async function e2eLatency(
  w: Workload,
  rate: number,
  seconds: number,
  log: (m: string) => void,
  shape: JobShape = {},
): Promise<LatencyResult> {
  const env = await jobEnv('lat', log);
  const serde = Serde.local();
  let jobs: JobProcess[] = [];
  const sink = new KafkaSink({
    brokers: BROKERS,
    clientId: `${env.appId}-producer`,
    rdkafka: { 'linger.ms': 1 },
  });
  const source = new KafkaSource({
    brokers: BROKERS,
    groupId: `${env.appId}-reader`,
    topics: [env.names.contentEvents],
    rdkafka: { 'fetch.wait.max.ms': 5 },
  });
  const sub = env.redis.client();
  const reader = env.redis.client();
  let watch: ServingCopyWatch | null = null;
  try {
    jobs = await startJobs(env, shape, 120_000);
    await sink.connect();
    await source.connect();
    // Event time is wall time here: contents are published now too (an event-time jump of years
    // would make the content stage close every tick boundary in between).
    const now = Date.now();
    await produceAll(
      sink,
      env.names.published,
      w.published.map((p) => ({
        key: p.content_id,
        value: serde.encode('ContentPublished', { ...p, published_at: now }),
      })),
    );
    const n = Math.round(rate * seconds);
    const sampleEvery = Math.max(1, Math.round(rate / SERVING_READS_PER_S));
    const cfg = loadRuntimeConfig(); // the job's config: the same THERMOSTAT_* environment
    const partitions = shape.partitions ?? cfg.kafka.inputPartitions;
    watch = await ServingCopyWatch.start(sub, reader, env.appId, partitions, n);
    const read = new Float64Array(n).fill(-1); // per interaction: wall ms its forwarded record was read
    const sentAt = new Float64Array(n);
    let received = 0;
    let stop = false;
    const consumer = (async () => {
      while (!stop) {
        const batch = await source.poll(5000, 20);
        const now = Date.now();
        for (const r of batch) {
          if (!r.value) continue;
          const ev = serde.decode(r.value).value as ContentEvent;
          if (ev.interaction && ev.interaction.event_id.startsWith('lat-')) {
            const i = Number(ev.interaction.event_id.slice(4));
            if (read[i] < 0) received++;
            read[i] = now;
          }
        }
      }
    })();
    await sleep(2000); // reader assigned
    // The publications are set-up, not load: wait until the job consumed them (all of stage 1,
    // lag 0), so the interactions measure latency of a warm job rather than queueing behind 100k
    // publications (full size: the first seconds at 2k/s read 1-2 s before this wait).
    for (const end = Date.now() + 120_000; ;) {
      const m = await groupMetrics(jobs);
      if (m && m.userIn >= w.published.length && m.lag === 0) break;
      if (Date.now() > end) throw new Error(`latency: publications not consumed (stage-1 in ${m?.userIn})`);
      await sleep(100);
    }
    log(`e2e latency: ${n} interactions at ${rate}/s, 1 in ${sampleEvery} timed to the serving copy`);
    const checkpointsBefore = watch.checkpoints;
    const m0 = await groupMetrics(jobs);
    const inflight = new Set<Promise<unknown>>();
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const due = t0 + (i / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const base = w.interactions[i % w.interactions.length];
      const ev: UserInteraction = {
        ...base,
        event_id: `lat-${i}`,
        event_time: Date.now(),
        user_registered_at: null,
      };
      sentAt[i] = ev.event_time;
      const sent = sink.send(env.names.interactions, ev.user_id, serde.encode('UserInteraction', ev));
      const p = (
        i % sampleEvery === 0
          ? sent.then((d) => watch!.delivered(i, ev.user_id, ev.event_time, d.partition, d.offset))
          : sent
      ).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
    const m1 = await groupMetrics(jobs);
    const end = Date.now() + 10_000;
    while ((received < n || watch.waiting > 0) && Date.now() < end) {
      watch.assertHealthy();
      await sleep(100);
    }
    stop = true;
    await consumer;
    loopDelay.disable();
    watch.assertHealthy();
    if (watch.seen === 0) throw new Error('no interaction seen in the serving copy');
    const stoppedAt = Date.now();
    const gaps: number[] = [];
    for (let i = 0; i < n; i += sampleEvery)
      if (watch.seenAt[i] >= 0 && read[i] >= 0) gaps.push(watch.seenAt[i] - read[i]);
    gaps.sort((a, b) => a - b);
    const gap = (q: number) => gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))] ?? NaN;
    return {
      rate,
      sent: n,
      sampleEvery,
      checkpoints: watch.checkpoints - checkpointsBefore,
      commitIntervalMs: cfg.commitIntervalMs,
      benchLoopDelayMs: {
        p99: Number((loopDelay.percentile(99) / 1e6).toFixed(1)),
        max: Number((loopDelay.max / 1e6).toFixed(1)),
      },
      redisCmdsPerEvent: m0 && m1 ? (m1.redisCommands - m0.redisCommands) / n : NaN,
      ...latencyFigures(watch.seenAt, sentAt, sampleEvery, rate, stoppedAt),
      servingAfterTopicMs: { min: gap(0), p50: gap(0.5), p99: gap(0.99) },
      contentEvents: latencyFigures(read, sentAt, 1, rate, stoppedAt),
    };
  } finally {
    await watch?.stop();
    sub.disconnect();
    reader.disconnect();
    await source.disconnect().catch(() => undefined);
    await sink.disconnect().catch(() => undefined);
    await stopJobs(jobs);
    await disposeEnv(env);
  }
}

export interface RecoveryResult {
  users: number;
  seconds: number;
  readySeconds: number;
  buildSeconds: number;
  /** Redis INFO used_memory and DBSIZE when the job was killed (the checkpointed state). */
  redisUsedBytes: number;
  redisKeys: number;
}

/** Memory and key count of the job's private Redis. */
async function redisSize(env: JobEnv): Promise<{ usedBytes: number; keys: number }> {
  const admin = env.redis.client();
  try {
    const info = await admin.info('memory');
    return { usedBytes: Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN), keys: await admin.dbsize() };
  } finally {
    admin.disconnect();
  }
}

/** State for `users` users (one interaction each), checkpointed; kill -9; restart until ready and caught up. */
export async function recovery(
  users: number,
  timeoutMs: number,
  log: (m: string) => void,
): Promise<RecoveryResult> {
  const env = await jobEnv('rec', log);
  const serde = Serde.local();
  // Static group membership (group.instance.id), as a Deployment/StatefulSet pod keeps its name:
  // the restarted process takes its partitions back at once instead of after session.timeout.ms
  // (10 s), when the group would first have to expire the killed member.
  const member = { THERMOSTAT_INSTANCE_ID: `${env.appId}-0` };
  let job = spawnJob(env, member);
  const sink = new KafkaSink({ brokers: BROKERS, clientId: `${env.appId}-producer` });
  try {
    await job.waitStarted(90_000);
    await waitReady(job, 90_000);
    await sink.connect();
    const cats = ['tech', 'food', 'travel', 'sports', 'music'];
    const input: { key: string; value: Buffer }[] = new Array(users);
    for (let i = 0; i < users; i++) {
      const ev: UserInteraction = {
        event_id: `r${i}`,
        user_id: `u${i}`,
        content_id: `c${i % 1000}`,
        category: cats[i % 5],
        event_time: BENCH_START + i,
        click: i % 13 === 0,
        dwell_ms: 1000,
        completion: 0.5,
        shared: false,
        is_new_content: false,
        heated: false,
        allocation_id: null,
        user_registered_at: null,
      };
      input[i] = { key: ev.user_id, value: serde.encode('UserInteraction', ev) };
    }
    log(`recovery: building state for ${users} users`);
    const tb = performance.now();
    await produceAll(sink, env.names.interactions, input);
    const deadline = Date.now() + timeoutMs;
    let m = await metricsOf(job);
    while (!m || m.userIn < users || m.lag > 0) {
      if (Date.now() > deadline)
        throw new Error(`recovery: state not built within ${timeoutMs} ms (stage-1 in ${m?.userIn})`);
      await sleep(250);
      m = await metricsOf(job);
    }
    // Two more checkpoint rounds complete with nothing queued: the state is in Redis.
    const base = m.checkpointsDone;
    while (!m || m.checkpointsDone < base + 2 * 13 || m.queued > 0) {
      if (Date.now() > deadline) throw new Error('recovery: checkpoint did not complete');
      await sleep(250);
      m = await metricsOf(job);
    }
    const buildSeconds = (performance.now() - tb) / 1000;
    const size = await redisSize(env);
    log(
      `recovery: state built in ${buildSeconds.toFixed(1)} s (Redis: ${size.keys} keys, ${(size.usedBytes / 2 ** 20).toFixed(0)} MiB); kill -9`,
    );
    await job.crash();
    const t0 = performance.now();
    job = spawnJob(env, member);
    await job.waitStarted(90_000);
    await waitReady(job, 90_000);
    const readySeconds = (performance.now() - t0) / 1000;
    // Caught up: the lag gauge (refreshed each commit interval) reads 0 after the restart.
    let r = await metricsOf(job);
    const cps = r?.checkpointsDone ?? 0;
    while (!r || r.checkpointsDone <= cps || r.lag > 0) {
      if (Date.now() > deadline) throw new Error('recovery: not caught up after restart');
      await sleep(20);
      r = await metricsOf(job);
    }
    return {
      users,
      seconds: (performance.now() - t0) / 1000,
      readySeconds,
      buildSeconds,
      redisUsedBytes: size.usedBytes,
      redisKeys: size.keys,
    };
  } finally {
    await sink.disconnect().catch(() => undefined);
    await job.terminate(20_000).catch(() => undefined);
    await disposeEnv(env);
  }
}
