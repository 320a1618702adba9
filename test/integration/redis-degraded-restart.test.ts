// A Redis outage right after a restart: the caches are cold, most users need a state load. The job
// (a child process against a private redis-server) must keep consuming — users in memory are
// applied, users that need a load are parked, bounded — and answer /readyz "ready (degraded)"
// (200, thermostat_degraded 1) until redis.degradedReadyLimitMs, then 503; once Redis is back the
// parked records are applied and the final state equals the uninterrupted run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertMatchesReference, setupJobRun } from '../support/job-fixture.js';
import {
  JobProcess,
  observeOutage,
  sleep,
  sumMetric,
  waitQuiescent,
} from '../../bench/support/job-process.js';
import { PacedProducer } from '../support/paced-producer.js';
import { freePort } from '../../bench/support/redis-server.js';
import { ensureStack } from '../support/stack.js';

const UPFRONT = 20_000;
const RATE_PER_SEC = 2000;
const PAUSE_MS = 6000;
const DOWN_MS = 2000;
const READY_LIMIT_MS = 3000;
// Paced records last through both outages and a margin.
const INTERACTIONS = UPFRONT + Math.round((RATE_PER_SEC * (PAUSE_MS + DOWN_MS + 12_000)) / 1000);

test(
  'Redis paused and stopped after a clean restart (cold caches): processing continues, ready (degraded) until the limit, nothing lost',
  { timeout: 240_000 },
  async (t) => {
    const { brokers } = ensureStack();
    // Many users for the traffic: after the restart most of them are not in memory yet.
    const { input, ref, appId, names, redis, client } = await setupJobRun(
      t,
      'redis-restart',
      brokers,
      { seed: 301, interactions: INTERACTIONS, users: 40_000, contents: 200, stepMs: 25 },
      UPFRONT,
    );
    const port = await freePort();
    const spawn = () =>
      JobProcess.forRun(
        { appId, redis },
        brokers,
        {
          THERMOSTAT_COMMIT_INTERVAL_MS: '1000',
          THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '2000',
          THERMOSTAT_BATCH_SIZE: '100',
          THERMOSTAT_DEGRADED_READY_LIMIT_MS: String(READY_LIMIT_MS),
        },
        port,
      );
    // First life: some state checkpointed, then a clean restart.
    let job = await spawn();
    t.after(() => job.dispose());
    await job.waitStarted();
    for (const end = Date.now() + 60_000; (await job.recordsIn()) < 5000 && Date.now() < end;)
      await sleep(50);
    assert.equal((await job.terminate()).code, 0, job.outputTail);
    job = await spawn();
    await job.waitStarted();
    for (const end = Date.now() + 60_000; (await job.readyz())?.status !== 200 && Date.now() < end;)
      await sleep(50);

    const producer = PacedProducer.start({
      brokers,
      names,
      interactions: input.interactions.slice(UPFRONT),
      ratePerSec: RATE_PER_SEC,
    });
    await sleep(1000);
    redis.pause();
    let paused;
    try {
      paused = await observeOutage(job, PAUSE_MS);
    } finally {
      redis.resume();
    }
    for (const end = Date.now() + 30_000; (await job.readyz())?.body.trim() !== 'ready' && Date.now() < end;)
      await sleep(100);
    await redis.stop();
    const down = await observeOutage(job, DOWN_MS);
    await redis.start();

    t.diagnostic(
      `Redis paused ${PAUSE_MS} ms after a restart: consumed ${JSON.stringify(paused.consumed)}, up to ${paused.maxParked} records parked; /readyz: ${paused.readyz.map((r) => `${r.atMs} ms ${r.answer}`).join(' | ')}`,
    );
    t.diagnostic(
      `Redis down ${DOWN_MS} ms: consumed ${JSON.stringify(down.consumed)}, up to ${down.maxParked} parked; /readyz: ${down.readyz.map((r) => `${r.atMs} ms ${r.answer}`).join(' | ')}`,
    );
    // The producer delivers RATE_PER_SEC: the user stage keeps up with it through the pause.
    const expected = (RATE_PER_SEC * PAUSE_MS) / 1000;
    assert.ok(
      paused.consumed.user > 0.6 * expected,
      `user stage consumed ${paused.consumed.user} of ~${expected} records while Redis was paused`,
    );
    assert.ok(paused.maxParked > 0, 'users that needed a load were parked');
    assert.ok(paused.degradedGauge, 'thermostat_degraded was 1');
    assert.ok(
      paused.readyz.some((r) => r.answer.startsWith('200 ready (degraded: ')),
      'ready (degraded) while Redis was paused',
    );
    assert.ok(
      paused.readyz.filter((r) => r.atMs < READY_LIMIT_MS).every((r) => r.answer.startsWith('200 ')),
      'ready until the degradation outlasted redis.degradedReadyLimitMs',
    );
    assert.ok(
      paused.readyz.some((r) => r.atMs >= READY_LIMIT_MS && r.answer.startsWith('503 ')),
      'not ready once it did',
    );
    assert.ok(down.consumed.user > 0, 'processing continued while Redis was down');

    await producer.done;
    const m = await waitQuiescent(job);
    assert.equal(sumMetric(m, 'thermostat_parked_records'), 0, 'every parked record applied');
    assert.equal((await job.terminate()).code, 0, job.outputTail);
    const counts = await assertMatchesReference({ brokers, names, appId, redis: client, ref });
    t.diagnostic(
      `final state equal: ${ref.users.size} users, ${ref.contents.size} contents, ${ref.allocationIds.size} allocation ids (${counts.allocationRecords} allocation records)`,
    );
  },
);
