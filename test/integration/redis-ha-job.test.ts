// The job (`thermostat run`, a child process) on highly-available Redis topologies started by
// scripts/redis-ha.sh, configured only by REDIS_URL. The whole input is produced upfront (as in the
// crash-loop test), so the final state can be compared with an uninterrupted in-memory run.
//  - Cluster (three masters): the job is killed mid-run and restarted; checkpoints, the restore,
//    epochs, serving copies and the model store run across the nodes, every call in one slot.
//  - Sentinel: SENTINEL FAILOVER mid-run, with the job frozen meanwhile (SIGSTOP) so that no
//    checkpoint is in flight: Redis replication is asynchronous, and a write acknowledged by the
//    old master after the promotion would be lost (docs/STATE.md, "Redis topologies"). The job
//    resumes on the promoted replica.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertMatchesReference,
  makeInput,
  produceInput,
  referenceRun,
  type InputOptions,
} from '../support/job-fixture.js';
import { JobProcess, sleep, sumMetric, waitQuiescent } from '../../bench/support/job-process.js';
import { uniqueName } from '../support/kafka.js';
import { freePort } from '../../bench/support/redis-server.js';
import { RedisHa } from '../../bench/support/redis-ha.js';
import { ensureStack } from '../support/stack.js';
import { topologyNames } from '../../pipelines/topology.js';

const INPUT: InputOptions = { seed: 4242, interactions: 12_000, users: 1500, contents: 120, stepMs: 40 };
const ENV = {
  THERMOSTAT_COMMIT_INTERVAL_MS: '500',
  THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '500',
  THERMOSTAT_BATCH_SIZE: '200',
};

/** Waits until the job consumed `n` records. */
async function consumed(job: JobProcess, n: number): Promise<void> {
  for (const end = Date.now() + 60_000; (await job.recordsIn()) < n; await sleep(50))
    assert.ok(Date.now() < end, `the job consumed ${await job.recordsIn()} of ${n} records in 60 s`);
}

async function setup(t: { after(fn: () => unknown): void }, name: string, topology: 'cluster' | 'sentinel') {
  const { brokers } = ensureStack();
  const input = makeInput(INPUT);
  const ref = await referenceRun(input);
  assert.ok(ref.allocationIds.size > 0, 'the input makes the allocator work');
  const ha = await RedisHa.start(topology);
  t.after(() => ha.stop());
  const reader = ha.reader();
  t.after(() => reader.disconnect());
  const appId = uniqueName(name);
  const names = topologyNames(appId, `${appId}.`);
  await produceInput(brokers, names, input);
  const spawn = async () =>
    JobProcess.spawn({
      brokers,
      appId,
      topicPrefix: `${appId}.`,
      redisUrl: ha.url,
      httpPort: await freePort(),
      env: ENV,
    });
  return { brokers, input, ref, ha, reader, appId, names, spawn };
}

test(
  'Redis Cluster: the job checkpoints, restores and serves across three masters; state = uninterrupted run',
  { timeout: 240_000 },
  async (t) => {
    const { brokers, input, ref, ha, reader, appId, names, spawn } = await setup(t, 'cluster', 'cluster');
    const first = await spawn();
    t.after(() => first.dispose());
    await consumed(first, input.interactions.length * 0.4);
    await first.crash();
    // The second life acquires every task (next epoch), restores it from the Cluster and finishes.
    const second = await spawn();
    t.after(() => second.dispose());
    const metrics = await waitQuiescent(second, { quietMs: 2500 });
    assert.equal(
      sumMetric(metrics, 'thermostat_redis_errors_total'),
      0,
      'no Redis call failed (no CROSSSLOT)',
    );
    assert.equal(sumMetric(metrics, 'thermostat_dlq_records_total'), 0);
    assert.equal((await second.terminate()).code, 0);

    const counts = await assertMatchesReference({ brokers, names, appId, redis: reader, ref });
    t.diagnostic(
      `cluster: ${ref.users.size} users, ${ref.contents.size} contents, ${counts.allocationRecords} allocations`,
    );
    const perMaster = await Promise.all(
      ha.ports.map(async (p) => {
        const n = ha.node(p);
        try {
          return await n.dbsize();
        } finally {
          n.disconnect();
        }
      }),
    );
    assert.ok(
      perMaster.every((n) => n > 0),
      `state on every master: ${perMaster}`,
    );
  },
);

test(
  'Redis Sentinel: the job follows a SENTINEL FAILOVER to the promoted replica; state = uninterrupted run',
  { timeout: 240_000 },
  async (t) => {
    const { brokers, input, ref, ha, reader, appId, names, spawn } = await setup(t, 'sentinel', 'sentinel');
    const job = await spawn();
    t.after(() => job.dispose());
    await consumed(job, input.interactions.length * 0.3);

    const oldMaster = await ha.masterPort();
    const primary = ha.node(oldMaster);
    const sentinel = ha.node(ha.sentinelPorts[0]);
    job.kill('SIGSTOP');
    try {
      await sleep(300); // the master has run whatever the job sent before it stopped
      assert.equal(await primary.call('WAIT', '1', '5000'), 1, 'the replica has every checkpoint');
      assert.equal(await sentinel.call('SENTINEL', 'FAILOVER', 'thermostat'), 'OK');
      // Resume only once the old master refuses writes (a replica answers READONLY).
      for (const end = Date.now() + 30_000; Date.now() < end; await sleep(100))
        if (
          (await ha.masterPort()) !== oldMaster &&
          ((await primary.call('ROLE')) as unknown[])[0] === 'slave'
        )
          break;
    } finally {
      job.kill('SIGCONT');
      primary.disconnect();
      sentinel.disconnect();
    }
    const newMaster = await ha.masterPort();
    assert.notEqual(newMaster, oldMaster, 'the replica was promoted');

    const metrics = await waitQuiescent(job, { quietMs: 2500 });
    assert.equal(sumMetric(metrics, 'thermostat_dlq_records_total'), 0);
    assert.equal((await job.readyz())?.status, 200, 'ready on the new master');
    assert.equal((await job.terminate()).code, 0);

    const counts = await assertMatchesReference({ brokers, names, appId, redis: reader, ref });
    t.diagnostic(
      `sentinel: ${ref.users.size} users, ${ref.contents.size} contents, ${counts.allocationRecords} allocations`,
    );
    const promoted = ha.node(await ha.masterPort());
    try {
      assert.equal(((await promoted.call('ROLE')) as unknown[])[0], 'master');
      // As a replica it only received the scripts' effects: EVALSHA calls are the job's, after the failover.
      const calls = /cmdstat_evalsha:calls=(\d+)/.exec(await promoted.info('commandstats'));
      assert.ok(Number(calls?.[1] ?? 0) > 0, 'the job checkpointed to the promoted master');
    } finally {
      promoted.disconnect();
    }
  },
);
