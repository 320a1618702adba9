// A private single-node Kafka (KRaft) broker per test, for tests that stop and restart the broker:
// the shared one on 127.0.0.1:9092 serves other engineers' tests and must never be touched. Same
// jars (.stack/kafka/libs, installed by scripts/stack.sh up) and the same broker settings
// (scripts/kafka/server.properties) as the local stack, on free ports with a temp data dir that
// survives stop/start, so a restart finds its topics, logs and committed offsets again.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../bench/support/redis-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CLUSTER_ID = 'dGhlcm1vc3RhdC10ZXN0cw'; // base64url("thermostat-tests")
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export class PrivateKafka {
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly controllerPort: number,
  ) {}

  /** Formats a fresh data dir and starts the broker; resolves once it answers metadata requests. */
  static async start(): Promise<PrivateKafka> {
    // The jars: scripts/stack.sh installs them with the shared stack (idempotent when it runs).
    execFileSync('bash', ['scripts/stack.sh', 'up'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    const k = new PrivateKafka(
      mkdtempSync(join(tmpdir(), 'thermostat-kafka-')),
      await freePort(),
      await freePort(),
    );
    const props = readFileSync(join(root, 'scripts/kafka/server.properties'), 'utf8')
      .replaceAll('@DATA_DIR@', join(k.dir, 'data'))
      .replaceAll('127.0.0.1:9092', `127.0.0.1:${k.port}`)
      .replaceAll('127.0.0.1:9093', `127.0.0.1:${k.controllerPort}`);
    writeFileSync(k.propsFile, props);
    execFileSync(
      'java',
      [
        ...k.javaProps(),
        'kafka.tools.StorageTool',
        'format',
        '-t',
        CLUSTER_ID,
        '-c',
        k.propsFile,
        '--ignore-formatted',
      ],
      { cwd: root, stdio: 'ignore' },
    );
    await k.startProcess();
    return k;
  }

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Last lines of the broker's log (for assertion messages). */
  logTail(lines = 20): string {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Graceful stop (SIGTERM: controlled shutdown, logs flushed); SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 30_000): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** (Re)starts the broker on the same ports and data dir (stops it first if it runs). */
  async restart(): Promise<void> {
    await this.stop();
    await this.startProcess();
  }

  async dispose(): Promise<void> {
    if (this.proc && this.running) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private get propsFile(): string {
    return join(this.dir, 'server.properties');
  }

  private javaProps(): string[] {
    return [
      '-cp',
      join(root, '.stack/kafka/libs/*'),
      `-Dlog4j.configuration=file:${join(root, 'scripts/kafka/log4j.properties')}`,
      `-Dkafka.logs.dir=${this.dir}`,
    ];
  }

  private async startProcess(): Promise<void> {
    const proc = spawn(
      'java',
      [
        '-Xms128m',
        '-Xmx512m',
        '-XX:+UseG1GC',
        '-Djava.awt.headless=true',
        ...this.javaProps(),
        'kafka.Kafka',
        this.propsFile,
      ],
      { cwd: root, stdio: 'ignore' },
    );
    this.proc = proc;
    live.add(proc);
    this.exited = new Promise((resolve) =>
      proc.once('exit', () => {
        live.delete(proc);
        resolve();
      }),
    );
    // scripts/kafka/wait-ready.cjs: a real metadata round trip, not just an open port.
    await new Promise<void>((resolve, reject) =>
      execFile(
        process.execPath,
        ['scripts/kafka/wait-ready.cjs', this.brokers, '90000'],
        { cwd: root },
        (err) =>
          err
            ? reject(new Error(`private Kafka did not start: ${err.message}\n${this.logTail()}`))
            : resolve(),
      ),
    );
  }
}
