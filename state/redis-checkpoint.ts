// Redis CheckpointStore: one EVALSHA per checkpoint (Lua applies epoch fencing, seq dedupe and
// per-key version skips atomically), one EVALSHA per batch load, one per acquire. A checkpoint's
// entries travel packed in one argument (state/packed-entries.ts); their keys stay in KEYS.
// Scripts run by SHA1 (EVALSHA) and fall back to EVAL on NOSCRIPT (after a restart or failover the
// script cache is empty). Every command sent is counted in thermostat_redis_commands_total. Works
// on one server, behind Sentinel and on Redis Cluster: each call's keys share the task's hash tag.
// Durability with replicas: a checkpoint counts only once `minReplicaAcks` replicas have it (WAIT),
// and Redis found behind what this store confirmed is never written over (CheckpointLostError).
import { createHash } from 'node:crypto';
import { DAY_MS, systemClock, type Clock } from '../core/clock.js';
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
  EXPIRY_FIELD,
  taskLabel,
} from './store.js';

/**
 * Redis holds less of a task than this store confirmed durable: a failover promoted a replica that
 * lacked confirmed checkpoints, or a server restarted from an older snapshot. The task's memory and
 * source positions are past what Redis holds, so writing on would mix two points in time; the
 * task must be restored from Redis and its input replayed. A FencedError: write-behind stops
 * committing the task at once.
 */
export class CheckpointLostError extends FencedError {}

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
  /**
   * Replicas that must acknowledge a checkpoint (and an acquire) before it counts as durable
   * (config redis.minReplicaAcks). Redis replicates asynchronously: a failover can promote a
   * replica that lacks writes the old master confirmed. So WAIT travels right behind the write on
   * its connection (on a Cluster: to the node owning the task's slot); fewer acknowledgements
   * fail the call (retriable), and the source offsets it covers are not committed. 0: no WAIT.
   */
  minReplicaAcks?: number;
  /** How long WAIT waits for them; the connection waits too, so keep it below the command timeout. */
  replicaAckTimeoutMs?: number;
  /**
   * Per store name: how long a key of that store lives in Redis after its last write (the commit
   * refreshes the TTL of a key it writes once per wall-clock day, so a key expires between this
   * less a day and this after its last write); 0: no expiry (a TTL set earlier is removed). Keys
   * of stores not listed get no TTL. See docs/STATE.md "Expiry".
   */
  expireAfterMs?: Readonly<Record<string, number>>;
  /** Wall clock of the daily TTL refresh (default: the system clock). */
  clock?: Clock;
}

/** A task's latest epoch and seq that Redis confirmed (with the replicas asked for). */
interface Confirmed {
  epoch: number;
  seq: number;
}

/** A script's reply and how many replicas acknowledged it (Infinity: not asked). */
interface Reply {
  reply: unknown;
  acks: number;
}

/**
 * The calls the store sends, on the client (each returns its reply) or on a pipeline (replies come
 * from `exec`). ioredis has evalshaBuffer/evalBuffer at runtime but not in its typings (callBuffer
 * breaks auto-pipelining); it flattens array arguments: one array avoids spreading 100k+
 * arguments onto the JS stack.
 */
interface StoreCommands {
  evalshaBuffer(sha: string, numKeys: number, keysThenArgs: (string | Buffer)[]): unknown;
  evalBuffer(script: string, numKeys: number, keysThenArgs: (string | Buffer)[]): unknown;
}
interface StorePipeline extends StoreCommands {
  hmget(key: string, ...fields: string[]): unknown;
  hincrby(key: string, field: string, by: number): unknown;
  persist(key: string): unknown;
  wait(numReplicas: number, timeoutMs: number): unknown;
  exec(): Promise<[Error | null, unknown][] | null>;
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

/**
 * Reply errors a retry can fix (server loading, failover, busy script, memory pressure; UNBLOCKED
 * and WAIT on a replica: the call reached a master turned replica by a failover).
 */
const TRANSIENT_REPLY =
  /^(LOADING|READONLY|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|OOM|NOSCRIPT|UNBLOCKED|ERR WAIT cannot be used with replica)/;

export class RedisCheckpointStore implements CheckpointStore {
  private readonly redis: StateRedis;
  private readonly appId: string;
  private readonly metrics?: Metrics;
  private readonly maxEntriesPerCall: number;
  private readonly maxWritesInFlight: number;
  private readonly minReplicaAcks: number;
  private readonly replicaAckTimeoutMs: number;
  /** `expireAfterMs` as the commit script reads it: "<store> <ms>" pairs. */
  private readonly expiry: string;
  private readonly clock: Clock;
  /** Per task key: what Redis confirmed last; a task found behind it is lost, never written over. */
  private readonly confirmed = new Map<string, Confirmed>();
  private writesInFlight = 0;
  /** Writes waiting for a slot, first come first served. */
  private readonly writeWaiters: (() => void)[] = [];

  constructor(opts: RedisCheckpointStoreOptions) {
    this.redis = opts.redis;
    this.appId = opts.appId;
    this.metrics = opts.metrics;
    this.maxEntriesPerCall = opts.maxEntriesPerCall ?? 10_000;
    this.maxWritesInFlight = opts.maxWritesInFlight ?? 1;
    this.minReplicaAcks = opts.minReplicaAcks ?? 0;
    this.replicaAckTimeoutMs = opts.replicaAckTimeoutMs ?? 500;
    this.expiry = expiryArgument(opts.expireAfterMs ?? {});
    this.clock = opts.clock ?? systemClock;
  }

  isAvailable(): boolean {
    return this.redis.status === 'ready';
  }

  async acquire(task: TaskId): Promise<AcquireResult> {
    assertName('stage', task.stage);
    const tk = taskKey(this.appId, task);
    const { reply, acks } = await this.run('acquire', [tk, versionsKey(this.appId, task)], [], true);
    this.requireAcks(acks, `acquire of ${taskLabel(task)}`);
    const [epoch, meta] = reply as [number, Buffer | null];
    this.confirmed.set(tk, { epoch: Number(epoch), seq: 0 });
    return { epoch: Number(epoch), meta: meta ?? null };
  }

  async load(task: TaskId, store: string, keys: readonly string[]): Promise<Map<string, StoredEntry>> {
    const out = new Map<string, StoredEntry>();
    if (keys.length === 0) return out;
    const tk = taskKey(this.appId, task);
    const redisKeys = [tk];
    for (const k of keys) redisKeys.push(stateKey(this.appId, task, store, k));
    const [epoch, seq, rows] = (await this.run('load', redisKeys, [])).reply as [number, number, Buffer[][]];
    // Values older than those this store confirmed would be taken as current: refuse (retriable;
    // the task's next commit finds the loss and has the task restored).
    const c = this.confirmed.get(tk);
    if (c && behind({ epoch: Number(epoch), seq: Number(seq) }, c))
      throw new ThermostatError(
        'DEPENDENCY',
        `redis load refused: ${this.lostMessage(task, { epoch: Number(epoch), seq: Number(seq) }, c)}`,
        { retriable: true },
      );
    for (let i = 0; i < keys.length; i++) {
      const flat = rows[i];
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
      const { reply } = await this.withWriteSlot(() =>
        this.run(
          'stage',
          [tk, staging],
          [String(req.epoch), packEntries(all, from, from + this.maxEntriesPerCall)],
        ),
      );
      const r = reply as number[];
      if (r[0] === -1) await this.fenced(task, req.epoch, Number(r[1]));
    }
    const c = this.confirmed.get(tk);
    const confirmedSeq = c?.epoch === req.epoch ? c.seq : 0;
    const { reply, acks } = await this.withWriteSlot(() => {
      const keys = [tk, staging];
      for (const e of all) keys.push(stateKey(this.appId, task, e.store, e.key));
      const args: (string | Buffer)[] = [
        String(req.epoch),
        String(req.seq),
        req.meta,
        inlineFrom > 0 ? '1' : '0',
        packEntries(all, inlineFrom, all.length),
        String(confirmedSeq),
        this.expiry,
        String(Math.floor(this.clock.now() / DAY_MS)),
      ];
      return this.applyCommit(tk, req, keys, args);
    });
    const r = reply as number[];
    if (r[0] === -1) await this.fenced(task, req.epoch, Number(r[1]));
    if (r[0] === -3) await this.lost(task);
    let acked = acks;
    if (r[0] === -2 && acks !== Infinity) {
      // A duplicate wrote nothing: WAIT counted this connection's earlier writes only, while the
      // seq was applied before, perhaps on an earlier connection. Asked again behind a write.
      const stored = await this.storedSeq(tk);
      acked = typeof stored === 'object' && stored !== null ? stored.acks : 0;
    }
    this.requireAcks(acked, `checkpoint ${req.seq} of ${taskLabel(task)}`);
    // Confirmed: this seq (or, for a duplicate, the stored one above it) is in Redis and on the replicas.
    const seq = r[0] === -2 ? Number(r[1]) : req.seq;
    this.confirmed.set(tk, { epoch: req.epoch, seq: Math.max(seq, confirmedSeq) });
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
    this.confirmed.delete(taskKey(this.appId, task));
  }

  /** A write refused for its epoch: a newer owner holds the task, or (stored below ours) Redis lost our acquire. */
  private async fenced(task: TaskId, epoch: number, stored: number): Promise<never> {
    const c = this.confirmed.get(taskKey(this.appId, task));
    if (c?.epoch === epoch && stored < epoch) return this.lost(task);
    this.metrics?.fencedWrites.inc();
    throw new FencedError(
      `checkpoint of ${taskLabel(task)} with epoch ${epoch} refused: stored epoch is ${stored}`,
      { partition: task.partition },
    );
  }

  /**
   * Redis answered that the task is behind what this store confirmed. Believed only from a
   * master: during a failover the old master, turned replica, still answers the scripts' reads
   * (and so does a lagging replica). So the task's position is read again behind a write command
   * that changes nothing (PERSIST: the task hash has no TTL) but that a replica refuses (READONLY:
   * retried, and the client moves to the master), on the same connection (the task's node on a
   * Cluster).
   */
  private async lost(task: TaskId): Promise<never> {
    const tk = taskKey(this.appId, task);
    const c = this.confirmed.get(tk)!;
    let stored: Confirmed;
    try {
      const p = this.redis.pipeline() as unknown as StorePipeline;
      p.persist(tk);
      p.hmget(tk, 'epoch', 'seq');
      this.metrics?.redisCommands.inc(2);
      const replies = (await p.exec()) ?? [];
      const failed = replies.find(([err]) => err)?.[0];
      if (failed) throw failed;
      const pos = replies[1][1] as (string | null)[];
      stored = { epoch: Number(pos[0] ?? 0), seq: Number(pos[1] ?? 0) };
    } catch (e) {
      this.metrics?.redisErrors.inc();
      throw new ThermostatError(
        'DEPENDENCY',
        `redis check of ${taskLabel(task)} failed: ${(e as Error).message}`,
        {
          cause: e,
          retriable: true,
        },
      );
    }
    if (!behind(stored, c))
      throw new ThermostatError(
        'DEPENDENCY',
        `redis ${taskLabel(task)} read behind its confirmed checkpoint: retried`,
        {
          retriable: true,
        },
      );
    throw new CheckpointLostError(this.lostMessage(task, stored, c), { partition: task.partition });
  }

  private lostMessage(task: TaskId, stored: Confirmed, c: Confirmed): string {
    return (
      `Redis holds ${taskLabel(task)} at epoch ${stored.epoch} seq ${stored.seq}, behind the ` +
      `epoch ${c.epoch} seq ${c.seq} it confirmed (lost by a failover or a restart)`
    );
  }

  /** Fewer replicas than asked acknowledged a write: not durable yet (retriable). */
  private requireAcks(acks: number, what: string): void {
    if (acks >= this.minReplicaAcks) return;
    this.metrics?.redisErrors.inc();
    throw new ThermostatError(
      'DEPENDENCY',
      `redis ${what} not durable: ${acks} of ${this.minReplicaAcks} replica(s) acknowledged it within ${this.replicaAckTimeoutMs} ms`,
      { retriable: true },
    );
  }

  /**
   * The final commit call. When it times out it may still run: Redis runs a connection's commands
   * in order and a client timeout cancels nothing. Retrying it blindly re-sends every entry,
   * merged with newer ones, in a larger call that is likelier still to time out (at 1M users
   * commits grew to 150k entries this way). So a probe is sent behind it on the same connection:
   * its answer comes after the commit ran, and the task's (epoch, seq) tell whether it applied.
   * While the probe itself times out (the commit still running), it is repeated, one more time
   * per PROBE_ENTRIES entries; then the call fails as it did before. With replicas asked for,
   * the probe carries its own WAIT (see `storedSeq`).
   */
  private async applyCommit(
    tk: string,
    req: CommitRequest,
    keys: string[],
    args: (string | Buffer)[],
  ): Promise<Reply> {
    try {
      return await this.run('commit', keys, args, true);
    } catch (e) {
      if (!isTimeout(e)) throw e;
      for (let probe = 0; probe <= req.entries.length / PROBE_ENTRIES; probe++) {
        const stored = await this.storedSeq(tk);
        if (stored === 'timeout') continue;
        if (stored?.epoch !== req.epoch || stored.seq !== req.seq) break;
        // Applied late; its reply (the counts) is lost: every entry is counted as written.
        return { reply: [req.entries.length, 0], acks: stored.acks };
      }
      throw e;
    }
  }

  /**
   * The task's stored epoch and seq; 'timeout' when Redis did not answer in time, null on error.
   * With replicas asked for, also how many have everything this master ran so far: WAIT counts up
   * to its connection's last write, so a write (the task's `probes` counter) goes first.
   */
  private async storedSeq(tk: string): Promise<(Confirmed & { acks: number }) | 'timeout' | null> {
    try {
      if (this.minReplicaAcks === 0) {
        this.metrics?.redisCommands.inc();
        const [epoch, seq] = await this.redis.hmget(tk, 'epoch', 'seq');
        return { epoch: Number(epoch), seq: Number(seq), acks: Infinity };
      }
      const p = this.redis.pipeline() as unknown as StorePipeline;
      p.hincrby(tk, 'probes', 1);
      p.hmget(tk, 'epoch', 'seq');
      p.wait(this.minReplicaAcks, this.replicaAckTimeoutMs);
      this.metrics?.redisCommands.inc(3);
      const replies = (await p.exec()) ?? [];
      const failed = replies.find(([err]) => err)?.[0];
      if (failed) throw failed;
      const [epoch, seq] = replies[1][1] as (string | null)[];
      return { epoch: Number(epoch), seq: Number(seq), acks: Number(replies[2][1]) };
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
   * Sends one command; with `confirm` and replicas asked for, WAIT right behind it in one
   * pipeline: on the same connection, so WAIT counts this write (one sent after a reconnect would
   * count the new connection's nothing), and on a Cluster to the node owning the command's keys.
   */
  private async withAcks(queue: (c: StoreCommands) => unknown, confirm: boolean): Promise<Reply> {
    if (!confirm || this.minReplicaAcks === 0)
      return { reply: await queue(this.redis as unknown as StoreCommands), acks: Infinity };
    const p = this.redis.pipeline() as unknown as StorePipeline;
    queue(p);
    this.metrics?.redisCommands.inc();
    p.wait(this.minReplicaAcks, this.replicaAckTimeoutMs);
    const [[err, reply] = [null, null], [waitErr, acks] = [null, null]] = (await p.exec()) ?? [];
    if (err) throw err;
    if (waitErr) throw waitErr;
    return { reply, acks: Number(acks) };
  }

  /**
   * EVALSHA of the script's SHA1 (computed here); on NOSCRIPT, EVAL with the source, which runs
   * it and caches it on that server. No SCRIPT LOAD: on a Cluster it would reach one random node,
   * while EVAL goes to the node owning the keys' slot (so does a promoted replica after a
   * failover, or a restarted server, each with an empty script cache).
   */
  private async run(
    name: ScriptName,
    keys: string[],
    args: (string | Buffer)[],
    confirm = false,
  ): Promise<Reply> {
    const keysThenArgs = (keys as (string | Buffer)[]).concat(args);
    try {
      this.metrics?.redisCommands.inc();
      try {
        return await this.withAcks((p) => p.evalshaBuffer(SHAS[name], keys.length, keysThenArgs), confirm);
      } catch (e) {
        if (!((e as Error).message ?? '').startsWith('NOSCRIPT')) throw e;
        this.metrics?.redisCommands.inc();
        return await this.withAcks((p) => p.evalBuffer(SOURCES[name], keys.length, keysThenArgs), confirm);
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

/** The commit script's expiry argument; fails on a store name or duration the script cannot read. */
function expiryArgument(expireAfterMs: Readonly<Record<string, number>>): string {
  return Object.entries(expireAfterMs)
    .map(([store, ms]) => {
      assertName('store', store);
      if (!Number.isSafeInteger(ms) || ms < 0)
        throw new RangeError(`expiry of store "${store}" must be an integer >= 0 ms, got ${ms}`);
      return `${store} ${ms}`;
    })
    .join(' ');
}

/** True when `stored` is older than `confirmed`: Redis lost confirmed writes (a newer epoch is a new owner). */
function behind(stored: Confirmed, confirmed: Confirmed): boolean {
  return stored.epoch < confirmed.epoch || (stored.epoch === confirmed.epoch && stored.seq < confirmed.seq);
}

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
    else if (f === EXPIRY_FIELD) continue;
    else fields[f] = flat[i + 1];
  }
  return { version, epoch, fields: deleted ? null : fields };
}
