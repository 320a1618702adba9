// A private Redis Cluster or Sentinel setup per test, started by scripts/redis-ha.sh in a temp dir
// (free ports, nothing shared with the stack's 6379) and stopped when the test ends.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { createServer } from 'node:net';

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

  /** Sends `signal` to the process on `port` (SIGSTOP freezes it, SIGCONT resumes it). */
  signal(port: number, signal: NodeJS.Signals): void {
    const file = readdirSync(this.dir).find((f) => f.endsWith(`-${port}.pid`));
    if (!file) throw new Error(`no process on ${port} in ${this.dir}`);
    process.kill(Number(readFileSync(join(this.dir, file), 'utf8')), signal);
  }

  /**
   * Cluster: starts one more node, a replica of the master on `masterPort` (its pid file in the
   * topology's directory, so `stop` ends it too); resolves once the master counts it connected
   * and it sees the whole cluster (cluster_state:ok).
   */
  async addClusterReplica(masterPort: number): Promise<number> {
    const port = await clusterPort();
    await run('redis-server', [
      ...['--bind', '127.0.0.1', '--port', String(port), '--daemonize', 'yes', '--dir', this.dir],
      ...[
        '--pidfile',
        join(this.dir, `cluster-replica-${port}.pid`),
        '--logfile',
        join(this.dir, `replica-${port}.log`),
      ],
      ...['--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes'],
      ...['--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'],
    ]);
    const master = this.node(masterPort);
    const replica = this.node(port);
    try {
      const masterId = String(await master.call('CLUSTER', 'MYID'));
      await replica.call('CLUSTER', 'MEET', '127.0.0.1', String(masterPort));
      for (const end = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() > end) throw new Error(`replica ${port} of ${masterPort} did not sync`);
        const nodes = String(await replica.call('CLUSTER', 'NODES'));
        if (!nodes.includes(masterId)) continue;
        if (!/role:slave/.test(await replica.info('replication')))
          await replica.call('CLUSTER', 'REPLICATE', masterId).catch(() => undefined);
        if (
          /slave0:.*state=online/.test(await master.info('replication')) &&
          /master_link_status:up/.test(await replica.info('replication')) &&
          /cluster_state:ok/.test(String(await replica.call('CLUSTER', 'INFO')))
        )
          return port;
      }
    } finally {
      master.disconnect();
      replica.disconnect();
    }
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
    // Nothing to keep (persistence is off): SIGKILL all at once, instead of one graceful stop
    // after the other (1-2 s each); `down` then only removes the files.
    for (const f of readdirSync(this.dir).filter((n) => n.endsWith('.pid'))) {
      try {
        process.kill(Number(readFileSync(join(this.dir, f), 'utf8')), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await run('bash', ['scripts/redis-ha.sh', 'down', '--dir', this.dir], { cwd: root });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolves whether `port` on 127.0.0.1 can be bound now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port for one more cluster node, as scripts/redis-ha.sh picks them: it and its bus port (+10000) free, below the ephemeral range. */
async function clusterPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 2700);
    if ((await bindable(port)) && (await bindable(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}
