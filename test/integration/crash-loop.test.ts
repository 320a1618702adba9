// Crash recovery, against the real local Kafka and a private redis-server:
//  - crash loop: a fixed input of 200k interactions, the job (a child process: `thermostat run`)
//    SIGKILLed at seeded random moments 20 times and restarted each time; at the end every user and
//    content state in Redis and in the changelogs, and the set of allocation ids, equal an
//    uninterrupted run over the same input (ThermostatTestDriver, same partitions and timing);
//  - SIGTERM during load: exit 0 within the shutdown timeout, restart continues, nothing lost or
//    double-applied; plus the Redis-commands-per-event figure of the job (INFO commandstats).
//
// Restarts use static group membership (`group.instance.id` through THERMOSTAT_KAFKA_RDKAFKA): a
// restarted process takes over its dead predecessor's membership at once, instead of waiting
// `session.timeout.ms` (10 s) for the broker to expire it — what a StatefulSet/Deployment with
// stable pod names would do, and it keeps 20 restarts within a minute.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../core/rng.js';
import { assertMatchesReference, commandStats, setupJobRun } from '../support/job-fixture.js';
import { JobProcess, sleep, sumMetric, waitQuiescent } from '../../bench/support/job-process.js';
import { freePort } from '../../bench/support/redis-server.js';
import { ensureStack } from '../support/stack.js';

const INTERACTIONS = Number(process.env.THERMOSTAT_TEST_CRASH_INTERACTIONS ?? 200_000);
const KILLS = Number(process.env.THERMOSTAT_TEST_CRASH_KILLS ?? 20);
const SEED = Number(process.env.THERMOSTAT_TEST_CRASH_SEED ?? 20261123);

function jobEnv(appId: string): Record<string, string> {
  return {
    THERMOSTAT_COMMIT_INTERVAL_MS: '1000',
    THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '500',
    THERMOSTAT_TICK_MS: '60000',
    THERMOSTAT_SHUTDOWN_TIMEOUT_MS: '20000',
    THERMOSTAT_KAFKA_RDKAFKA: JSON.stringify({ 'group.instance.id': `${appId}-0` }),
  };
}

test(
  `crash loop: ${INTERACTIONS} interactions, SIGKILL ${KILLS}× at random moments, final state = uninterrupted run`,
  { timeout: 600_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const { ref, appId, names, redis, client } = await setupJobRun(t, 'crash', brokers, {
      seed: SEED,
      interactions: INTERACTIONS,
      users: 5000,
      contents: 300,
      stepMs: 25,
    });
    assert.ok(ref.allocationIds.size > 50, 'the input makes the allocator work');

    const spawn = await JobProcess.restarter({ appId, redis }, brokers, {
      env: jobEnv(appId),
    });

    const rng = new Rng(SEED);
    const started = Date.now();
    const progress: number[] = [];
    let job: JobProcess | null = null;
    t.after(() => job?.dispose());
    for (let k = 0; k < KILLS; k++) {
      job = spawn();
      // Most kills land while the job processes (0.3 to 3.3 s after its HTTP server answers);
      // one in five lands anywhere in start-up (topics, Redis, group join, restore).
      if (k % 5 === 4) await sleep(200 + rng.int(1500));
      else {
        await job.waitStarted();
        await sleep(300 + rng.int(3000));
      }
      progress.push(await job.recordsIn());
      const exit = await job.crash();
      assert.equal(exit.signal, 'SIGKILL', `kill ${k + 1}: the job was still running (${job.outputTail})`);
    }
    const crashPhaseMs = Date.now() - started;

    const spawnedAt = Date.now();
    job = spawn();
    await job.waitStarted();
    const startedMs = Date.now() - spawnedAt;
    for (const end = Date.now() + 60_000; (await job.readyz())?.status !== 200 && Date.now() < end;)
      await sleep(20);
    const readyMs = Date.now() - spawnedAt;
    const recoverFrom = Date.now();
    const m = await waitQuiescent(job);
    const finalRunMs = Date.now() - recoverFrom;
    const exit = await job.terminate();
    assert.deepEqual(
      { code: exit.code, timedOut: exit.timedOut },
      { code: 0, timedOut: false },
      `final SIGTERM:\n${job.outputTail}`,
    );

    const counts = await assertMatchesReference({ brokers, names, appId, redis: client, ref });
    t.diagnostic(
      `crash loop: ${KILLS} SIGKILLs in ${(crashPhaseMs / 1000).toFixed(1)} s (records consumed per life: ${progress.join(',')}); ` +
        `last restart: HTTP up ${startedMs} ms, ready (partitions assigned, state restored) ${readyMs} ms after spawn; ` +
        `final run to completion ${(finalRunMs / 1000).toFixed(1)} s (${sumMetric(m, 'thermostat_records_in_total')} records); ` +
        `${ref.users.size} users, ${ref.contents.size} contents, ${ref.allocationIds.size} allocation ids equal; ` +
        `${counts.allocationRecords} allocation records (${counts.allocationRecords - ref.allocations} re-emitted duplicates), ${counts.changelogRecords} changelog records`,
    );
  },
);

test(
  'SIGTERM during load: exit 0 within the shutdown timeout, restarts continue with nothing lost or double-applied; Redis commands per event',
  { timeout: 300_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const n = Math.min(INTERACTIONS, 60_000);
    const { input, ref, appId, names, redis, client } = await setupJobRun(t, 'sigterm', brokers, {
      seed: SEED + 1,
      interactions: n,
      users: 3000,
      contents: 200,
      stepMs: 25,
    });
    const before = await commandStats(client);
    const port = await freePort();
    const shutdownTimeoutMs = 20_000;
    let job: JobProcess | null = null;
    t.after(() => job?.dispose());
    const stops: string[] = [];
    for (let k = 0; k < 3; k++) {
      job = JobProcess.spawn({
        brokers,
        appId,
        topicPrefix: `${appId}.`,
        redisUrl: redis.url,
        httpPort: port,
        env: jobEnv(appId),
      });
      await job.waitStarted();
      // Under load: wait until this life consumed something, then stop it mid-stream.
      for (const end = Date.now() + 30_000; (await job.recordsIn()) < 5000 && Date.now() < end;)
        await sleep(50);
      const consumed = await job.recordsIn();
      const lag = sumMetric((await job.metrics()) ?? new Map(), 'thermostat_consumer_lag_records');
      const t0 = Date.now();
      const exit = await job.terminate(shutdownTimeoutMs + 5000);
      const tookMs = Date.now() - t0;
      assert.deepEqual(
        { code: exit.code, timedOut: exit.timedOut },
        { code: 0, timedOut: false },
        `SIGTERM ${k + 1}:\n${job.outputTail}`,
      );
      assert.ok(tookMs < shutdownTimeoutMs, `SIGTERM ${k + 1} took ${tookMs} ms`);
      stops.push(`${consumed} consumed, lag ${lag}, exit 0 in ${tookMs} ms`);
    }
    job = JobProcess.spawn({
      brokers,
      appId,
      topicPrefix: `${appId}.`,
      redisUrl: redis.url,
      httpPort: port,
      env: jobEnv(appId),
    });
    await job.waitStarted();
    await waitQuiescent(job);
    assert.equal((await job.terminate()).code, 0);
    // Redis commands per processed event, from the server's own counters over the four lives.
    const after = await commandStats(client);
    await assertMatchesReference({ brokers, names, appId, redis: client, ref });

    const delta = (c: string) => (after.get(c) ?? 0) - (before.get(c) ?? 0);
    const all = [...after.keys()]
      .filter((c) => !['info', 'ping', 'command', 'client|setinfo', 'client|setname'].includes(c))
      .reduce((s, c) => s + delta(c), 0);
    const client_ = delta('evalsha') + delta('script|load') + delta('eval');
    // Naive write-through: one write per state update (each interaction updates one user and one
    // content state; each publication one content state).
    const naive = 2 * input.interactions.length + input.published.length;
    const events = input.interactions.length + input.published.length;
    t.diagnostic(`SIGTERM under load: ${stops.join('; ')}`);
    t.diagnostic(
      `Redis per processed event (4 lives, ${events} events): client commands ${(client_ / events).toFixed(4)} (${client_}), ` +
        `Redis-executed calls ${(all / events).toFixed(3)} (${all}); naive write-through ${(naive / events).toFixed(3)} (${naive}) → ` +
        `client commands −${(100 * (1 - client_ / naive)).toFixed(2)}%, executed calls −${(100 * (1 - all / naive)).toFixed(1)}%`,
    );
    assert.ok(client_ < naive / 50, 'write-behind sends far fewer commands than write-through');
  },
);
