// The sample traffic's ranker: it integrates Thermostat the way a platform's ranker does, through
// the package's public helpers only. It follows `heating-allocations` (followAllocations), reads
// each user's mind state from the Redis serving copy (readUserMind) and asks the serving helper
// (HeatingServer) "which heated item, if any, for this user now?" for every page request. What it
// serves comes back to the job as heated impressions with their allocation ids (docs/SERVING.md).
import type { HeatingAllocation, UserMindState } from '../schemas/types.js';
import { followAllocations } from '../ranker/follow-allocations.js';
import { readUserMind } from '../ranker/redis-reads.js';
import { HeatingServer, type ServingConfig } from '../serving/heating-server.js';
import { connectStateRedis, type RedisConnection } from '../state/redis-options.js';
import type { HeatedItem, PageRequest } from './sample-traffic.js';
import type { Serde } from './serde.js';

/** Mind states of users (undefined: not known to the job yet), in the order asked. */
export type MindReader = (userIds: readonly string[]) => Promise<(UserMindState | undefined)[]>;

/** Re-reads the active allocations at most this often, in event time (half a second of the demo's wall time). */
const INGEST_EVERY_MS = 10_000;
/** Users whose recent heated items are remembered (so none is shown twice); the oldest are forgotten. */
const MAX_REMEMBERED_USERS = 100_000;
/** Heated contents remembered per user (above what the per-user cap lets a user see in its window). */
const MAX_REMEMBERED_PER_USER = 64;

export class SampleRanker {
  readonly server: HeatingServer;
  private lastIngest = -Infinity;
  /** User → heated contents shown recently (at most MAX_REMEMBERED_PER_USER). */
  private readonly shown = new Map<string, string[]>();

  constructor(
    private readonly allocations: { active(now: number): HeatingAllocation[] },
    private readonly minds: MindReader,
    serving: Partial<ServingConfig> = {},
  ) {
    this.server = new HeatingServer(serving);
  }

  /** The heated item for each request (null: the organic item stays), in request order. */
  async serve(requests: readonly PageRequest[]): Promise<(HeatedItem | null)[]> {
    if (requests.length === 0) return [];
    const now = requests[0].eventTime;
    if (now - this.lastIngest >= INGEST_EVERY_MS) {
      this.server.ingest(this.allocations.active(now));
      this.lastIngest = now;
    }
    const users = [...new Set(requests.map((r) => r.userId))];
    const read = await this.minds(users);
    const mindOf = new Map(users.map((u, i) => [u, read[i]]));
    return requests.map((req) => {
      const seen = this.shown.get(req.userId);
      const pick = this.server.pick({
        userId: req.userId,
        now: req.eventTime,
        categories: req.interests,
        mind: mindOf.get(req.userId),
        draw: req.draws.explore,
        exclude: (contentId) => seen?.includes(contentId) ?? false,
      });
      if (!pick) return null;
      this.remember(req.userId, pick.contentId);
      return {
        contentId: pick.contentId,
        category: pick.allocation.category,
        allocationId: pick.allocationId,
      };
    });
  }

  /** Allocations the server may still deliver at `now`. */
  activeCount(now: number): number {
    return this.server.activeCount(now);
  }

  private remember(userId: string, contentId: string): void {
    const list = this.shown.get(userId) ?? [];
    this.shown.delete(userId); // re-inserted last: the map's order is least recently served first
    list.push(contentId);
    if (list.length > MAX_REMEMBERED_PER_USER) list.shift();
    this.shown.set(userId, list);
    if (this.shown.size > MAX_REMEMBERED_USERS) this.shown.delete(this.shown.keys().next().value!);
  }
}

export interface SampleRankerOptions {
  brokers: string;
  rdkafka?: Record<string, string | number | boolean>;
  /** The job's heating-allocations topic (topicPrefix included). */
  allocationsTopic: string;
  serde: Serde;
  redis: RedisConnection;
  appId: string;
  /** Partitions of user-interactions (kafka.inputPartitions): where a user's mind state lives. */
  partitions: number;
  /** The traffic's event time: allocations are valid in event time. */
  now: () => number;
  onError?: (err: Error) => void;
}

export interface RunningSampleRanker {
  ranker: SampleRanker;
  stop(): Promise<void>;
}

/** Starts following the allocations and connects to the serving copy in Redis. */
export async function startSampleRanker(o: SampleRankerOptions): Promise<RunningSampleRanker> {
  const follower = await followAllocations({
    brokers: o.brokers,
    rdkafka: o.rdkafka,
    topic: o.allocationsTopic,
    serde: o.serde,
    now: o.now,
    clientId: `${o.appId}-sample-ranker`,
    onError: o.onError,
  });
  const redis = await connectStateRedis(o.redis, {}, o.onError);
  // Redis down or slow: the user is treated as unknown (no heat), as a ranker degrades.
  const minds: MindReader = (users) =>
    Promise.all(users.map((u) => readUserMind(redis, o.appId, u, o.partitions).catch(() => undefined)));
  return {
    ranker: new SampleRanker(follower.view, minds),
    async stop() {
      await follower.stop();
      redis.disconnect();
    },
  };
}
