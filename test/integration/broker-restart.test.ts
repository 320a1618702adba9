// "Kafka broker restart → the job reconnects and resumes". The job (a child process)
// runs against a PRIVATE single-node broker (test/support/private-kafka.ts; the shared broker is
// never touched) while the rest of the input arrives at a fixed rate. Mid-run the broker is
// stopped (SIGTERM), left down for DOWN_MS and started again on the same ports and data dir. The
// job must stay alive through it (consumer, producer, offset commits and checkpoints all fail
// meanwhile), resume consuming once the broker is back, and end with the uninterrupted run's
// state: Redis, changelogs (latest per key) and allocation ids — nothing lost or double-applied.
//
// Watermark idleness is wall-clock (a partition at its end for idleTimeoutMs): while the broker is
// away, partitions sitting at their end would be declared idle and the records produced during the
// outage could then be late, which no uninterrupted run has. So the job under test runs with an
// idle timeout longer than the whole test; once it has consumed everything it is stopped (SIGTERM,
// exit 0) and a second life with a short idle timeout closes the last ticks (a restart replays
// from the checkpoint deterministically: test/integration/crash-loop.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertMatchesReference, setupJobRun } from '../support/job-fixture.js';
import { JobProcess, sleep, sumMetric, waitQuiescent } from '../../bench/support/job-process.js';
import { PacedProducer } from '../support/paced-producer.js';
import { PrivateKafka } from '../support/private-kafka.js';
import { freePort } from '../../bench/support/redis-server.js';

const DOWN_MS = Number(process.env.THERMOSTAT_TEST_BROKER_DOWN_MS ?? 5000);
const UPFRONT = 20_000;
const RATE_PER_SEC = 2000;
// Paced records outlast the outage plus the broker's restart (~5-20 s on a loaded machine).
const INTERACTIONS = UPFRONT + Math.round((RATE_PER_SEC * (DOWN_MS + 35_000)) / 1000);

test(
  `Kafka broker stopped for ${DOWN_MS} ms and restarted mid-run: the job stays up, resumes, final state equal`,
  { timeout: 300_000 },
  async (t) => {
    const kafka = await PrivateKafka.start();
    t.after(() => kafka.dispose());
    const brokers = kafka.brokers;
    const { input, ref, appId, names, redis, client } = await setupJobRun(
      t,
      'broker-restart',
      brokers,
      { seed: 91, interactions: INTERACTIONS, users: 3000, contents: 200, stepMs: 25 },
      UPFRONT,
    );

    const spawnJob = async (idleTimeoutMs: number) => {
      const j = JobProcess.spawn({
        brokers,
        appId,
        topicPrefix: `${appId}.`,
        redisUrl: redis.url,
        httpPort: await freePort(),
        // Debugging a failed run: THERMOSTAT_TEST_JOB_LOG=/tmp/job.log (and THERMOSTAT_LOG_LEVEL=info).
        logFile: process.env.THERMOSTAT_TEST_JOB_LOG,
        env: {
          THERMOSTAT_LOG_LEVEL: process.env.THERMOSTAT_LOG_LEVEL ?? 'warn',
          THERMOSTAT_COMMIT_INTERVAL_MS: '1000',
          THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: String(idleTimeoutMs),
          THERMOSTAT_BATCH_SIZE: '100',
        },
      });
      t.after(() => j.dispose());
      return j;
    };
    const job = await spawnJob(600_000);
    await job.waitStarted();
    for (const end = Date.now() + 60_000; (await job.recordsIn()) < 2000 && Date.now() < end;)
      await sleep(50);
    const before = await job.waitReady();
    assert.equal(before?.status, 200, `ready before the restart: ${before?.body}`);

    const producer = PacedProducer.start({
      brokers,
      names,
      interactions: input.interactions.slice(UPFRONT),
      ratePerSec: RATE_PER_SEC,
    });
    await sleep(3000);

    const beforeStop = await job.recordsIn();
    const stoppedAt = Date.now();
    await kafka.stop();
    const stopMs = Date.now() - stoppedAt;
    await sleep(DOWN_MS);
    const duringDown = (await job.recordsIn()) - beforeStop;
    assert.ok(job.running, `the job survived the broker going away:\n${job.outputTail}`);
    const restartAt = Date.now();
    await kafka.restart();
    const brokerUpMs = Date.now() - restartAt;

    // Resumed: consumption goes on after the broker is back.
    const atRestart = await job.recordsIn();
    let resumeMs = -1;
    for (const end = Date.now() + 120_000; Date.now() < end; await sleep(100)) {
      assert.ok(job.running, `job exited after the broker restart:\n${job.outputTail}`);
      if ((await job.recordsIn()) > atRestart + 1000) {
        resumeMs = Date.now() - restartAt - brokerUpMs;
        break;
      }
    }
    assert.ok(resumeMs >= 0, `the job resumed consuming after the broker restart:\n${job.outputTail}`);

    await producer.done;
    const m = await waitQuiescent(job);
    t.diagnostic(
      `broker stop took ${stopMs} ms, down ${DOWN_MS} ms, restart ${brokerUpMs} ms; records consumed while down ${duringDown}; ` +
        `consumption resumed ${resumeMs} ms after the broker answered; checkpoints ok ${sumMetric(m, 'thermostat_checkpoints_total', 'outcome="ok"')}, ` +
        `failed ${sumMetric(m, 'thermostat_checkpoints_total', 'outcome="failed"')}`,
    );
    const exit = await job.terminate();
    assert.equal(exit.code, 0, `graceful stop after the broker restart:\n${job.outputTail}`);
    assert.equal(sumMetric(m, 'thermostat_consumer_lag_records'), 0, 'everything consumed before the stop');

    // Second life: the partitions go idle at the end of the input and the last ticks close.
    const last = await spawnJob(500);
    await last.waitStarted();
    await waitQuiescent(last);
    const lastExit = await last.terminate();
    assert.equal(lastExit.code, 0, last.outputTail);
    const counts = await assertMatchesReference({ brokers, names, appId, redis: client, ref });
    t.diagnostic(
      `final state equal: ${ref.users.size} users, ${ref.contents.size} contents, ${ref.allocationIds.size} allocation ids ` +
        `(${counts.allocationRecords} allocation records on the topic)`,
    );
  },
);
