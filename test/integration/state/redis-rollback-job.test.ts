// The job (`thermostat run`, a child process) when Redis comes back with less than it confirmed,
// as after a failover to a replica that lacked the last checkpoints: Redis (no persistence) is
// snapshotted mid-run, the job confirms more checkpoints, then Redis restarts from the snapshot.
// The job finds its tasks behind what it confirmed, writes nothing over them, and exits 70; the
// restart restores every task from the snapshot and replays the input from its offsets, so the
// final state equals the uninterrupted run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertMatchesReference,
  makeInput,
  produceInput,
  referenceRun,
  verifyClient,
} from '../../support/job-fixture.js';
import { JobProcess, sleep, waitQuiescent } from '../../../bench/support/job-process.js';
import { uniqueName } from '../../support/kafka.js';
import { TestRedis } from '../../../bench/support/redis-server.js';
import { ensureStack } from '../../support/stack.js';
import { taskKey } from '../../../state/keys.js';
import { topologyNames } from '../../../pipelines/topology.js';

test(
  'Redis restarted from an older snapshot under the running job: exit 70, the restart ends equal to the uninterrupted run',
  { timeout: 180_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const input = makeInput({ seed: 919, interactions: 10_000, users: 1200, contents: 100, stepMs: 40 });
    const ref = await referenceRun(input);
    const appId = uniqueName('rollback');
    const names = topologyNames(appId, `${appId}.`);
    await produceInput(brokers, names, input);
    const redis = await TestRedis.start({ args: ['--appendonly', 'no'] });
    t.after(() => redis.dispose());
    const client = verifyClient(redis.port);
    t.after(() => client.disconnect());

    const spawn = await JobProcess.restarter({ appId, redis }, brokers, {
      env: {
        THERMOSTAT_COMMIT_INTERVAL_MS: '300',
        THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '500',
        THERMOSTAT_BATCH_SIZE: '200',
        // Static membership: the restarted process takes the partitions back at once.
        THERMOSTAT_KAFKA_RDKAFKA: JSON.stringify({ 'group.instance.id': `${appId}-0` }),
      },
    });
    const first = spawn();
    t.after(() => first.dispose());
    await first.waitStarted();
    for (const end = Date.now() + 60_000; (await first.recordsIn()) < input.interactions.length * 0.3;) {
      assert.ok(Date.now() < end, `the job consumed ${await first.recordsIn()} records in 60 s`);
      await sleep(50);
    }

    // The snapshot, then two more confirmed checkpoints of the user stage's task 0. The snapshot's
    // seq is the one read before and after SAVE (seq only grows): on a loaded box the task's first
    // checkpoint can land just after SAVE, and the snapshot then lacks the key.
    const task = taskKey(appId, { stage: 'user', partition: 0 });
    let snapshotSeq = 0;
    for (const end = Date.now() + 30_000; ; await sleep(50)) {
      assert.ok(Date.now() < end, 'a confirmed checkpoint of the task taken in a snapshot');
      const before = Number(await client.hget(task, 'seq'));
      if (before === 0) continue;
      await client.save();
      if (Number(await client.hget(task, 'seq')) !== before) continue;
      snapshotSeq = before;
      break;
    }
    for (const end = Date.now() + 30_000; Number(await client.hget(task, 'seq')) < snapshotSeq + 2;) {
      assert.ok(Date.now() < end, 'checkpoints go on after the snapshot');
      await sleep(50);
    }

    await redis.crash();
    await redis.start(); // from the snapshot
    assert.equal(Number(await client.hget(task, 'seq')), snapshotSeq);
    const exit = await Promise.race([first.exited, sleep(30_000).then(() => null)]);
    assert.deepEqual(exit, { code: 70, signal: null }, first.outputTail);
    assert.ok(first.printed(/Redis lost confirmed checkpoints/), first.outputTail);
    assert.equal(Number(await client.hget(task, 'seq')), snapshotSeq, 'nothing written over the snapshot');

    const second = spawn();
    t.after(() => second.dispose());
    await second.waitStarted();
    await waitQuiescent(second, { quietMs: 2500 });
    assert.equal((await second.terminate()).code, 0, second.outputTail);
    const counts = await assertMatchesReference({ brokers, names, appId, redis: client, ref });
    t.diagnostic(
      `rollback: ${ref.users.size} users, ${ref.contents.size} contents, ${counts.allocationRecords} allocations`,
    );
  },
);
