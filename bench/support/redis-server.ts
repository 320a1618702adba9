// A private redis-server per test or benchmark (never the shared 127.0.0.1:6379): free port, temp dir, AOF on
// so a graceful restart keeps data. Tests can stop, restart, pause (SIGSTOP) and resume it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestRedisOptions {
  /** Extra redis-server arguments, e.g. ['--appendfsync', 'always']. */
  args?: string[];
}

export class TestRedis {
  readonly dir: string;
  private proc: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly opts: TestRedisOptions,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'thermostat-redis-'));
  }

  static async start(opts: TestRedisOptions = {}): Promise<TestRedis> {
    const r = new TestRedis(await freePort(), opts);
    await r.startProcess();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** A plain client for assertions (its own connection; not the one under test). */
  client(): Redis {
    const c = new Redis(this.port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: false });
    c.on('error', () => {}); // reconnects on its own across stop/restart
    return c;
  }

  private async startProcess(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
      ...(this.opts.args ?? []),
    ];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    // If the test process dies without dispose (crash, uncaught error), take the server with it.
    const reap = () => proc.kill('SIGKILL');
    process.once('exit', reap);
    proc.once('exit', () => process.off('exit', reap));
    proc.on('exit', () => {
      if (this.proc === proc) this.proc = null;
    });
    try {
      await this.waitReady();
    } catch (e) {
      proc.kill('SIGKILL'); // a server left running would keep the test process alive
      throw e;
    }
  }

  private async waitReady(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const c = new Redis(this.port, '127.0.0.1', {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        enableOfflineQueue: false,
      });
      c.on('error', () => {});
      try {
        await c.connect();
        if ((await c.ping()) === 'PONG') return;
      } catch {
        // not up yet
      } finally {
        c.disconnect();
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`redis-server on ${this.port} did not start`);
  }

  /** Graceful stop (SIGTERM: redis flushes the AOF), waits for exit. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGCONT');
      p.kill('SIGTERM');
    });
  }

  /** kill -9: no shutdown, whatever the AOF did not fsync is lost. */
  async crash(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  /** Starts the server again after `stop`/`crash` (same port and directory). */
  async start(): Promise<void> {
    if (!this.proc) await this.startProcess();
  }

  /** Stop, then start again on the same port and directory (data kept through the AOF). */
  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.startProcess();
  }

  /** Freezes the server (SIGSTOP): connections stay open, commands hang until `resume`. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  /** Pauses for `ms` then resumes (the "Redis paused for 30 s" scenario, shortened in tests). */
  async pauseFor(ms: number): Promise<void> {
    this.pause();
    await new Promise((r) => setTimeout(r, ms));
    this.resume();
  }

  /** Stops the server and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
