// The graph on the real local Kafka and Redis: allocations appear with the SPEC fields,
// /metrics moves, corrupt input ends in the DLQ, and the final state and allocation ids equal the
// in-memory driver's — with one job instance and with two instances sharing the partitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { parseAgentConfig } from '../../agents/config.js';
import { loadRuntimeConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { KafkaSink, KafkaSource } from '../../io/kafka.js';
import { Serde } from '../../io/serde.js';
import { ensureTopics } from '../../io/topics.js';
import { startJob, type RunningJob } from '../../runtime/kafka/run-job.js';
import { topicSpecs, topologyNames } from '../../pipelines/topology.js';
import type { ContentState, HeatingAllocation, UserMindState } from '../../schemas/types.js';
import { contentStateCodec, userMindCodec } from '../../state/codecs.js';
import { contentStateKey, userMindKey } from '../../state/keys.js';
import {
  dashboardMetricNames,
  loadDashboard,
  seriesNamesFromExposition,
} from '../../scripts/dashboard-metrics.js';
import { assertAllocationFields, createDriver } from '../support/driver.js';
import { scenario } from '../support/scenario.js';
import { ensureStack } from '../support/stack.js';

const PARTITIONS = 6;
const TICK = 60_000;
// No pacing: a short scenario spends from the day's pool right away.
const AGENTS = { system: { pacingBurst: 0 } };
const TIMING = { outOfOrdernessMs: 1000, allowedLatenessMs: 1000 };

const input = () =>
  scenario(11, {
    contents: 40,
    interactions: 6000,
    users: 300,
    categories: 6,
    startMs: 10_000,
    stepMs: 300,
    clickRate: 0.12,
  });

/** The uninterrupted reference: the same input through the in-memory driver. */
async function reference(input: ReturnType<typeof scenario>) {
  const d = await createDriver({ partitions: PARTITIONS, tickMs: TICK, agents: AGENTS, ...TIMING });
  await d.pipeInput('content-published', input.contents);
  await d.pipeInput('user-interactions', input.interactions);
  const ticks = new Set(d.readOutput<{ tick: number }>(d.names.allocatorInput).map((t) => t.tick)).size;
  return {
    users: d.allUserStates().sort((a, b) => a.user_id.localeCompare(b.user_id)),
    contents: d.allContentStates().sort((a, b) => a.content_id.localeCompare(b.content_id)),
    allocationIds: new Set(
      d.readOutput<HeatingAllocation>('heating-allocations').map((a) => a.allocation_id),
    ),
    ticks,
  };
}

async function produce(
  brokers: string,
  prefix: string,
  input: ReturnType<typeof scenario>,
  corrupt: Buffer[],
) {
  const serde = Serde.local();
  const sink = new KafkaSink({ brokers });
  await sink.connect();
  await Promise.all(
    input.contents.map((c) =>
      sink.send(`${prefix}content-published`, c.content_id, serde.encode('ContentPublished', c)),
    ),
  );
  const sends = input.interactions.map((e) =>
    sink.send(`${prefix}user-interactions`, e.user_id, serde.encode('UserInteraction', e)),
  );
  corrupt.forEach((bytes, i) => sends.push(sink.send(`${prefix}user-interactions`, `bad${i}`, bytes)));
  await Promise.all(sends);
  await sink.disconnect();
}

async function readAll(
  brokers: string,
  topic: string,
  group: string,
  min: number,
  timeoutMs = 30_000,
): Promise<{ key: string | null; value: Buffer | null; headers: Record<string, Buffer> }[]> {
  const src = new KafkaSource({ brokers, groupId: group, topics: [topic] });
  await src.connect();
  const out: { key: string | null; value: Buffer | null; headers: Record<string, Buffer> }[] = [];
  const until = Date.now() + timeoutMs;
  let quietSince = Date.now();
  while (Date.now() < until) {
    const batch = await src.poll(1000, 200);
    for (const r of batch) out.push({ key: r.key?.toString() ?? null, value: r.value, headers: r.headers });
    if (batch.length > 0) quietSince = Date.now();
    if (out.length >= min && Date.now() - quietSince > 1500) break;
  }
  await src.disconnect();
  return out;
}

async function counter(job: RunningJob, name: string): Promise<number> {
  const m = (await job.metrics.register.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).reduce((a, v) => a + Number(v.value), 0);
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function redisState(redisUrl: string, appId: string, users: string[], contents: string[]) {
  const redis = new Redis(redisUrl);
  try {
    const u: UserMindState[] = [];
    for (const id of users) {
      const h = await redis.hgetallBuffer(userMindKey(appId, id, PARTITIONS));
      u.push(userMindCodec.decode(h as Record<string, Buffer>, Number(h.version.toString())));
    }
    const c: ContentState[] = [];
    for (const id of contents) {
      const h = await redis.hgetallBuffer(contentStateKey(appId, id, PARTITIONS));
      if (!h.version) throw new Error(`no state yet for ${id}`);
      c.push(contentStateCodec.decode(h as Record<string, Buffer>, Number(h.version.toString())));
    }
    return { users: u, contents: c };
  } finally {
    redis.disconnect();
  }
}

async function runOnKafka(instances: number) {
  const { brokers, redisUrl } = ensureStack();
  const appId = `it-graph${instances}-${process.pid}-${Date.now()}`;
  const prefix = `${appId}.`;
  const config = loadRuntimeConfig({
    env: {},
    overrides: {
      appId,
      topicPrefix: prefix,
      kafka: { brokers, inputPartitions: PARTITIONS },
      redis: { url: redisUrl },
      http: { port: 0, host: '127.0.0.1' },
      commitIntervalMs: 200,
      tickMs: TICK,
      watermark: { ...TIMING, idleTimeoutMs: 500 },
    },
  });
  const names = topologyNames(appId, prefix);
  await ensureTopics(topicSpecs(names, PARTITIONS), { brokers });
  const data = input();
  const corrupt = [Buffer.from([7, 1, 2, 3]), Buffer.from([0, 0, 0, 0, 42, 1])];
  const expected = await reference(data);
  await produce(brokers, prefix, data, corrupt);

  const jobs: RunningJob[] = [];
  try {
    for (let i = 0; i < instances; i++)
      jobs.push(await startJob({ config, log: silentLogger, agents: parseAgentConfig(AGENTS) }));
    await waitFor(
      async () => {
        let ticks = 0;
        for (const j of jobs) ticks += await counter(j, 'thermostat_allocation_ticks_total');
        if (ticks < expected.ticks) return false;
        // Wait until the checkpointed content state holds every impression the reference applied
        // (the last ones, past what the idle sources promise, stay buffered in both).
        const { contents } = await redisState(
          redisUrl,
          appId,
          [],
          expected.contents.map((c) => c.content_id),
        ).catch(() => ({ contents: [] as ContentState[] }));
        const exposure = (cs: ContentState[]) => cs.reduce((a, c) => a + c.exposure, 0);
        return exposure(contents) === exposure(expected.contents);
      },
      90_000,
      `${expected.ticks} allocation ticks and every impression checkpointed`,
    );
    // Every instance answers /readyz 200, also one given no partition of a stage (the allocator
    // stage has one partition, so with two instances one of them holds none of it).
    // Joining follows the group's rebalance, which can end after the data has been processed.
    for (const [i, j] of jobs.entries()) {
      let res = await fetch(`${j.ops.url}/readyz`);
      for (const end = Date.now() + 30_000; res.status !== 200 && Date.now() < end;) {
        await sleep(100);
        res = await fetch(`${j.ops.url}/readyz`);
      }
      assert.equal(res.status, 200, `instance ${i} is ready: ${await res.text()}`);
    }
    // /metrics is served over HTTP and shows the counters moving.
    const scraped = await (await fetch(`${jobs[0].ops.url}/metrics`)).text();
    assert.match(scraped, /thermostat_records_in_total\{topic="[^"]*user-interactions",stage="user"\} [1-9]/);
    // Every metric the Grafana dashboard queries is exported by the running job.
    const exported = seriesNamesFromExposition(scraped);
    const missing = dashboardMetricNames(loadDashboard()).filter((n) => !exported.has(n));
    assert.deepEqual(missing, [], 'dashboard metrics missing from a running job');
  } finally {
    for (const j of jobs) await j.stop();
  }
  const state = await redisState(
    redisUrl,
    appId,
    expected.users.map((u) => u.user_id),
    expected.contents.map((c) => c.content_id),
  );
  const allocations = (
    await readAll(brokers, names.allocations, `${appId}-reader`, expected.allocationIds.size)
  ).map((r) => Serde.local().decode(r.value!).value as HeatingAllocation);
  const dlq = await readAll(brokers, `${names.interactions}.dlq`, `${appId}-dlq-reader`, corrupt.length);
  return { expected, state, allocations, dlq, corrupt };
}

function assertSameAsReference(r: Awaited<ReturnType<typeof runOnKafka>>): void {
  assert.ok(r.expected.allocationIds.size > 0, 'the scenario heats something');
  assert.deepEqual(r.state.users, r.expected.users, 'user states in Redis equal the in-memory run');
  assert.deepEqual(r.state.contents, r.expected.contents, 'content states in Redis equal the in-memory run');
  assert.deepEqual(
    new Set(r.allocations.map((a) => a.allocation_id)),
    r.expected.allocationIds,
    'same allocation ids',
  );
}

test(
  "on Kafka: allocations with the SPEC fields, DLQ for corrupt input, and the in-memory driver's state and ids",
  { timeout: 180_000 },
  async () => {
    const r = await runOnKafka(1);
    assertSameAsReference(r);
    const a = r.allocations[0];
    assertAllocationFields(a);
    assert.deepEqual(r.dlq.map((d) => [d.key, d.headers['thermostat.dlq.reason']?.toString()]).sort(), [
      ['bad0', 'WIRE_FORMAT'],
      ['bad1', 'SCHEMA_UNKNOWN'],
    ]);
  },
);

test(
  'two instances in one consumer group split the partitions and reach the same final state; the pool is never overspent',
  { timeout: 180_000 },
  async () => {
    const r = await runOnKafka(2);
    assertSameAsReference(r);
    const pool = 100_000; // agents' default system.budgetPool per budget period (one day)
    const byPeriod = new Map<number, number>();
    for (const a of r.allocations) {
      assert.ok(a.impressions > 0);
      const p = Math.floor(a.valid_from / 86_400_000);
      byPeriod.set(p, (byPeriod.get(p) ?? 0) + a.impressions);
    }
    for (const used of byPeriod.values()) assert.ok(used <= pool, `${used} <= ${pool}`);
  },
);
