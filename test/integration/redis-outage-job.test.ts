// Redis restarted mid-run and Redis paused for 30 s, at job level. The job
// (a child process) checkpoints to a private redis-server that the test freezes with SIGSTOP for
// THERMOSTAT_TEST_REDIS_PAUSE_MS (default 30 s, the figure), then stops and restarts (AOF
// kept). While Redis is away the job keeps consuming from its local caches, /readyz reports the
// degradation and thermostat_degraded is 1; when Redis is back every queued checkpoint lands, and
// the final state equals the uninterrupted run.
//
// The input is bounded: a small part is produced upfront, the rest at a fixed rate from the start
// of the pause until after the restart, so the job is busy through both outages without a backlog
// sized to outlast them (the old max(250k, pause × 20) records made 30 s cost ~1M records).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertMatchesReference, setupJobRun } from '../support/job-fixture.js';
import { JobProcess, sleep, sumMetric, waitQuiescent } from '../../bench/support/job-process.js';
import { PacedProducer } from '../support/paced-producer.js';
import { ensureStack } from '../support/stack.js';

const PAUSE_MS = Number(process.env.THERMOSTAT_TEST_REDIS_PAUSE_MS ?? 30_000);
const DOWN_MS = 3000;
const UPFRONT = 20_000;
const RATE_PER_SEC = Number(process.env.THERMOSTAT_TEST_OUTAGE_RATE ?? 2000);
// Paced records last through the pause, the wait for readiness, the restart and a margin.
const INTERACTIONS = UPFRONT + Math.round((RATE_PER_SEC * (PAUSE_MS + DOWN_MS + 15_000)) / 1000);

interface Observed {
  consumedDuring: number;
  degradedSeen: boolean;
  readyzBodies: Set<string>;
  gaugeDegraded: boolean;
}

/** Polls the job while Redis is away for `ms`: consumption, /readyz and the degraded gauge. */
async function observe(job: JobProcess, ms: number): Promise<Observed> {
  const start = await job.recordsIn();
  const o: Observed = {
    consumedDuring: 0,
    degradedSeen: false,
    readyzBodies: new Set(),
    gaugeDegraded: false,
  };
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) {
    const r = await job.readyz();
    if (r) {
      o.readyzBodies.add(`${r.status} ${r.body.trim()}`);
      if (/unreachable|failing|degraded/.test(r.body)) o.degradedSeen = true;
    }
    const m = await job.metrics();
    if (m && sumMetric(m, 'thermostat_degraded') === 1) o.gaugeDegraded = true;
  }
  o.consumedDuring = (await job.recordsIn()) - start;
  return o;
}

test(
  `Redis restarted mid-run (down ${DOWN_MS} ms) and paused ${PAUSE_MS} ms: processing continues, readiness degraded, no state lost`,
  { timeout: 240_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const { input, ref, appId, names, redis, client } = await setupJobRun(
      t,
      'redis-outage',
      brokers,
      { seed: 77, interactions: INTERACTIONS, users: 4000, contents: 250, stepMs: 25 },
      UPFRONT,
    );

    const job = await JobProcess.forRun({ appId, redis }, brokers, {
      THERMOSTAT_COMMIT_INTERVAL_MS: '1000',
      // Well above the producer's 100 ms slices: a partition is never idle mid-stream.
      THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '2000',
      THERMOSTAT_BATCH_SIZE: '100',
    });
    t.after(() => job.dispose());
    await job.waitStarted();
    for (const end = Date.now() + 60_000; (await job.recordsIn()) < 2000 && Date.now() < end;)
      await sleep(50);
    const before = await job.waitReady();
    assert.equal(before?.status, 200, `ready before the outage: ${before?.body}`);

    // 1. Redis frozen (SIGSTOP): connections stay open, commands time out. The rest of the input
    // arrives meanwhile.
    const producer = PacedProducer.start({
      brokers,
      names,
      interactions: input.interactions.slice(UPFRONT),
      ratePerSec: RATE_PER_SEC,
    });
    redis.pause();
    let paused: Observed;
    try {
      paused = await observe(job, PAUSE_MS);
    } finally {
      redis.resume();
    }
    for (const end = Date.now() + 30_000; (await job.readyz())?.status !== 200 && Date.now() < end;)
      await sleep(100);
    assert.equal(
      (await job.readyz())?.status,
      200,
      `ready again after the pause: ${(await job.readyz())?.body}`,
    );

    // 2. Redis stopped (SIGTERM: the AOF is flushed) and started again DOWN_MS later.
    await redis.stop();
    const down = await observe(job, DOWN_MS);
    await redis.start();
    for (const end = Date.now() + 30_000; (await job.readyz())?.status !== 200 && Date.now() < end;)
      await sleep(100);
    assert.equal(
      (await job.readyz())?.status,
      200,
      `ready again after the restart: ${(await job.readyz())?.body}`,
    );

    t.diagnostic(
      `Redis down ${DOWN_MS} ms: ${down.consumedDuring} records consumed meanwhile; /readyz said ${[...down.readyzBodies].join(' | ')}`,
    );
    t.diagnostic(
      `Redis paused ${PAUSE_MS} ms: ${paused.consumedDuring} records consumed meanwhile; /readyz said ${[...paused.readyzBodies].join(' | ')}`,
    );
    assert.ok(down.consumedDuring > 0, 'processing continued while Redis was down');
    assert.ok(paused.consumedDuring > 0, 'processing continued while Redis was paused');
    assert.ok(
      down.degradedSeen && down.gaugeDegraded,
      'readiness and thermostat_degraded reported Redis down',
    );
    assert.ok(
      paused.degradedSeen && paused.gaugeDegraded,
      'readiness and thermostat_degraded reported Redis paused',
    );

    await producer.done;
    const m = await waitQuiescent(job);
    assert.ok(
      sumMetric(m, 'thermostat_checkpoints_total', 'outcome="failed"') > 0,
      'checkpoints failed during the outages and were retried',
    );
    const exit = await job.terminate();
    assert.equal(exit.code, 0, job.outputTail);
    await assertMatchesReference({ brokers, names, appId, redis: client, ref });
  },
);
