// Real-world timing against the real local Kafka and a private Redis: when records arrive must not
// change what the job computes from them. In-order input arriving with a pause longer than the
// idle timeout, or with partitions skewed within watermark.idleMaxLagMs, ends exactly as the
// uninterrupted run (every input produced upfront, ThermostatTestDriver); a heartbeat at t and a
// record at exactly t are treated alike by every stage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentConfig } from '../../agents/config.js';
import { loadRuntimeConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { startJob } from '../../runtime/kafka/run-job.js';
import { fastPartition } from '../../pipelines/topology.js';
import type { UserInteraction } from '../../schemas/types.js';
import {
  inputRecords,
  interactionRecord,
  makeInput,
  PARTITIONS,
  produceInput,
  readRedisState,
  referenceRun,
  setupJobRun,
  type JobInput,
} from '../support/job-fixture.js';
import { JobProcess, sleep, sumMetric, waitQuiescent } from '../../bench/support/job-process.js';
import { produceScheduled } from '../support/raw-records.js';
import { ensureStack } from '../support/stack.js';
import { assertRunMatchesReference } from '../support/verifier.js';

const INPUT = { interactions: 4500, users: 500, contents: 50, stepMs: 130 };
const JOB_ENV = { THERMOSTAT_COMMIT_INTERVAL_MS: '500', THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '200' };

test(
  'a pause in arrival longer than the idle timeout (publications produced ahead) changes nothing',
  { timeout: 180_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const half = INPUT.interactions / 2;
    // Publications all upfront: their watermark runs ahead of the interactions'.
    const run = await setupJobRun(t, 'gap', brokers, { seed: 201, ...INPUT }, half);
    const job = await JobProcess.forRun(run, brokers, JOB_ENV);
    t.after(() => job.dispose());
    await job.waitStarted();
    // The first half consumed, then nothing arrives for a while: every partition goes idle.
    await waitQuiescent(job, { quietMs: 3000 });
    await produceInput(brokers, run.names, {
      published: [],
      interactions: run.input.interactions.slice(half),
    });
    const m = await waitQuiescent(job);
    assert.equal((await job.terminate()).code, 0, job.outputTail);
    assert.equal(sumMetric(m, 'thermostat_late_records_total', 'stage="content"'), 0);
    const counts = await assertRunMatchesReference(brokers, run);
    t.diagnostic(
      `gap after ${half} records: ${run.ref.users.size} users, ${run.ref.contents.size} contents, ${run.ref.allocationIds.size} allocation ids equal (${counts.allocationRecords} allocation records)`,
    );
  },
);

test(
  'partitions arriving skewed (half of them ~40 s of event time behind, idle in between) change nothing',
  { timeout: 180_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const run = await setupJobRun(t, 'skew', brokers, { seed: 202, ...INPUT }, 0);
    const job = await JobProcess.forRun(run, brokers, JOB_ENV);
    t.after(() => job.dispose());
    await job.waitStarted();
    // Slices of 26 s of event time every 400 ms; partitions 3-5 get theirs 600 ms later (39 s of
    // event time behind, within watermark.idleMaxLagMs), each partition idle between its slices.
    const slice = 200;
    const late = (r: UserInteraction) => fastPartition(r.user_id, PARTITIONS) >= PARTITIONS / 2;
    const raw = (rs: UserInteraction[]) =>
      rs.map((r) => ({ ...interactionRecord(r), topic: run.names.interactions }));
    const slices = [];
    for (let k = 0; k * slice < run.input.interactions.length; k++) {
      const part = run.input.interactions.slice(k * slice, (k + 1) * slice);
      slices.push({ atMs: k * 400, records: raw(part.filter((r) => !late(r))) });
      slices.push({ atMs: k * 400 + 600, records: raw(part.filter(late)) });
    }
    await produceScheduled(brokers, slices);
    const m = await waitQuiescent(job);
    assert.equal((await job.terminate()).code, 0, job.outputTail);
    assert.equal(sumMetric(m, 'thermostat_late_records_total', 'stage="content"'), 0);
    await assertRunMatchesReference(brokers, run);
  },
);

test(
  'after a heartbeat at t, a record at exactly t is applied by every stage (not late anywhere)',
  { timeout: 180_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const options = { seed: 203, interactions: 2000, users: 200, contents: 20, stepMs: 100 };
    const input: JobInput = makeInput(options);
    const run = await setupJobRun(t, 'boundary', brokers, options);
    const config = loadRuntimeConfig({
      env: {},
      overrides: {
        appId: run.appId,
        topicPrefix: `${run.appId}.`,
        kafka: { brokers, inputPartitions: PARTITIONS },
        redis: { url: run.redis.url },
        http: { port: 0, host: '127.0.0.1' },
        commitIntervalMs: 300,
        watermark: { idleTimeoutMs: 200 },
      },
    });
    const job = await startJob({ config, log: silentLogger, agents: parseAgentConfig({}) });
    let stopped = false;
    t.after(() => (stopped ? undefined : job.stop()));
    const consumed = async (n: number) => {
      for (const end = Date.now() + 60_000; Date.now() < end; await sleep(100)) {
        const v = (await job.metrics.recordsIn.get()).values;
        if (v.filter((x) => x.labels.topic === run.names.interactions).reduce((a, x) => a + x.value, 0) >= n)
          return;
      }
      throw new Error(`the job did not consume ${n} interactions`);
    };
    await consumed(input.interactions.length);
    const tHeartbeat = Math.max(...input.interactions.map((r) => r.event_time)) + 60_000;
    await sleep(1500); // every partition at its end past the idle timeout: idle
    await job.job.advanceEventTime(tHeartbeat);
    await sleep(1500); // the content stage has seen the heartbeat's markers
    const content = input.published[0];
    const atT: UserInteraction = {
      ...input.interactions[0],
      event_id: 'at-the-watermark',
      content_id: content.content_id,
      category: content.category,
      event_time: tHeartbeat,
    };
    await produceInput(brokers, run.names, [interactionRecord(atT)]);
    await consumed(input.interactions.length + 1);
    await sleep(1000); // forwarded to and buffered by the content stage
    await job.job.advanceEventTime(tHeartbeat + 60_000); // releases it there
    await sleep(2000);
    const lateAtContent = (await job.metrics.lateRecords.get()).values
      .filter((x) => x.labels.stage === 'content')
      .reduce((a, x) => a + x.value, 0);
    await job.stop();
    stopped = true;

    // Without the record at t, the same input and heartbeat: the content's exposure before it.
    const without = await referenceRun([...inputRecords(input), { heartbeat: tHeartbeat + 60_000 }]);
    const st = await readRedisState(run.client, run.appId, without);
    assert.equal(lateAtContent, 0, 'the record at exactly the watermark is not late at the content stage');
    assert.equal(
      st.contents.get(content.content_id)!.exposure,
      without.contents.get(content.content_id)!.exposure + 1,
      'the content stage applied it',
    );
    assert.equal(st.users.get(atT.user_id)!.updated_at, tHeartbeat, 'the user stage applied it');
  },
);
