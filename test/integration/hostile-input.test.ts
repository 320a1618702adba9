// Hostile input against the real local Kafka and a private Redis, the job as a child process
// (`thermostat run`): records that real upstreams produce and that used to stop, poison or split
// the job. Each case runs a small seeded stream with the hostile records mixed in, and checks
// where they went (DLQ with reason and coordinates, late side output) and that everything else
// ends exactly as an uninterrupted run over the clean input (ThermostatTestDriver in memory).
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DLQ_HEADERS } from '../../io/dlq.js';
import { dlqTopic, fastPartition, SOURCE_TOPIC, sourceId } from '../../pipelines/topology.js';
import { wireSerde } from '../../pipelines/wire-serde.js';
import type { ContentEvent, UserInteraction } from '../../schemas/types.js';
import {
  assertSameState,
  countStateKeys,
  inputRecords,
  interactionRecord,
  makeInput,
  PARTITIONS,
  produceInput,
  publicationRecord,
  readRedisState,
  readTopic,
  referenceRun,
  setupJobLog,
  setupJobRun,
  T0,
  type InputOptions,
  type InputRecord,
  type JobInput,
} from '../support/job-fixture.js';
import { JobProcess, runToCompletion, sumMetric, waitQuiescent } from '../../bench/support/job-process.js';
import { readRaw } from '../support/raw-records.js';
import type { TestRedis } from '../../bench/support/redis-server.js';
import { ensureStack } from '../support/stack.js';
import { assertRunMatchesReference } from '../support/verifier.js';

const INPUT: Omit<InputOptions, 'seed'> = { interactions: 3000, users: 400, contents: 40, stepMs: 130 };

const spawnJob = (
  brokers: string,
  run: { appId: string; redis: TestRedis },
  env: Record<string, string> = {},
) =>
  JobProcess.forRun(run, brokers, {
    THERMOSTAT_COMMIT_INTERVAL_MS: '500',
    THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '500',
    ...env,
  });

/** The seeded input as records, with `hostile` records inserted halfway through the interactions. */
function withHostile(
  seed: number,
  hostile: (input: JobInput) => InputRecord[],
): { input: JobInput; records: InputRecord[] } {
  const input = makeInput({ seed, ...INPUT });
  const records = inputRecords(input);
  const at = input.published.length + input.interactions.length / 2;
  return { input, records: [...records.slice(0, at), ...hostile(input), ...records.slice(at)] };
}

test(
  'a ~1 MiB record (valid, and undecodable) goes to the DLQ truncated with its size and coordinates; the job moves on',
  { timeout: 180_000 },
  async (t) => {
    const { brokers } = ensureStack();
    // A default Java producer and broker accept records up to 1,048,576 bytes.
    const { records } = withHostile(101, (input) => [
      interactionRecord({
        ...input.interactions[input.interactions.length / 2],
        event_id: randomBytes(780_000).toString('base64'), // 1,040,000 characters
      }),
      { topic: 'interactions', key: 'garbage', value: randomBytes(1_040_000) },
    ]);
    const big = records.filter((r) => r.value.length > 1_000_000);
    const run = await setupJobLog(t, 'oversize', brokers, records);

    const job = await spawnJob(brokers, run);
    t.after(() => job.dispose());
    const m = await runToCompletion(job, 1500);

    const dlq = await readRaw(brokers, dlqTopic(run.names.interactions), 1, `${run.appId}-dlq`);
    const bySize = (n: number) => dlq.find((d) => d.headers[DLQ_HEADERS.size] === String(n));
    for (const original of big) {
      const d = bySize(original.value.length);
      assert.ok(d, `a DLQ record names the original size ${original.value.length}`);
      assert.equal(d.headers[DLQ_HEADERS.reason], 'RECORD_TOO_LARGE');
      assert.equal(d.headers[DLQ_HEADERS.truncated], 'true');
      assert.equal(d.value!.length, 262_144, 'payload cut to kafka.maxRecordBytes');
      assert.deepEqual(d.value, original.value.subarray(0, 262_144), 'a prefix of the original bytes');
      assert.equal(d.headers[DLQ_HEADERS.topic], run.names.interactions);
      assert.match(d.headers[DLQ_HEADERS.partition], /^\d$/);
      assert.match(d.headers[DLQ_HEADERS.offset], /^\d+$/);
    }
    assert.equal(dlq.length, 2);
    assert.equal(sumMetric(m, 'thermostat_dlq_records_total', 'reason="RECORD_TOO_LARGE"'), 2);
    await assertRunMatchesReference(brokers, run);
  },
);

test(
  'an interaction and a publication dated 2100 go to the DLQ (EVENT_TIME_AHEAD) and poison no watermark',
  { timeout: 180_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const y2100 = Date.UTC(2100, 0, 1);
    // Produced now, dated 2100: far ahead of processing time (the record timestamp).
    const now = Date.now();
    const { records } = withHostile(102, (input) => [
      interactionRecord(
        { ...input.interactions[input.interactions.length / 2], event_id: 'ev-2100', event_time: y2100 },
        { timestamp: now },
      ),
      publicationRecord(
        { ...input.published[3], content_id: 'c-future', published_at: y2100 },
        { timestamp: now },
      ),
    ]);
    // What must come out: as if each 2100 record were any refused record at its place (same
    // partition, same offsets after it) — nothing after it on its partition late.
    const refused = records.map((r) =>
      r.timestamp === now ? { ...r, value: Buffer.from('refused'), timestamp: undefined } : r,
    );
    const run = await setupJobLog(t, 'future', brokers, records, refused);

    const job = await spawnJob(brokers, run);
    t.after(() => job.dispose());
    await runToCompletion(job, 1500);

    await assertRunMatchesReference(brokers, run);
    for (const [topic, field] of [
      [run.names.interactions, 'event_time'],
      [run.names.published, 'published_at'],
    ]) {
      const dlq = await readRaw(brokers, dlqTopic(topic), 1, `${run.appId}-dlq-${field}`);
      assert.deepEqual(
        dlq.map((d) => [d.headers[DLQ_HEADERS.reason], d.headers[DLQ_HEADERS.field]]),
        [['EVENT_TIME_AHEAD', field]],
        topic,
      );
    }
  },
);

test(
  'interactions in partitions their user_id does not hash to (another partitioner, null keys) are re-routed: one state per user',
  { timeout: 180_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const input = makeInput({ seed: 103, ...INPUT });
    // Every 7th user is written by a producer with another partitioner (always the next partition,
    // key = user_id), every 11th with a null key on a partition two further.
    const owner = (u: string) => fastPartition(u, PARTITIONS);
    const userNo = (u: string) => Number(u.slice(1));
    const records = [
      ...input.published.map((p) => publicationRecord(p)),
      ...input.interactions.map((r) => {
        const n = userNo(r.user_id);
        if (n % 7 === 0) return interactionRecord(r, { partition: (owner(r.user_id) + 1) % PARTITIONS });
        if (n % 11 === 0)
          return interactionRecord(r, { key: null, partition: (owner(r.user_id) + 2) % PARTITIONS });
        return interactionRecord(r);
      }),
    ];
    // The clean input (every user on its own partition): the states re-routing must reproduce.
    const clean = await referenceRun(input);
    const run = await setupJobLog(t, 'misrouted', brokers, records);

    const job = await spawnJob(brokers, run);
    t.after(() => job.dispose());
    const m = await runToCompletion(job, 1500);

    assert.deepEqual(
      await countStateKeys(run.client, run.appId),
      { users: clean.users.size, contents: clean.contents.size },
      'one state per user and content, no second copy under another partition',
    );
    // Each user's records reach its own task in their order: its state is the clean run's. A
    // re-routed user's versions count its own updates (not offsets of its owner's partition):
    // exactly the in-memory run's over the same log.
    const st = await readRedisState(run.client, run.appId, clean);
    const noVersion = <T extends { version?: number }>(m: Map<string, T>) =>
      new Map([...m].map(([k, v]) => [k, { ...v, version: 0 }]));
    assertSameState(noVersion(st.users), noVersion(clean.users), 'user mind state (versions aside)');
    assertSameState(
      st.users,
      run.ref.users,
      'user mind state, versions included (in-memory run of the same log)',
    );
    assert.ok(run.ref.misrouted > 500, `${run.ref.misrouted} misrouted records`);
    assert.equal(sumMetric(m, 'thermostat_misrouted_records_total', 'action="reroute"'), run.ref.misrouted);
    const log = await readTopic<{ user_id: string }>(
      brokers,
      run.names,
      run.names.userChangelog,
      `${run.appId}-log`,
    );
    for (const u of log) assert.equal(u.key, u.value.user_id, 'changelog keyed by user');
    // The re-key partitions carry their origins' watermarks: no re-routed record is late at the
    // content stage, and content states are the clean run's. Allocations are the in-memory run's of
    // the same log: a re-routed interaction is not counted in its tick's audience (the tick it would
    // reach depends on arrival, not on the logs), so reach-sized grants may differ from the clean run's.
    assert.equal(sumMetric(m, 'thermostat_late_records_total', 'stage="content"'), 0);
    assertSameState(st.contents, clean.contents, 'content state');
    const allocations = await readTopic<{ allocation_id: string }>(
      brokers,
      run.names,
      run.names.allocations,
      `${run.appId}-alloc`,
    );
    assert.ok(run.ref.allocationIds.size > 0, 'the run allocates');
    assert.deepEqual(new Set(allocations.map((a) => a.value.allocation_id)), run.ref.allocationIds);
    t.diagnostic(
      `${run.ref.misrouted} re-routed records; ${clean.users.size} users and ${clean.contents.size} contents equal the clean run, ${run.ref.allocationIds.size} allocation ids the in-memory run of the same log`,
    );
  },
);

test(
  'the content stage sends the late record itself (with its coordinates) to the late side output',
  { timeout: 180_000 },
  async (t) => {
    const { brokers } = ensureStack();
    // Traffic on partitions 0-4 only for 300 s of event time; partition 5 then gets records from
    // 10 s: behind the content stage's watermark, so late there (stage 1 has seen nothing earlier).
    const base = makeInput({ seed: 104, ...INPUT, stepMs: 100 });
    const onLast = (u: string) => fastPartition(u, PARTITIONS) === PARTITIONS - 1;
    // The same contents, all published at T0 (no interactions: the job's input is produced here).
    const run = await setupJobRun(t, 'late-output', brokers, { seed: 104, ...INPUT, interactions: 0 });
    const { names } = run;
    const published = run.input.published;
    await produceInput(
      brokers,
      names,
      base.interactions.filter((r) => !onLast(r.user_id)).map((r) => interactionRecord(r)),
    );
    const job = await spawnJob(brokers, run);
    t.after(() => job.dispose());
    await job.waitStarted();
    await waitQuiescent(job, { quietMs: 1500 });

    // Five records of partition-5 users, all for contents of one content partition (one batch there).
    const target = fastPartition(published[0].content_id, PARTITIONS);
    const contents = published.filter((p) => fastPartition(p.content_id, PARTITIONS) === target);
    const lateUsers = [...new Set(base.interactions.map((r) => r.user_id).filter(onLast))].slice(0, 5);
    const late = lateUsers.map((u, i) => ({
      ...base.interactions[0],
      event_id: `late-${i}`,
      user_id: u,
      content_id: contents[i % contents.length].content_id,
      category: contents[i % contents.length].category,
      event_time: T0 + 10_000 + i,
    }));
    await produceInput(
      brokers,
      names,
      late.map((r) => interactionRecord(r)),
    );
    const m = await waitQuiescent(job, { quietMs: 1500 });
    assert.equal((await job.terminate()).code, 0);

    assert.equal(sumMetric(m, 'thermostat_late_records_total', 'stage="content"'), late.length);
    const out = await readRaw(brokers, names.late, 1, `${run.appId}-late`);
    const serde = wireSerde(names);
    const got = out
      .filter((r) => r.headers[DLQ_HEADERS.topic] === names.contentEvents) // not stage 1's late records
      .map((r) => ({ h: r.headers, v: serde.decode(names.contentEvents, r.value!) as ContentEvent }));
    assert.deepEqual(
      got.map((g) => g.v.interaction?.event_id).sort(),
      late.map((r) => r.event_id).sort(),
      'each late record itself, not another record of its batch',
    );
    const uiOffsets = await readRaw(brokers, names.interactions, PARTITIONS, `${run.appId}-ui`);
    for (const g of got) {
      assert.equal(g.h[DLQ_HEADERS.reason], 'LATE_RECORD');
      assert.equal(g.h[DLQ_HEADERS.topic], names.contentEvents);
      assert.equal(g.h[DLQ_HEADERS.partition], String(target));
      assert.equal(g.v.source, sourceId(SOURCE_TOPIC.interactions, PARTITIONS - 1));
      const origin = uiOffsets.find((r) => r.partition === PARTITIONS - 1 && r.offset === g.v.source_offset);
      assert.ok(origin, 'the source offset names the input record');
      const ev = serde.decode(names.interactions, origin.value!) as UserInteraction;
      assert.equal(ev.event_id, g.v.interaction!.event_id);
    }
    const ce = await readRaw(brokers, names.contentEvents, PARTITIONS, `${run.appId}-ce`);
    for (const g of got) {
      const at = ce.find((r) => r.partition === target && r.offset === Number(g.h[DLQ_HEADERS.offset]));
      assert.ok(at, 'the offset header names the content-events record');
      assert.equal(
        (serde.decode(names.contentEvents, at.value!) as ContentEvent).interaction?.event_id,
        g.v.interaction!.event_id,
      );
    }
  },
);
