// Redis CheckpointStore: one EVALSHA per checkpoint (Lua applies epoch fencing, seq dedupe and
// per-key version skips atomically), one EVALSHA per batch load, one per acquire. A checkpoint's
// entries travel packed in one argument (state/packed-entries.ts); their keys stay in KEYS.
// Scripts run by SHA1 (EVALSHA) and fall back to EVAL on NOSCRIPT (after a restart or failover the
// script cache is empty). Every command sent is counted in thermostat_redis_commands_total. Works
// on one server, behind Sentinel and on Redis Cluster: each call's keys share the task's hash tag.
import { createHash } from 'node:crypto';
import { FencedError, ThermostatError } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import { ACQUIRE_LUA, COMMIT_LUA, LOAD_LUA, STAGE_LUA } from './lua.js';
import { assertName, stateKey, taskKey, taskTag, versionsKey } from './keys.js';
import { packEntries } from './packed-entries.js';
import type { StateRedis } from './redis-options.js';
import { scanKeys } from './redis-scan.js';
import {
  type AcquireResult,
  type CheckpointStore,
  type CommitRequest,
  type CommitResult,
  type StoredEntry,
  type TaskId,
  taskLabel,
} from './store.js';

export interface RedisCheckpointStoreOptions {
  /** One server, a Sentinel-managed master or a Cluster (every call stays in one task's slot). */
  redis: StateRedis;
  appId: string;
  metrics?: Metrics;
  /**
   * Entries per EVALSHA. A larger commit is staged in chunks into a temp list and applied by a
   * final EVALSHA, still atomically. Bounds one command's size and the server's blocking time.
   */
  maxEntriesPerCall?: number;
  /**
   * Checkpoint writes (stage and commit calls) sent at a time on the connection; later ones wait
   * here in order. Redis runs scripts one after another, so a write sent behind others waits for
   * all of them, and the client's command timeout counts that wait: 13 tasks checkpointing at once
   * made commits time out (and be re-applied) although each took well under the timeout. Waiting
   * here instead keeps each timeout about one call's own work. Loads and acquires do not wait.
   */
  maxWritesInFlight?: number;
}

/** ioredis has evalshaBuffer/evalBuffer at runtime but not in its typings (callBuffer breaks auto-pipelining). */
interface EvalBuffer {
  /** ioredis flattens array arguments: one array avoids spreading 100k+ arguments onto the JS stack. */
  evalshaBuffer(sha: string, numKeys: number, keysThenArgs: (string | Buffer)[]): Promise<unknown>;
  evalBuffer(script: string, numKeys: number, keysThenArgs: (string | Buffer)[]): Promise<unknown>;
}

type ScriptName = 'acquire' | 'load' | 'stage' | 'commit';
const SOURCES: Record<ScriptName, string> = {
  acquire: ACQUIRE_LUA,
  load: LOAD_LUA,
  stage: STAGE_LUA,
  commit: COMMIT_LUA,
};
/** The SHA1 Redis files each script under (EVALSHA). */
const SHAS = Object.fromEntries(
  Object.entries(SOURCES).map(([name, src]) => [name, createHash('sha1').update(src).digest('hex')]),
) as Record<ScriptName, string>;

/** Reply errors a retry can fix (server loading, failover, busy script, memory pressure). */
const TRANSIENT_REPLY = /^(LOADING|READONLY|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|OOM|NOSCRIPT)/;

export class RedisCheckpointStore implements CheckpointStore {
  private readonly redis: StateRedis;
  private readonly appId: string;
  private readonly metrics?: Metrics;
  private readonly maxEntriesPerCall: number;
  private readonly maxWritesInFlight: number;
  private writesInFlight = 0;
  /** Writes waiting for a slot, first come first served. */
  private readonly writeWaiters: (() => void)[] = [];

  constructor(opts: RedisCheckpointStoreOptions) {
    this.redis = opts.redis;
    this.appId = opts.appId;
    this.metrics = opts.metrics;
    this.maxEntriesPerCall = opts.maxEntriesPerCall ?? 10_000;
    this.maxWritesInFlight = opts.maxWritesInFlight ?? 1;
  }

  isAvailable(): boolean {
    return this.redis.status === 'ready';
  }

  async acquire(task: TaskId): Promise<AcquireResult> {
    assertName('stage', task.stage);
    const r = (await this.run('acquire', [taskKey(this.appId, task)], [])) as [number, Buffer | null];
    return { epoch: Number(r[0]), meta: r[1] ?? null };
  }

  async load(task: TaskId, store: string, keys: readonly string[]): Promise<Map<string, StoredEntry>> {
    const out = new Map<string, StoredEntry>();
    if (keys.length === 0) return out;
    const redisKeys = keys.map((k) => stateKey(this.appId, task, store, k));
    const r = (await this.run('load', redisKeys, [])) as Buffer[][];
    for (let i = 0; i < keys.length; i++) {
      const flat = r[i];
      if (!flat || flat.length === 0) continue;
      out.set(keys[i], parseHash(flat));
    }
    return out;
  }

  async commit(task: TaskId, req: CommitRequest): Promise<CommitResult> {
    const tk = taskKey(this.appId, task);
    const staging = `${taskTag(this.appId, task)}:staging:${req.epoch}:${req.seq}`;
    const all = req.entries;
    // Chunks beyond the last are staged; the last one travels inline with the final apply.
    const inlineFrom =
      all.length <= this.maxEntriesPerCall
        ? 0
        : all.length - (all.length % this.maxEntriesPerCall || this.maxEntriesPerCall);
    // Arguments are built once the slot is ours: a call in flight meanwhile is not timed while
    // this one's packing holds the event loop.
    for (let from = 0; from < inlineFrom; from += this.maxEntriesPerCall) {
      const r = (await this.withWriteSlot(() =>
        this.run(
          'stage',
          [tk, staging],
          [String(req.epoch), packEntries(all, from, from + this.maxEntriesPerCall)],
        ),
      )) as number[];
      if (r[0] === -1) this.fenced(task, req.epoch, r[1]);
    }
    const r = (await this.withWriteSlot(() => {
      const keys = [tk, staging, versionsKey(this.appId, task)];
      for (const e of all) keys.push(stateKey(this.appId, task, e.store, e.key));
      const args: (string | Buffer)[] = [
        String(req.epoch),
        String(req.seq),
        req.meta,
        inlineFrom > 0 ? '1' : '0',
        packEntries(all, inlineFrom, all.length),
      ];
      return this.applyCommit(tk, req, keys, args);
    })) as number[];
    if (r[0] === -1) this.fenced(task, req.epoch, r[1]);
    if (r[0] === -2) return { written: 0, skippedStale: 0, duplicate: true };
    return { written: Number(r[0]), skippedStale: Number(r[1]), duplicate: false };
  }

  async deleteTask(task: TaskId): Promise<void> {
    // All of a task's keys share its tag's slot: one DEL per SCAN batch is valid on a Cluster too.
    for await (const { keys } of scanKeys(this.redis, `${taskTag(this.appId, task)}:*`)) {
      this.metrics?.redisCommands.inc();
      if (keys.length > 0) {
        await this.redis.del(...keys);
        this.metrics?.redisCommands.inc();
      }
    }
  }

  private fenced(task: TaskId, epoch: number, stored: number): never {
    this.metrics?.fencedWrites.inc();
    throw new FencedError(
      `checkpoint of ${taskLabel(task)} with epoch ${epoch} refused: stored epoch is ${stored}`,
      { partition: task.partition },
    );
  }

  /**
   * The final commit call. When it times out it may still run: Redis runs a connection's commands
   * in order and a client timeout cancels nothing. Retrying it blindly re-sends every entry,
   * merged with newer ones, in a larger call that is likelier still to time out (at 1M users
   * commits grew to 150k entries this way). So a probe is sent behind it on the same connection:
   * its answer comes after the commit ran, and the task's (epoch, seq) tell whether it applied.
   * While the probe itself times out (the commit still running), it is repeated, one more time
   * per PROBE_ENTRIES entries; then the call fails as it did before.
   */
  private async applyCommit(
    tk: string,
    req: CommitRequest,
    keys: string[],
    args: (string | Buffer)[],
  ): Promise<unknown> {
    try {
      return await this.run('commit', keys, args);
    } catch (e) {
      if (!isTimeout(e)) throw e;
      for (let probe = 0; probe <= req.entries.length / PROBE_ENTRIES; probe++) {
        const stored = await this.storedSeq(tk);
        if (stored === 'timeout') continue;
        if (stored?.epoch !== req.epoch || stored.seq !== req.seq) break;
        // Applied late; its reply (the counts) is lost: every entry is counted as written.
        return [req.entries.length, 0];
      }
      throw e;
    }
  }

  /** The task's stored epoch and seq; 'timeout' when Redis did not answer in time, null on error. */
  private async storedSeq(tk: string): Promise<{ epoch: number; seq: number } | 'timeout' | null> {
    try {
      this.metrics?.redisCommands.inc();
      const [epoch, seq] = await this.redis.hmget(tk, 'epoch', 'seq');
      return { epoch: Number(epoch), seq: Number(seq) };
    } catch (e) {
      return isTimeout(e) ? 'timeout' : null;
    }
  }

  /** Runs `fn` once a write slot is free (see maxWritesInFlight); the slot passes to the next waiter. */
  private async withWriteSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writesInFlight < this.maxWritesInFlight) this.writesInFlight++;
    else await new Promise<void>((resolve) => this.writeWaiters.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.writeWaiters.shift();
      if (next) next();
      else this.writesInFlight--;
    }
  }

  /**
   * EVALSHA of the script's SHA1 (computed here); on NOSCRIPT, EVAL with the source, which runs
   * it and caches it on that server. No SCRIPT LOAD: on a Cluster it would reach one random node,
   * while EVAL goes to the node owning the keys' slot (so does a promoted replica after a
   * failover, or a restarted server, each with an empty script cache).
   */
  private async run(name: ScriptName, keys: string[], args: (string | Buffer)[]): Promise<unknown> {
    const keysThenArgs = (keys as (string | Buffer)[]).concat(args);
    const redis = this.redis as unknown as EvalBuffer;
    try {
      this.metrics?.redisCommands.inc();
      try {
        return await redis.evalshaBuffer(SHAS[name], keys.length, keysThenArgs);
      } catch (e) {
        if (!((e as Error).message ?? '').startsWith('NOSCRIPT')) throw e;
        this.metrics?.redisCommands.inc();
        return await redis.evalBuffer(SOURCES[name], keys.length, keysThenArgs);
      }
    } catch (e) {
      const msg = (e as Error).message ?? '';
      this.metrics?.redisErrors.inc();
      const reply = (e as Error).name === 'ReplyError';
      throw new ThermostatError('DEPENDENCY', `redis ${name} failed: ${msg}`, {
        cause: e,
        retriable: !reply || TRANSIENT_REPLY.test(msg),
      });
    }
  }
}

/** A commit this large gets one more probe (~2 s each) after a timeout: see `applyCommit`. */
const PROBE_ENTRIES = 25_000;

/** The client's command timeout (ioredis), possibly wrapped by `run`. */
function isTimeout(e: unknown): boolean {
  const err = e as Error & { cause?: unknown };
  return (
    err?.message === 'Command timed out' || (err?.cause as Error | undefined)?.message === 'Command timed out'
  );
}

/** HGETALL reply (flat field/value buffers) → StoredEntry. */
function parseHash(flat: Buffer[]): StoredEntry {
  const fields: Record<string, Buffer> = {};
  let version = -1;
  let epoch = 0;
  let deleted = false;
  for (let i = 0; i < flat.length; i += 2) {
    const f = flat[i].toString('utf8');
    if (f === 'version') version = Number(flat[i + 1].toString('utf8'));
    else if (f === 'epoch') epoch = Number(flat[i + 1].toString('utf8'));
    else if (f === 'deleted') deleted = true;
    else fields[f] = flat[i + 1];
  }
  return { version, epoch, fields: deleted ? null : fields };
}
