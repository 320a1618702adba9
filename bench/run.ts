// `thermostat bench`: every speed and memory measurement in one run, each part isolated so a part that
// cannot run leaves its keys null with the reason in `notes`. Sizes: --quick (< 2 min) and full
// (< 15 min). Speed is measured here, never asserted in tests.
import { execFile } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { createMetrics } from '../core/metrics.js';
import { connectStateRedis } from '../state/redis-options.js';
import { RedisCheckpointStore } from '../state/redis-checkpoint.js';
import { stateExpiry } from '../state/expiry.js';
import { IDLE_TTL } from '../core/config.js';
import { TestRedis } from './support/redis-server.js';
import { runInProcess } from './inprocess.js';
import { e2eLatency, e2eThroughput, recovery, type LatencyResult, type ThroughputCpu } from './kafka-runs.js';
import { runNaive } from './naive.js';
import type { CpuShare } from './proc-cpu.js';
import { scaleOut, type ScaleOutRow } from './scale-out.js';
import { commandStats, statDelta } from './redis-stats.js';
import { makeWorkload } from './workload.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

export interface BenchResult {
  inprocess_events_per_s: number | null;
  naive_events_per_s: number | null;
  e2e_events_per_s: number | null;
  e2e_p50_ms: number | null;
  e2e_p99_ms: number | null;
  redis_cmds_per_event: number | null;
  naive_redis_cmds_per_event: number | null;
  bytes_per_user: number | null;
  recovery_s: number | null;
  alloc_rows_per_s: number | null;
  backend: string | null;
  /** Per job-instance count on 12 partitions (opt-in part 'scaleout'). */
  scale_out: ScaleOutRow[] | null;
  notes: string;
}

export interface BenchOptions {
  quick: boolean;
  /**
   * Parts to run (default all but the opt-in ones): inprocess, naive, redis, memory, alloc, e2e,
   * latency, recovery; opt-in: scaleout.
   */
  only?: string[];
  log: (msg: string) => void;
  /** Called after every part with the results so far (a crash later loses nothing). */
  onProgress?: (result: BenchResult, details: Record<string, unknown>) => void;
}

export interface BenchSizes {
  users: number;
  contents: number;
  events: number;
  partitions: number;
  batchSize: number;
  /** Interactions appended per driver round (≈ one fetch of every partition). */
  chunk: number;
  naiveEvents: number;
  redisEvents: number;
  memoryUsers: number;
  e2eEvents: number;
  latencySeconds: number;
  recoveryUsers: number;
}

export const SIZES: Record<'quick' | 'full', BenchSizes> = {
  quick: {
    users: 100_000,
    contents: 10_000,
    events: 300_000,
    partitions: 6,
    batchSize: 5000,
    chunk: 30_000,
    naiveEvents: 30_000,
    redisEvents: 100_000,
    memoryUsers: 300_000,
    e2eEvents: 60_000,
    latencySeconds: 2,
    recoveryUsers: 30_000,
  },
  full: {
    users: 1_000_000,
    contents: 100_000,
    events: 2_000_000,
    partitions: 6,
    batchSize: 5000,
    chunk: 30_000,
    naiveEvents: 200_000,
    redisEvents: 300_000,
    memoryUsers: 1_000_000,
    e2eEvents: 100_000,
    latencySeconds: 10,
    recoveryUsers: 1_000_000,
  },
};

// Interactions between checkpoints of every task in the Redis run (≈ one commit interval of the job).
// Larger commits hit a RedisCheckpointStore limit today (all keys spread into one EVALSHA call).
const CHECKPOINT_EVERY = 20_000;
const round = (x: number, digits = 0) => Number(x.toFixed(digits));

/** CPU µs per interaction of each process of the e2e run, and of the whole box. */
function cpuNote(c: ThroughputCpu, events: number): string {
  const threads = (t: CpuShare['threadsUsPerEvent']) =>
    t ? ` (main thread ${t.main}, librdkafka threads ${t.kafkaClient}, other threads ${t.other})` : '';
  const named = c.shares.map((x) => `${x.name} ${x.usPerEvent}${threads(x.threadsUsPerEvent)}`).join(', ');
  const sum = c.shares.reduce((s, x) => s + x.cpuSeconds, 0);
  const box =
    c.boxCpuSeconds === null
      ? ''
      : ` — whole box ${round((c.boxCpuSeconds * 1e6) / events)} µs (${round(c.boxCpuSeconds / c.wallSeconds, 2)} cores busy, ${round(Math.max(0, c.boxCpuSeconds - sum) / c.wallSeconds, 2)} of them other work)`;
  const idle = ` — job idle before / after the run: broker ${c.idle.map((x) => x.brokerCpuPerS ?? '?').join(' / ')} cores, box ${c.idle.map((x) => x.boxBusyCores ?? '?').join(' / ')} cores busy`;
  return `CPU µs per interaction: ${named}${box}${idle}`;
}

/** What the latency figures are, with the secondary one (to the internal topic). */
function latencyNote(x: LatencyResult): string {
  const lower = (f: { lowerBound: boolean }) =>
    f.lowerBound ? ', the rest not seen within 10 s of the last produce: lower bounds' : '';
  const c = x.contentEvents;
  return (
    `produce wall time (event_time) to the user's serving copy in Redis reflecting it (the checkpoint that holds it landed: ${x.checkpoints} user-task checkpoints, commit interval ${x.commitIntervalMs} ms, the job's Redis commands ${round(x.redisCmdsPerEvent, 4)} per interaction), ` +
    `p50 ${x.p50} ms, p99 ${x.p99} ms, ${x.seen}/${x.measured} seen (1 in ${x.sampleEvery} of ${x.sent} at ${x.rate}/s${lower(x)}) — ` +
    `to the forwarded record on <app>-content-events p50 ${c.p50} ms, p99 ${c.p99} ms, ${c.seen}/${c.measured} read${lower(c)}, the serving copy after it by p50 ${x.servingAfterTopicMs.p50} ms (min ${x.servingAfterTopicMs.min}) — ` +
    `the bench's event-loop delay p99 ${x.benchLoopDelayMs.p99} ms, max ${x.benchLoopDelayMs.max} ms`
  );
}
/** Parts a run without --only skips: they start several jobs and take minutes. */
const OPT_IN: ReadonlySet<string> = new Set(['scaleout']);

export async function runBench(
  o: BenchOptions,
): Promise<{ result: BenchResult; details: Record<string, unknown> }> {
  const sz = SIZES[o.quick ? 'quick' : 'full'];
  const want = (p: string) => (o.only ? o.only.includes(p) : !OPT_IN.has(p));
  const notes: string[] = [];
  const details: Record<string, unknown> = {
    sizes: sz,
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memGiB: round(os.totalmem() / 2 ** 30, 1),
      node: process.version,
      loadavg: os.loadavg().map((x) => round(x, 2)),
    },
  };
  const r: BenchResult = {
    inprocess_events_per_s: null,
    naive_events_per_s: null,
    e2e_events_per_s: null,
    e2e_p50_ms: null,
    e2e_p99_ms: null,
    redis_cmds_per_event: null,
    naive_redis_cmds_per_event: null,
    bytes_per_user: null,
    recovery_s: null,
    alloc_rows_per_s: null,
    backend: null,
    scale_out: null,
    notes: '',
  };
  const part = async (name: string, fn: () => Promise<void>) => {
    if (!want(name)) {
      notes.push(`${name}: not run (${OPT_IN.has(name) ? 'opt-in: --only ' + name : '--only'})`);
      return;
    }
    const t0 = performance.now();
    try {
      await fn();
    } catch (e) {
      notes.push(`${name}: failed: ${(e as Error).message.split('\n')[0].slice(0, 300)}`);
      o.log(`${name} failed: ${(e as Error).stack}`);
    }
    o.log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    o.onProgress?.({ ...r, notes: notes.join('; ') }, details);
  };

  o.log(
    `workload: ${sz.users} users, ${sz.contents} contents, ${sz.events} interactions, ${sz.partitions} partitions`,
  );
  const w = makeWorkload({ users: sz.users, contents: sz.contents, events: sz.events });

  await part('inprocess', async () => {
    const x = await runInProcess({ ...sz }, w);
    details.inprocess = x;
    r.inprocess_events_per_s = round(x.eventsPerS);
    // The headline hands records between stages by reference (every stage is in this process);
    // the same graph with the Avro hop on content-events / allocator-input, for comparison.
    const avro = await runInProcess({ ...sz, localHop: false }, w);
    details.inprocessAvroHop = avro;
    notes.push(
      `inprocess: internal topics by reference (input Avro decode, output/changelog Avro encode kept), ${round(x.eventsPerCpuS)} events/CPU-s; with the Avro hop ${round(avro.eventsPerS)} events/s, ${round(avro.eventsPerCpuS)} events/CPU-s`,
    );
  });

  let redis: TestRedis | undefined;
  const privateRedis = async () => (redis ??= await TestRedis.start());

  await part('naive', async () => {
    const server = await privateRedis();
    const client = await connectStateRedis(server.url);
    const admin = server.client();
    try {
      const x = await runNaive(w, sz.naiveEvents, client, admin);
      details.naive = x;
      r.naive_events_per_s = round(x.eventsPerS);
      r.naive_redis_cmds_per_event = round(x.redisCmdsPerEvent, 4);
      if (r.inprocess_events_per_s) details.ratio = round(r.inprocess_events_per_s / x.eventsPerS, 1);
    } finally {
      client.disconnect();
      admin.disconnect();
    }
  });

  await part('redis', async () => {
    const server = await privateRedis();
    const client = await connectStateRedis(server.url);
    const admin = server.client();
    try {
      const metrics = createMetrics(new Registry(), { defaultMetrics: false });
      // maxEntriesPerCall 1000: the store puts every key of a commit into one EVALSHA argument list
      // (spread), which overflows the stack around 10k+ entries at the default chunk size.
      const store = new RedisCheckpointStore({
        redis: client,
        appId: `bench-redis-${Date.now().toString(36)}`,
        metrics,
        maxEntriesPerCall: 1000,
        expireAfterMs: stateExpiry(IDLE_TTL), // the job's: user and content keys expire
      });
      const events = Math.min(sz.redisEvents, w.interactions.length);
      const sub = {
        ...w,
        interactions: w.interactions.slice(0, events),
        endTime: w.interactions[events - 1].event_time + 1,
      };
      const before = await commandStats(admin);
      const x = await runInProcess(
        { ...sz, events, checkpoints: store, checkpointEachChunk: true, chunk: CHECKPOINT_EVERY },
        sub,
      );
      details.redisRunNote =
        'throughput of this run is dominated by encoding every dirty state entry (JSON + public fields) at each checkpoint';
      const d = statDelta(before, await commandStats(admin));
      // Commands the state layer sent (its own counter), cross-checked against commandstats.
      const client_ = (await metrics.redisCommands.get()).values.reduce((s, v) => s + v.value, 0);
      const server_ = Object.values(d).reduce((s, v) => s + v, 0);
      // Client commands = what the job sends (the seed's "Redis QPS"); Lua-internal calls are listed in details.
      details.redis = {
        events: x.events,
        eventsPerS: round(x.eventsPerS),
        checkpointEvery: CHECKPOINT_EVERY,
        commandstats: d,
        clientCommands: client_,
        serverCalls: server_,
      };
      r.redis_cmds_per_event = round(client_ / x.events, 5);
      notes.push(
        `redis: in-process graph + RedisCheckpointStore, one checkpoint of every task per ${CHECKPOINT_EVERY} interactions; ${round(server_ / x.events, 3)} server calls/event incl. per-key HSETs inside Lua`,
      );
    } finally {
      client.disconnect();
      admin.disconnect();
    }
  });
  await redis?.dispose();

  await part('memory', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', 'bench/memory-child.ts', String(sz.memoryUsers)],
      { cwd: root, maxBuffer: 1 << 20, env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192' } },
    );
    const x = JSON.parse(stdout.trim().split('\n').pop()!);
    details.memory = x;
    r.bytes_per_user = round(x.bytesPerUser);
  });

  await part('alloc', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'bench/alloc-bench.ts', ...(o.quick ? ['--quick'] : []), '--backends=wasm'],
      { cwd: root, maxBuffer: 1 << 22, timeout: 300_000 },
    );
    const x = JSON.parse(stdout.trim().split('\n').pop()!);
    const b = (
      x.backends as {
        backend: string;
        available?: boolean;
        reason?: string;
        allocation_rows_per_s?: Record<string, number>;
      }[]
    )[0];
    details.alloc = b;
    if (!b || b.available === false || !b.allocation_rows_per_s)
      throw new Error(`wasm backend unavailable: ${b?.reason}`);
    // The best wasm configuration (in-thread, or the batch spread over worker threads) when the
    // bench reports one; else the in-thread maximum.
    r.alloc_rows_per_s = x.alloc_rows_per_s ?? Math.max(...Object.values(b.allocation_rows_per_s));
    r.backend = b.backend;
    if (x.alloc_best)
      notes.push(
        `alloc: best wasm configuration ${x.alloc_best.config} at batch ${x.alloc_best.batch} rows (in_thread | workers_N: N scoring threads, the caller waits | main_plus_N: the caller + N workers)`,
      );
  });

  await part('e2e', async () => {
    const x = await e2eThroughput(w, sz.e2eEvents, o.quick ? 90_000 : 150_000, o.log);
    details.e2e = x;
    r.e2e_events_per_s = round(x.eventsPerS);
    notes.push(
      `e2e: ${x.events} interactions produced as fast as the local producer goes (${round(x.produceSeconds, 1)} s), max sampled lag ${x.maxLag}, ${x.checkpoints} task checkpoints, the job's Redis commands ${round(x.redisCmdsPerEvent, 4)} per interaction — ${cpuNote(x.cpu, x.events)}`,
    );
  });

  await part('latency', async () => {
    const x = await e2eLatency(w, 20_000, sz.latencySeconds, o.log);
    details.latency = x;
    r.e2e_p50_ms = x.p50;
    r.e2e_p99_ms = x.p99;
    notes.push(`latency: ${latencyNote(x)}`);
    // The same at a rate the job sustains on this box: latency without a backlog.
    const low = await e2eLatency(w, 2000, o.quick ? 3 : 5, o.log);
    details.latencyAt2k = low;
    notes.push(`latency at 2k events/s: ${latencyNote(low)}`);
  });

  await part('recovery', async () => {
    const x = await recovery(sz.recoveryUsers, o.quick ? 60_000 : 400_000, o.log);
    details.recovery = x;
    r.recovery_s = round(x.seconds, 2);
    notes.push(
      `recovery: ${x.users} users of state (built in ${round(x.buildSeconds, 1)} s; Redis ${x.redisKeys} keys, ${round(x.redisUsedBytes / 2 ** 20)} MiB used), kill -9, restart: ready after ${round(x.readySeconds, 2)} s, caught up (lag 0 at a checkpoint) after ${round(x.seconds, 2)} s`,
    );
  });

  await part('scaleout', async () => {
    const rows = await scaleOut(
      w,
      { instances: [1, 2, 3], partitions: 12, events: sz.e2eEvents, rate: 5000, seconds: 5 },
      o.quick ? 90_000 : 150_000,
      o.log,
    );
    details.scaleOut = rows;
    r.scale_out = rows;
    notes.push(
      'scaleout: 1/2/3 job processes in one consumer group per stage on 12 partitions, this box (broker, Redis and every instance share its cores); throughput as e2e, latency as latency at 5k/s',
    );
  });

  notes.unshift(
    `${o.quick ? 'quick' : 'full'} run on ${os.cpus().length} shared cores (${os.cpus()[0]?.model}), broker and Redis on the same box; timings are noisy`,
  );
  if (o.quick)
    notes.push(
      `quick sizes: in-process ${sz.users} users / ${sz.contents} contents, memory ${sz.memoryUsers} users, recovery ${sz.recoveryUsers} users (full: 1M / 100k, 1M, 1M)`,
    );
  r.notes = notes.join('; ');
  return { result: r, details };
}
