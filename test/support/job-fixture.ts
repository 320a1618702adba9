// A fixed, seeded input stream for job-level recovery tests (crash loop, Redis outages, SIGTERM,
// fencing), the reference state of an uninterrupted run over it (ThermostatTestDriver: the same
// graph in memory, all input upfront), and readers for what the Kafka job left behind: Redis state
// (serving layout), changelog topics (latest record per key) and allocation ids.
import { Cluster, Redis as IORedis, type Redis } from 'ioredis';
import { Rng } from '../../core/rng.js';
import { Registry } from 'prom-client';
import { createMetrics } from '../../core/metrics.js';
import { Serde } from '../../io/serde.js';
import { ensureTopics } from '../../io/topics.js';
import type { InProcessGraph } from '../../runtime/in-process.js';
import { ThermostatTestDriver } from '../../pipelines/test-driver.js';
import { dlqTopic, topicSpecs, topologyNames, type TopologyNames } from '../../pipelines/topology.js';
import { DLQ_HEADERS } from '../../io/dlq.js';
import { wireSerde } from '../../pipelines/wire-serde.js';
import type {
  ContentPublished,
  ContentState,
  HeatingAllocation,
  UserInteraction,
  UserMindState,
} from '../../schemas/types.js';
import { contentStateCodec, userMindCodec } from '../../state/codecs.js';
import { DEFAULT_AGENT_CONFIG } from '../../agents/config.js';
import { contentAgentCodec, userStateCodec } from '../../pipelines/state-codecs.js';
import { uniqueName } from './kafka.js';
import { produceRaw, readRaw } from './raw-records.js';
import { TestRedis } from '../../bench/support/redis-server.js';
import { contentStateKey, userMindKey } from '../../state/keys.js';

export const PARTITIONS = 6;
/** Tick-aligned start of event time. */
export const T0 = 28_333_334 * 60_000;

export interface JobInput {
  published: ContentPublished[];
  interactions: UserInteraction[];
}

export interface InputOptions {
  seed: number;
  interactions: number;
  users: number;
  contents: number;
  /** Event-time spacing of interactions (ms). */
  stepMs: number;
}

const CATEGORIES = ['tech', 'food', 'travel', 'sports', 'music', 'gaming'];

/**
 * Contents published progressively over the first 80% of the stream; interactions pick among the
 * contents published by then, event times jittered within the out-of-orderness (plus 0.1% of
 * records 30 s late: the late side output, decided deterministically at stage 1).
 */
export function makeInput(o: InputOptions): JobInput {
  const rng = new Rng(o.seed);
  const span = o.interactions * o.stepMs;
  const published: ContentPublished[] = [];
  for (let j = 0; j < o.contents; j++) {
    published.push({
      content_id: `c${j}`,
      creator_id: `cr${j % Math.max(1, Math.floor(o.contents / 4))}`,
      category: CATEGORIES[j % CATEGORIES.length],
      quality_score: Math.fround(0.2 + 0.8 * rng.next()),
      published_at: T0 + Math.floor((j * 0.8 * span) / o.contents),
      creator_followers: rng.next() < 0.2 ? 100_000 + rng.int(1_000_000) : rng.int(5000),
    });
  }
  const interactions: UserInteraction[] = [];
  let live = 1;
  for (let i = 0; i < o.interactions; i++) {
    const base = T0 + i * o.stepMs;
    while (live < o.contents && published[live].published_at <= base) live++;
    const c = published[rng.int(live)];
    const click = rng.next() < 0.1;
    const late = rng.next() < 0.001;
    interactions.push({
      event_id: `ev${i}`,
      user_id: `u${rng.int(o.users)}`,
      content_id: c.content_id,
      category: c.category,
      event_time: Math.max(T0, base + (late ? -30_000 : rng.int(3000))),
      click,
      dwell_ms: click ? 2000 + rng.int(60_000) : rng.int(1500),
      completion: Math.fround(click ? 0.3 + 0.7 * rng.next() : 0.1 * rng.next()),
      shared: click && rng.next() < 0.15,
      is_new_content: base - c.published_at < 3_600_000,
      heated: false,
      allocation_id: null,
      user_registered_at: T0 - rng.int(10) * 86_400_000,
    });
  }
  return { published, interactions };
}

/** One input record as a producer sends it: its topic (by role), key, bytes, and optionally partition and timestamp. */
export interface InputRecord {
  topic: 'interactions' | 'published';
  key: string | null;
  value: Buffer;
  /** Explicit partition (a producer with another partitioner); default murmur2(key). */
  partition?: number;
  /** Producer timestamp (ms); default: the produce time on Kafka, unknown in the reference run. */
  timestamp?: number;
  /** Produced with a null value (`value` is then empty: what the reference run reads). */
  tombstone?: boolean;
}

const serdeForInput = Serde.local();

/** An interaction as produced by a Java-default producer (key user_id), unless overridden. */
export const interactionRecord = (r: UserInteraction, o: Partial<InputRecord> = {}): InputRecord => ({
  topic: 'interactions',
  key: r.user_id,
  value: serdeForInput.encode('UserInteraction', r),
  ...o,
});

export const publicationRecord = (p: ContentPublished, o: Partial<InputRecord> = {}): InputRecord => ({
  topic: 'published',
  key: p.content_id,
  value: serdeForInput.encode('ContentPublished', p),
  ...o,
});

/** The input as records in produce order: publications, then interactions. */
export const inputRecords = (input: JobInput): InputRecord[] => [
  ...input.published.map((p) => publicationRecord(p)),
  ...input.interactions.map((r) => interactionRecord(r)),
];

/** A heartbeat in a reference log: every source's watermark moves to `heartbeat` (advanceEventTime). */
export interface Heartbeat {
  heartbeat: number;
}

const recordsOf = (input: JobInput | readonly InputRecord[]): readonly InputRecord[] =>
  Array.isArray(input) ? input : inputRecords(input as JobInput);

/** Creates the job's topics and produces the input, in order (murmur2 partitioning unless a record says otherwise). */
export async function produceInput(
  brokers: string,
  names: TopologyNames,
  input: JobInput | readonly InputRecord[],
): Promise<void> {
  await ensureTopics(topicSpecs(names, PARTITIONS), { brokers });
  await produceRaw(
    brokers,
    recordsOf(input).map((r) => ({ ...r, topic: names[r.topic], value: r.tombstone ? null : r.value })),
  );
}

export interface FinalState {
  users: Map<string, UserMindState>;
  contents: Map<string, ContentState>;
  /** Internal agent state (the `s` field of the Redis hash), JSON, per user / content. */
  usersInternal: Map<string, unknown>;
  contentsInternal: Map<string, unknown>;
  allocationIds: Set<string>;
  allocations: number;
  /** Input records found in a partition their id does not hash to (re-routed or refused). */
  misrouted: number;
  /** Records sent to the late side output (every stage). */
  late: number;
  /** Input records sent to a DLQ: `<interactions|published>/<partition>/<offset> <reason>`. */
  dlq: Set<string>;
}

export interface Timing {
  tickMs: number;
  outOfOrdernessMs: number;
  allowedLatenessMs: number;
  seed: number;
}

/** The job's config defaults (core/config.ts) unless the test overrides them. */
export const DEFAULT_TIMING: Timing = {
  tickMs: 60_000,
  outOfOrdernessMs: 5_000,
  allowedLatenessMs: 5_000,
  seed: 42,
};

/** The uninterrupted run: the same graph in memory, all input appended before anything runs. */
export async function referenceRun(
  input: JobInput | readonly (InputRecord | Heartbeat)[],
  timing: Timing = DEFAULT_TIMING,
): Promise<FinalState> {
  const names = topologyNames('thermostat');
  const serde = wireSerde(names);
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const d = await ThermostatTestDriver.create({
    serde,
    partitions: PARTITIONS,
    ...timing,
    idleTimeoutMs: 0,
    metrics,
  });
  const graph = (d as unknown as { graph: InProcessGraph }).graph;
  const steps: readonly (InputRecord | Heartbeat)[] = Array.isArray(input)
    ? input
    : inputRecords(input as JobInput);
  for (const r of steps) {
    if ('heartbeat' in r) {
      await graph.runUntilIdle();
      await graph.advanceEventTime(r.heartbeat);
    } else graph.append(names[r.topic], r.key, r.value, r.partition, r.timestamp);
  }
  await graph.runUntilIdle();
  const allocations = d.readOutput<HeatingAllocation>(names.allocations);
  const usersInternal = new Map<string, unknown>();
  const contentsInternal = new Map<string, unknown>();
  for (const owned of graph.allTasks) {
    const target =
      owned.task.id.stage === 'user'
        ? usersInternal
        : owned.task.id.stage === 'content'
          ? contentsInternal
          : null;
    if (!target) continue;
    for (const [k, v] of owned.caches[0].entries()) target.set(k, JSON.parse(JSON.stringify(v)));
  }
  return {
    users: new Map(d.allUserStates().map((u) => [u.user_id, u])),
    contents: new Map(d.allContentStates().map((c) => [c.content_id, c])),
    usersInternal,
    contentsInternal,
    allocationIds: new Set(allocations.map((a) => a.allocation_id)),
    allocations: allocations.length,
    misrouted: (await metrics.misroutedRecords.get()).values.reduce((a, v) => a + v.value, 0),
    late: (await metrics.lateRecords.get()).values.reduce((a, v) => a + v.value, 0),
    dlq: new Set(
      (['interactions', 'published'] as const).flatMap((role) =>
        graph.broker.all(dlqTopic(names[role])).map((r) => dlqEntry(role, r.headers ?? {})),
      ),
    ),
  };
}

/** A DLQ record as `<role>/<partition>/<offset> <reason>` (its source coordinates, whatever the topic prefix). */
export const dlqEntry = (role: string, h: Record<string, string>): string =>
  `${role}/${h[DLQ_HEADERS.partition]}/${h[DLQ_HEADERS.offset]} ${h[DLQ_HEADERS.reason]}`;

/** Every user / content state the job left in Redis (serving layout, one HGETALL per key). */
export async function readRedisState(
  redis: Redis | Cluster,
  appId: string,
  ref: FinalState,
): Promise<Pick<FinalState, 'users' | 'contents' | 'usersInternal' | 'contentsInternal'>> {
  const users = new Map<string, UserMindState>();
  const contents = new Map<string, ContentState>();
  const usersInternal = new Map<string, unknown>();
  const contentsInternal = new Map<string, unknown>();
  const userInternal = userStateCodec(DEFAULT_AGENT_CONFIG); // decode reads no configuration
  const read = async (key: string) => {
    const h = (await redis.hgetallBuffer(key)) as Record<string, Buffer>;
    return Object.keys(h).length === 0 ? null : h;
  };
  for (const id of ref.users.keys()) {
    const h = await read(userMindKey(appId, id, PARTITIONS));
    if (!h) continue;
    const version = Number(h.version.toString());
    users.set(id, userMindCodec.decode(h, version));
    usersInternal.set(id, userInternal.decode(h, version));
  }
  for (const id of ref.contents.keys()) {
    const h = await read(contentStateKey(appId, id, PARTITIONS));
    if (!h) continue;
    const version = Number(h.version.toString());
    contents.set(id, contentStateCodec.decode(h, version));
    contentsInternal.set(id, contentAgentCodec.decode(h, version));
  }
  return { users, contents, usersInternal, contentsInternal };
}

/** Number of user / content state keys the app has in Redis (no key beyond the reference's). */
export async function countStateKeys(
  redis: Redis | Cluster,
  appId: string,
): Promise<{ users: number; contents: number }> {
  // SCAN is per node: on a Cluster every master is scanned.
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const count = async (pattern: string) => {
    let n = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
        cursor = next;
        n += keys.length;
      } while (cursor !== '0');
    }
    return n;
  };
  return {
    users: await count(`{${appId}.user.*}:user:*`),
    contents: await count(`{${appId}.content.*}:content:*`),
  };
}

/** Every record of `topic` (all partitions, from the start, up to the high watermarks read first), decoded. */
export async function readTopic<T>(
  brokers: string,
  names: TopologyNames,
  topic: string,
  group: string,
  partitions = PARTITIONS,
  registry: Serde = Serde.local(),
): Promise<{ key: string | null; value: T }[]> {
  const serde = wireSerde(names, registry);
  const raw = await readRaw(brokers, topic, partitions, group);
  await registry.prefetch(raw.map((r) => r.value));
  return raw.map((r) => ({
    key: r.key,
    value: serde.decode(topic, r.value!) as T,
  }));
}

/** Latest record per key of a changelog topic. */
export function latestByKey<T>(records: { key: string | null; value: T }[]): Map<string, T> {
  const m = new Map<string, T>();
  for (const r of records) if (r.key !== null) m.set(r.key, { ...r.value }); // plain objects (Avro records carry a class)
  return m;
}

/**
 * The record with the highest `version` per key — what a consumer following the documented
 * contract keeps (docs/STATE.md) — and how many records arrived after a newer one of their key.
 */
export function highestVersionByKey<T extends { version: number }>(
  records: { key: string | null; value: T }[],
): { state: Map<string, T>; staleAfterNewer: number } {
  const state = new Map<string, T>();
  let staleAfterNewer = 0;
  for (const r of records) {
    if (r.key === null) continue;
    const seen = state.get(r.key);
    if (seen !== undefined && seen.version > r.value.version) staleAfterNewer++;
    else state.set(r.key, { ...r.value });
  }
  return { state, staleAfterNewer };
}

// The comparisons live in verifier.ts (one implementation for tests and the fault-injection suite).
export { assertMatchesReference, assertSameState } from './verifier.js';

/** Calls per command from INFO commandstats (Redis 7: commands run inside Lua scripts count too). */
export async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1], Number(m[2]));
  return out;
}

/** A client for the test's own reads and writes that rides out a dropped connection (retries). */
export function verifyClient(port: number): Redis {
  const c = new IORedis(port, '127.0.0.1', { maxRetriesPerRequest: 50 });
  c.on('error', () => {});
  return c;
}

/** An isolated app id + topic prefix, and a private Redis (and a client on it) disposed when the test ends. */
async function isolatedRun(
  t: { after(fn: () => unknown): void },
  name: string,
): Promise<{ appId: string; names: TopologyNames; redis: TestRedis; client: Redis }> {
  const appId = uniqueName(name);
  const names = topologyNames(appId, `${appId}.`);
  const redis = await TestRedis.start();
  t.after(() => redis.dispose());
  const client = verifyClient(redis.port);
  t.after(() => client.disconnect());
  return { appId, names, redis, client };
}

/**
 * Everything a job-level test starts from: seeded input, its uninterrupted reference run, an
 * isolated app id + topic prefix with the input produced, and a private Redis (and a client on
 * it) that is disposed when the test ends.
 */
export async function setupJobRun(
  t: { after(fn: () => unknown): void },
  name: string,
  brokers: string,
  inputOptions: InputOptions,
  /** Interactions produced upfront (default all); the test produces the rest itself. */
  upfront?: number,
): Promise<{
  input: JobInput;
  ref: FinalState;
  appId: string;
  names: TopologyNames;
  redis: TestRedis;
  client: Redis;
}> {
  const input = makeInput(inputOptions);
  const ref = await referenceRun(input);
  const run = await isolatedRun(t, name);
  await produceInput(brokers, run.names, {
    published: input.published,
    interactions: input.interactions.slice(0, upfront),
  });
  return { input, ref, ...run };
}

/**
 * As setupJobRun, for a hand-made input log (hostile records mixed in): produced whole, in order.
 * The reference runs over `reference` (default: the same log).
 */
export async function setupJobLog(
  t: { after(fn: () => unknown): void },
  name: string,
  brokers: string,
  records: readonly InputRecord[],
  reference: readonly InputRecord[] = records,
): Promise<{ ref: FinalState; appId: string; names: TopologyNames; redis: TestRedis; client: Redis }> {
  const ref = await referenceRun(reference);
  const run = await isolatedRun(t, name);
  await produceInput(brokers, run.names, records);
  return { ref, ...run };
}
