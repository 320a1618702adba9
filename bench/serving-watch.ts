// When does an interaction become readable by a ranker? The ranker reads the user's serving copy
// (docs/STATE.md "User mind state": the hash at `userMindKey`), which the job writes at its
// checkpoints, one atomic Lua call per task ending with writes to the task hash. So the bench turns
// on keyspace notifications for hash commands on the job's private redis-server, subscribes to
// the user tasks' `{<app>.user.<p>}:task` keys only, and on each notification of a task (a
// checkpoint landed) reads `version` of the pending sampled users of that partition: an
// interaction is visible once its user's version reaches the interaction's offset (user state's
// version is the source offset of the last applied record). Its latency is the notification's
// arrival − produce time. Redis is single-threaded, so a read sent after the notification sees the
// whole checkpoint. Costs: one HGET per sampled interaction per checkpoint of its partition, and
// a keyspace event per HSET in Redis (published only to this one pattern).
import type { Redis } from 'ioredis';
import { userMindKey } from '../state/keys.js';

interface Pending {
  /** Index of the interaction in the run. */
  i: number;
  key: string;
  offset: number;
  sentAt: number;
}

export class ServingCopyWatch {
  /** Per tracked interaction: wall time (ms) it was first seen in the serving copy, -1 = not yet. */
  readonly seenAt: Float64Array;
  seen = 0;
  tracked = 0;
  /** Checkpoints of user tasks seen land (and acquires of them). */
  checkpoints = 0;
  private readonly pending = new Map<number, Pending[]>();
  /** Arrival time of the last checkpoint notification per partition. */
  private readonly lastCheckpoint = new Map<number, number>();
  private readonly checking = new Set<number>();
  /** A check of this partition is due after the running one, at this notification time. */
  private readonly recheck = new Map<number, number>();
  private failure: Error | null = null;

  private constructor(
    private readonly sub: Redis,
    private readonly reader: Redis,
    private readonly appId: string,
    private readonly partitions: number,
    size: number,
  ) {
    this.seenAt = new Float64Array(size).fill(-1);
  }

  /**
   * Subscribes to the user tasks' checkpoints of `appId` on the server `sub` and `reader` connect
   * to (two connections: one in subscriber mode, one for reads). `size`: interactions in the run.
   */
  static async start(
    sub: Redis,
    reader: Redis,
    appId: string,
    partitions: number,
    size: number,
  ): Promise<ServingCopyWatch> {
    const w = new ServingCopyWatch(sub, reader, appId, partitions, size);
    // K: keyspace channel (`__keyspace@<db>__:<key>`), h: hash commands (HSET inside the script).
    await reader.config('SET', 'notify-keyspace-events', 'Kh');
    const prefix = `__keyspace@0__:{${appId}.user.`;
    sub.on('pmessage', (_pattern: string, channel: string, event: string) => {
      // A commit ends with HINCRBY of the task's `checkpoints` (after the HSET of its seq and meta);
      // an acquire's HINCRBY of the epoch comes here too and finds nothing new.
      if (event !== 'hincrby') return;
      const p = Number(channel.slice(prefix.length, channel.indexOf('}', prefix.length)));
      w.checkpoints++;
      w.lastCheckpoint.set(p, Date.now());
      w.check(p, Date.now());
    });
    await sub.psubscribe(`${prefix}*}:task`);
    return w;
  }

  /**
   * Interaction `i` of `userId`, produced at `sentAt` (wall ms), is in the log at
   * `partition`/`offset` (its delivery report): wait for its user's serving copy to reach it.
   */
  delivered(i: number, userId: string, sentAt: number, partition: number, offset: number): void {
    this.tracked++;
    const list = this.pending.get(partition) ?? [];
    this.pending.set(partition, list);
    list.push({ i, key: userMindKey(this.appId, userId, this.partitions), offset, sentAt });
    // The report came back after a checkpoint of its partition: that checkpoint may hold it.
    // Checked now and, if so, timed at that checkpoint (an upper bound of the true time).
    const last = this.lastCheckpoint.get(partition);
    if (last !== undefined && last > sentAt) this.check(partition, last);
  }

  /** Tracked interactions not seen yet. */
  get waiting(): number {
    return this.tracked - this.seen;
  }

  /** Rejects if a read of the serving copy failed. */
  assertHealthy(): void {
    if (this.failure) throw this.failure;
  }

  async stop(): Promise<void> {
    await this.sub.punsubscribe().catch(() => undefined);
  }

  private check(p: number, at: number): void {
    if (this.checking.has(p)) {
      this.recheck.set(p, Math.max(at, this.recheck.get(p) ?? 0));
      return;
    }
    const list = this.pending.get(p);
    if (!list || list.length === 0) return;
    this.checking.add(p);
    const batch = list.splice(0, list.length);
    const pipe = this.reader.pipeline();
    for (const x of batch) pipe.hget(x.key, 'version');
    pipe
      .exec()
      .then((replies) => {
        const failed = replies?.find(([err]) => err !== null)?.[0];
        if (!replies || failed) throw failed ?? new Error('pipeline not run');
        const still: Pending[] = [];
        batch.forEach((x, k) => {
          const v = replies[k][1] as string | null;
          if (v !== null && Number(v) >= x.offset) {
            this.seenAt[x.i] = at;
            this.seen++;
          } else still.push(x);
        });
        list.unshift(...still);
      })
      .catch((e: unknown) => {
        this.failure ??= e as Error;
        list.unshift(...batch);
      })
      .finally(() => {
        this.checking.delete(p);
        const again = this.recheck.get(p);
        if (again !== undefined) {
          this.recheck.delete(p);
          this.check(p, again);
        }
      });
  }
}
