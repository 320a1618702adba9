// A fixed, seeded input stream for job-level recovery tests (crash loop, Redis outages, SIGTERM,
// fencing), the reference state of an uninterrupted run over it (ThermostatTestDriver: the same
// graph in memory, all input upfront), and readers for what the Kafka job left behind: Redis state
// (serving layout), changelog topics (latest record per key) and allocation ids.
import assert from 'node:assert/strict';
import { Cluster, Redis as IORedis, type Redis } from 'ioredis';
import { Rng } from '../../core/rng.js';
import rdkafka from '@confluentinc/kafka-javascript';
import { KafkaSink } from '../../io/kafka.js';
import { ensureTopics } from '../../io/topics.js';
import type { InProcessGraph } from '../../pipelines/in-process.js';
import { ThermostatTestDriver } from '../../pipelines/test-driver.js';
import { topicSpecs, topologyNames, type TopologyNames } from '../../pipelines/topology.js';
import { wireSerde } from '../../pipelines/wire-serde.js';
import type {
  ContentPublished,
  ContentState,
  HeatingAllocation,
  UserInteraction,
  UserMindState,
} from '../../schemas/types.js';
import { contentStateCodec, userMindCodec } from '../../state/codecs.js';
import { uniqueName } from './kafka.js';
import { TestRedis } from './redis.js';
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

/** Creates the job's topics and produces the whole input (murmur2 partitioning, like any producer). */
export async function produceInput(brokers: string, names: TopologyNames, input: JobInput): Promise<void> {
  await ensureTopics(topicSpecs(names, PARTITIONS), { brokers });
  const serde = wireSerde(names);
  const sink = new KafkaSink({ brokers, clientId: 'it-input' });
  await sink.connect();
  try {
    const sends: Promise<unknown>[] = [];
    for (const p of input.published)
      sends.push(sink.send(names.published, p.content_id, serde.encode('ContentPublished', p)));
    for (const r of input.interactions)
      sends.push(sink.send(names.interactions, r.user_id, serde.encode('UserInteraction', r)));
    await Promise.all(sends);
    await sink.flush();
  } finally {
    await sink.disconnect();
  }
}

export interface FinalState {
  users: Map<string, UserMindState>;
  contents: Map<string, ContentState>;
  /** Internal agent state (the `s` field of the Redis hash), JSON, per user / content. */
  usersInternal: Map<string, unknown>;
  contentsInternal: Map<string, unknown>;
  allocationIds: Set<string>;
  allocations: number;
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
export async function referenceRun(input: JobInput, timing: Timing = DEFAULT_TIMING): Promise<FinalState> {
  const names = topologyNames('thermostat');
  const serde = wireSerde(names);
  const d = await ThermostatTestDriver.create({ serde, partitions: PARTITIONS, ...timing, idleTimeoutMs: 0 });
  const graph = (d as unknown as { graph: InProcessGraph }).graph;
  for (const p of input.published)
    graph.append(names.published, p.content_id, serde.encode('ContentPublished', p));
  for (const r of input.interactions)
    graph.append(names.interactions, r.user_id, serde.encode('UserInteraction', r));
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
  };
}

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
  const read = async (key: string) => {
    const h = (await redis.hgetallBuffer(key)) as Record<string, Buffer>;
    return Object.keys(h).length === 0 ? null : h;
  };
  for (const id of ref.users.keys()) {
    const h = await read(userMindKey(appId, id, PARTITIONS));
    if (!h) continue;
    users.set(id, userMindCodec.decode(h, Number(h.version.toString())));
    usersInternal.set(id, JSON.parse(h.s.toString()));
  }
  for (const id of ref.contents.keys()) {
    const h = await read(contentStateKey(appId, id, PARTITIONS));
    if (!h) continue;
    contents.set(id, contentStateCodec.decode(h, Number(h.version.toString())));
    contentsInternal.set(id, JSON.parse(h.s.toString()));
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
): Promise<{ key: string | null; value: T }[]> {
  const serde = wireSerde(names);
  const consumer = new rdkafka.KafkaConsumer(
    { 'bootstrap.servers': brokers, 'group.id': group, 'enable.auto.commit': false, log_level: 3 } as never,
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((res, rej) => consumer.connect({ timeout: 30_000 }, (e) => (e ? rej(e) : res())));
  const out: { key: string | null; value: T }[] = [];
  try {
    const highs: number[] = [];
    for (let p = 0; p < partitions; p++) {
      highs.push(
        await new Promise<number>((res, rej) =>
          consumer.queryWatermarkOffsets(topic, p, 10_000, (e, w) => (e ? rej(e) : res(w.highOffset))),
        ),
      );
    }
    const next = highs.map(() => 0);
    consumer.assign(highs.map((_h, partition) => ({ topic, partition, offset: 0 })));
    const deadline = Date.now() + 120_000;
    while (next.some((n, p) => n < highs[p])) {
      assert.ok(Date.now() < deadline, `reading ${topic} timed out`);
      const msgs = await new Promise<rdkafka.Message[]>((res, rej) =>
        consumer.consume(10_000, (e, m) => (e ? rej(e) : res(m))),
      );
      for (const m of msgs) {
        next[m.partition] = m.offset + 1;
        out.push({
          key: m.key === null || m.key === undefined ? null : m.key.toString(),
          value: serde.decode(topic, m.value!) as T,
        });
      }
    }
  } finally {
    await new Promise<void>((res) => consumer.disconnect(() => res()));
  }
  return out;
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

/** Field-for-field, version-for-version equality of two keyed state maps, with a readable first difference. */
export function assertSameState<T>(actual: Map<string, T>, expected: Map<string, T>, what: string): void {
  const missing = [...expected.keys()].filter((k) => !actual.has(k));
  const extra = [...actual.keys()].filter((k) => !expected.has(k));
  assert.deepEqual(
    { missing: missing.slice(0, 5), extra: extra.slice(0, 5) },
    { missing: [], extra: [] },
    `${what}: keys (${missing.length} missing, ${extra.length} extra)`,
  );
  let diffs = 0;
  let first: string | undefined;
  for (const [k, v] of expected) {
    try {
      assert.deepStrictEqual(actual.get(k), v);
    } catch {
      diffs++;
      first ??= `${k}: actual ${JSON.stringify(actual.get(k))}\n expected ${JSON.stringify(v)}`;
    }
  }
  assert.equal(diffs, 0, `${what}: ${diffs} of ${expected.size} keys differ; first: ${first}`);
}

/**
 * What the job left behind equals the uninterrupted run: every user and content state in Redis
 * (public fields, version, and the internal agent state), the latest changelog record per key,
 * and the set of distinct allocation ids on heating-allocations. Returns counts for reporting.
 */
export async function assertMatchesReference(o: {
  brokers: string;
  names: TopologyNames;
  appId: string;
  redis: Redis | Cluster;
  ref: FinalState;
  /**
   * How the changelogs are compared: `latest` (default) — the last record per key by offset, true
   * whenever no zombie wrote; `highest-version` — the consumer contract, for runs with a zombie,
   * whose unfenced Kafka writes may land after the new owner's (docs/STATE.md).
   */
  changelog?: 'latest' | 'highest-version';
}): Promise<{ allocationRecords: number; changelogRecords: number; staleAfterNewer: number }> {
  const { brokers, names, appId, redis, ref } = o;
  const st = await readRedisState(redis, appId, ref);
  assertSameState(st.users, ref.users, 'Redis user mind state');
  assertSameState(st.contents, ref.contents, 'Redis content state');
  assertSameState(st.usersInternal, ref.usersInternal, 'Redis internal user state');
  assertSameState(st.contentsInternal, ref.contentsInternal, 'Redis internal content state');
  assert.deepEqual(
    await countStateKeys(redis, appId),
    { users: ref.users.size, contents: ref.contents.size },
    'no state key beyond the reference',
  );
  const userLog = await readTopic<UserMindState>(brokers, names, names.userChangelog, `${appId}-verify`);
  const contentLog = await readTopic<ContentState>(brokers, names, names.contentChangelog, `${appId}-verify`);
  let staleAfterNewer = 0;
  if (o.changelog === 'highest-version') {
    const users = highestVersionByKey(userLog);
    const contents = highestVersionByKey(contentLog);
    staleAfterNewer = users.staleAfterNewer + contents.staleAfterNewer;
    assertSameState(users.state, ref.users, 'user-mind-state changelog (highest version per key)');
    assertSameState(contents.state, ref.contents, 'content-state changelog (highest version per key)');
  } else {
    assertSameState(latestByKey(userLog), ref.users, 'user-mind-state changelog (latest per key)');
    assertSameState(latestByKey(contentLog), ref.contents, 'content-state changelog (latest per key)');
  }
  const allocations = await readTopic<HeatingAllocation>(
    brokers,
    names,
    names.allocations,
    `${appId}-verify`,
  );
  const ids = new Set(allocations.map((a) => a.value.allocation_id));
  const missing = [...ref.allocationIds].filter((i) => !ids.has(i));
  const extra = [...ids].filter((i) => !ref.allocationIds.has(i));
  assert.deepEqual(
    { missing, extra },
    { missing: [], extra: [] },
    `allocation ids (${ids.size} distinct vs ${ref.allocationIds.size})`,
  );
  return {
    allocationRecords: allocations.length,
    changelogRecords: userLog.length + contentLog.length,
    staleAfterNewer,
  };
}

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
  const appId = uniqueName(name);
  const names = topologyNames(appId, `${appId}.`);
  await produceInput(brokers, names, {
    published: input.published,
    interactions: input.interactions.slice(0, upfront),
  });
  const redis = await TestRedis.start();
  t.after(() => redis.dispose());
  const client = verifyClient(redis.port);
  t.after(() => client.disconnect());
  return { input, ref, appId, names, redis, client };
}
