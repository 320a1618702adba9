// The job as a child process (`node bin/thermostat.mjs run --no-sample-traffic`) for crash,
// SIGTERM and outage tests: spawn with an isolated config (app id, topic prefix, Redis URL, HTTP
// port), read /metrics and /readyz, SIGKILL / SIGTERM / SIGSTOP it, wait for exit. Every spawned
// process is also killed when the test process exits, so a failing test leaves nothing behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface JobProcessOptions {
  brokers: string;
  appId: string;
  topicPrefix: string;
  redisUrl: string;
  httpPort: number;
  /** Extra environment (THERMOSTAT_* keys of core/config.ts). */
  env?: Record<string, string>;
  /** Append stdout/stderr here (debugging a failed run). */
  logFile?: string;
  /** Node options before the script, e.g. ['--cpu-prof', '--cpu-prof-dir=prof'] (written at a graceful exit). */
  nodeArgs?: string[];
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class JobProcess {
  readonly proc: ChildProcess;
  readonly exited: Promise<Exit>;
  private out: WriteStream | null = null;
  private tail = '';
  private all = '';

  private constructor(readonly opts: JobProcessOptions) {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KAFKA_BROKERS: opts.brokers,
      THERMOSTAT_APP_ID: opts.appId,
      THERMOSTAT_TOPIC_PREFIX: opts.topicPrefix,
      REDIS_URL: opts.redisUrl,
      THERMOSTAT_HTTP_PORT: String(opts.httpPort),
      THERMOSTAT_LOG_LEVEL: 'warn',
      ...opts.env,
    };
    delete env.NODE_OPTIONS; // the test runner's --import tsx must not leak into the child twice
    delete env.NODE_TEST_CONTEXT;
    this.proc = spawn(
      process.execPath,
      [...(opts.nodeArgs ?? []), 'bin/thermostat.mjs', 'run', '--no-sample-traffic'],
      {
        cwd: root,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    live.add(this.proc);
    if (opts.logFile) this.out = createWriteStream(opts.logFile, { flags: 'a' });
    const onData = (b: Buffer) => {
      this.out?.write(b);
      this.tail = (this.tail + b.toString('utf8')).slice(-4000);
      if (this.all.length < 8_000_000) this.all += b.toString('utf8');
    };
    this.proc.stdout!.on('data', onData);
    this.proc.stderr!.on('data', onData);
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => {
        live.delete(this.proc);
        this.out?.end();
        resolve({ code, signal });
      }),
    );
  }

  static spawn(opts: JobProcessOptions): JobProcess {
    return new JobProcess(opts);
  }

  /** The job of an isolated test run: its app id (also the topic prefix) and private Redis. */
  static async forRun(
    run: { appId: string; redis: { url: string } },
    brokers: string,
    env: Record<string, string> = {},
    httpPort?: number,
  ): Promise<JobProcess> {
    return new JobProcess({
      brokers,
      appId: run.appId,
      topicPrefix: `${run.appId}.`,
      redisUrl: run.redis.url,
      httpPort: httpPort ?? (await freePort()),
      env,
    });
  }

  /**
   * Spawns the same job on every call (same app id, topics, Redis and HTTP port): the lives of a
   * crash or restart test.
   */
  static async restarter(
    run: { appId: string; redis: { url: string } },
    brokers: string,
    opts: Pick<JobProcessOptions, 'env' | 'logFile'> = {},
  ): Promise<() => JobProcess> {
    const httpPort = await freePort();
    return () =>
      new JobProcess({
        brokers,
        appId: run.appId,
        topicPrefix: `${run.appId}.`,
        redisUrl: run.redis.url,
        httpPort,
        ...opts,
      });
  }

  get url(): string {
    return `http://127.0.0.1:${this.opts.httpPort}`;
  }

  /** The last output lines (for assertion messages). */
  get outputTail(): string {
    return this.tail;
  }

  /** Whether anything the process printed so far (up to 8 MB) matches `re`. */
  printed(re: RegExp): boolean {
    return re.test(this.all);
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Parsed /metrics: sample name with labels → value; null when the server does not answer. */
  async metrics(): Promise<Map<string, number> | null> {
    try {
      const res = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) return null;
      return parseMetrics(await res.text());
    } catch {
      return null;
    }
  }

  async readyz(): Promise<{ status: number; body: string } | null> {
    try {
      const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) });
      return { status: res.status, body: await res.text() };
    } catch {
      return null;
    }
  }

  /**
   * Waits until /readyz answers 200: every stage has joined its consumer group and restored what it
   * was given. Joining follows the group's rebalance, so it can come seconds after the first records.
   */
  async waitReady(timeoutMs = 30_000): Promise<{ status: number; body: string } | null> {
    let last = await this.readyz();
    for (const end = Date.now() + timeoutMs; last?.status !== 200 && Date.now() < end;) {
      if (!this.running) throw new Error(`job exited while waiting to be ready:\n${this.tail}`);
      await sleep(100);
      last = await this.readyz();
    }
    return last;
  }

  /** Waits until /metrics answers (the job started: topics, Redis, consumers, HTTP). */
  async waitStarted(timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (!this.running) throw new Error(`job exited during start:\n${this.tail}`);
      if ((await this.metrics()) !== null) return;
      await sleep(100);
    }
    throw new Error(`job did not start within ${timeoutMs} ms:\n${this.tail}`);
  }

  /** Sum of `thermostat_records_in_total` over every topic and stage (0 when not answering). */
  async recordsIn(): Promise<number> {
    const m = await this.metrics();
    return m ? sumMetric(m, 'thermostat_records_in_total') : 0;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.proc.kill(signal);
  }

  /** SIGKILL and wait for the exit. */
  async crash(): Promise<Exit> {
    this.proc.kill('SIGCONT');
    this.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM; resolves with the exit (or SIGKILLs after `timeoutMs` and says so). */
  async terminate(timeoutMs = 30_000): Promise<Exit & { timedOut: boolean }> {
    this.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const r = await Promise.race([this.exited, t]);
    clearTimeout(timer);
    if (r === 'timeout') {
      await this.crash();
      return { code: null, signal: 'SIGKILL', timedOut: true };
    }
    return { ...r, timedOut: false };
  }

  /** Kills the process if it still runs (t.after / finally). */
  async dispose(): Promise<void> {
    if (this.running) await this.crash();
  }
}

export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sum of every sample of `name` (any labels), or of those whose labels contain `labelFilter`. */
export function sumMetric(m: Map<string, number>, name: string, labelFilter?: string): number {
  let s = 0;
  for (const [k, v] of m) {
    if (k !== name && !k.startsWith(`${name}{`)) continue;
    if (labelFilter && !k.includes(labelFilter)) continue;
    s += v;
  }
  return s;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits until the job is ready (partitions assigned and restored), its consumers have no lag, and
 * no stage consumed anything for `quietMs` (idle markers, ticks and allocations included): the
 * run is complete. Returns the last metrics.
 */
export async function waitQuiescent(
  job: JobProcess,
  opts: { quietMs?: number; timeoutMs?: number } = {},
): Promise<Map<string, number>> {
  const quietMs = opts.quietMs ?? 3000;
  const end = Date.now() + (opts.timeoutMs ?? 240_000);
  let last = -1;
  let since = Date.now();
  while (Date.now() < end) {
    if (!job.running) throw new Error(`job exited while running to completion:\n${job.outputTail}`);
    const m = await job.metrics();
    const ready = (await job.readyz())?.status === 200;
    if (m && ready) {
      const rin = sumMetric(m, 'thermostat_records_in_total');
      const lag = sumMetric(m, 'thermostat_consumer_lag_records');
      if (rin !== last || lag > 0) {
        last = rin;
        since = Date.now();
      } else if (Date.now() - since >= quietMs) return m;
    } else since = Date.now();
    await sleep(250);
  }
  throw new Error(`job did not become quiescent:\n${job.outputTail}`);
}

/** Runs a spawned job until it is quiescent, then stops it (SIGTERM, exit 0 required); returns its last metrics. */
export async function runToCompletion(job: JobProcess, quietMs?: number): Promise<Map<string, number>> {
  await job.waitStarted();
  const m = await waitQuiescent(job, { quietMs });
  const exit = await job.terminate();
  if (exit.code !== 0) throw new Error(`graceful stop failed (exit ${exit.code}):\n${job.outputTail}`);
  return m;
}

/** What a job did while a dependency was away: consumption, /readyz over time, the degraded and parked gauges. */
export interface OutageObservation {
  /** Records consumed meanwhile, by stage. */
  consumed: Record<string, number>;
  /** Distinct "<status> <body>" answers of /readyz, in the order first seen, with when (ms into the outage). */
  readyz: { atMs: number; answer: string }[];
  degradedGauge: boolean;
  maxParked: number;
}

/** Polls the job for `ms` (every 200 ms) while a dependency is away. */
export async function observeOutage(job: JobProcess, ms: number): Promise<OutageObservation> {
  const byStage = (m: Map<string, number> | null) =>
    Object.fromEntries(
      ['user', 'content', 'allocator'].map((s) => [
        s,
        m ? sumMetric(m, 'thermostat_records_in_total', `stage="${s}"`) : 0,
      ]),
    );
  const before = byStage(await job.metrics());
  const o: OutageObservation = { consumed: {}, readyz: [], degradedGauge: false, maxParked: 0 };
  const start = Date.now();
  let last = before;
  for (const end = start + ms; Date.now() < end; await sleep(200)) {
    const r = await job.readyz();
    const answer = r ? `${r.status} ${r.body.trim()}` : 'no answer';
    if (!o.readyz.some((x) => x.answer === answer)) o.readyz.push({ atMs: Date.now() - start, answer });
    const m = await job.metrics();
    if (!m) continue;
    last = byStage(m);
    if (sumMetric(m, 'thermostat_degraded') === 1) o.degradedGauge = true;
    o.maxParked = Math.max(o.maxParked, sumMetric(m, 'thermostat_parked_records'));
  }
  o.consumed = Object.fromEntries(Object.keys(before).map((s) => [s, last[s] - before[s]]));
  return o;
}
