// A private Redis Cluster or Sentinel setup per test, started by scripts/redis-ha.sh in a temp dir
// (free ports, nothing shared with the stack's 6379) and stopped when the test ends.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

export class RedisHa {
  private constructor(
    readonly topology: 'cluster' | 'sentinel',
    readonly dir: string,
    /** The REDIS_URL the job uses (redis+cluster://… or redis+sentinel://…/thermostat). */
    readonly url: string,
    /** Cluster: the three masters. Sentinel: master, replica, then the three sentinels. */
    readonly ports: number[],
  ) {}

  static async start(topology: 'cluster' | 'sentinel'): Promise<RedisHa> {
    const dir = mkdtempSync(join(tmpdir(), `thermostat-redis-${topology}-`));
    try {
      const { stdout } = await run('bash', ['scripts/redis-ha.sh', 'up', topology, '--dir', dir], {
        cwd: root,
      });
      const ports = readFileSync(join(dir, 'ports'), 'utf8').trim().split(/\s+/).map(Number);
      return new RedisHa(topology, dir, stdout.trim(), ports);
    } catch (e) {
      await run('bash', ['scripts/redis-ha.sh', 'down', '--dir', dir], { cwd: root }).catch(() => undefined);
      throw e;
    }
  }

  get sentinelPorts(): number[] {
    return this.topology === 'sentinel' ? this.ports.slice(2) : [];
  }

  /** A plain client on one node (assertions, SENTINEL / CLUSTER commands). */
  node(port: number): Redis {
    const c = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 3 });
    c.on('error', () => {});
    return c;
  }

  /** A client for the test's own reads: a Cluster client, or one that follows the sentinels. */
  reader(): Redis | Cluster {
    const c =
      this.topology === 'cluster'
        ? new Cluster(this.ports.map((port) => ({ host: '127.0.0.1', port })))
        : new Redis({
            sentinels: this.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
            name: 'thermostat',
            maxRetriesPerRequest: 20,
          });
    c.on('error', () => {});
    return c;
  }

  /** The master's port as the sentinels see it. */
  async masterPort(): Promise<number> {
    const s = this.node(this.sentinelPorts[0]);
    try {
      const [, port] = (await s.call('SENTINEL', 'get-master-addr-by-name', 'thermostat')) as string[];
      return Number(port);
    } finally {
      s.disconnect();
    }
  }

  async stop(): Promise<void> {
    await run('bash', ['scripts/redis-ha.sh', 'down', '--dir', this.dir], { cwd: root });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
