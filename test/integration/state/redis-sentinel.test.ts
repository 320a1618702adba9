// The Redis checkpoint store through Sentinel (scripts/redis-ha.sh: master, replica, three
// sentinels): the client finds the master from a redis+sentinel:// URL; after SENTINEL FAILOVER it
// follows the promoted replica, checkpoints continue with their epoch and seq, the state written
// before the failover is there, and fencing still refuses a zombie.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createMetrics } from '../../../core/metrics.js';
import { FencedError, isThermostatError } from '../../../core/errors.js';
import { RedisCheckpointStore } from '../../../state/redis-checkpoint.js';
import { connectStateRedis, type StateRedis } from '../../../state/redis-options.js';
import { stateKey } from '../../../state/keys.js';
import type { CheckpointEntry, CommitRequest, TaskId } from '../../../state/store.js';
import { RedisHa } from '../../support/redis-ha.js';
import { sleep } from '../../../bench/support/job-process.js';

let ha: RedisHa;
let redis: StateRedis;

before(async () => {
  ha = await RedisHa.start('sentinel');
  redis = await connectStateRedis(ha.url, { commandTimeoutMs: 1000, reconnectMaxMs: 200 });
});
after(async () => {
  redis?.disconnect();
  await ha?.stop();
});

const entry = (key: string, version: number, v: string): CheckpointEntry => ({
  store: 's',
  key,
  version,
  fields: { v },
});

/** Retries a commit through the switch-over (connection closed, READONLY): what the write-behind queue does. */
async function commitRetrying(
  store: RedisCheckpointStore,
  task: TaskId,
  req: CommitRequest,
): Promise<{ failures: number }> {
  let failures = 0;
  for (const end = Date.now() + 30_000; ; failures++) {
    try {
      await store.commit(task, req);
      return { failures };
    } catch (e) {
      if (!(isThermostatError(e) && e.retriable) || Date.now() > end) throw e;
      await sleep(100);
    }
  }
}

test(
  'SENTINEL FAILOVER: the client follows the new master; checkpoints, restore and fencing carry on',
  { timeout: 90_000 },
  async () => {
    const store = new RedisCheckpointStore({
      redis,
      appId: 'sent',
      metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    });
    const task: TaskId = { stage: 'user', partition: 4 };
    const { epoch } = await store.acquire(task);
    await store.commit(task, { epoch, seq: 1, entries: [entry('a', 1, 'before')], meta: Buffer.from('m1') });

    const oldMaster = await ha.masterPort();
    assert.equal(oldMaster, ha.ports[0]);
    const primary = ha.node(oldMaster);
    const sentinel = ha.node(ha.sentinelPorts[0]);
    try {
      assert.equal(await primary.call('WAIT', '1', '5000'), 1, 'the replica has the checkpoint');
      assert.equal(await sentinel.call('SENTINEL', 'FAILOVER', 'thermostat'), 'OK');
      for (const end = Date.now() + 30_000; (await ha.masterPort()) === oldMaster && Date.now() < end;)
        await sleep(100);
    } finally {
      primary.disconnect();
      sentinel.disconnect();
    }
    const newMaster = await ha.masterPort();
    assert.equal(newMaster, ha.ports[1], 'the replica was promoted');

    const { failures } = await commitRetrying(store, task, {
      epoch,
      seq: 2,
      entries: [entry('a', 2, 'after'), entry('b', 1, 'new')],
      meta: Buffer.from('m2'),
    });
    const direct = ha.node(newMaster);
    try {
      assert.deepEqual(await direct.hgetall(stateKey('sent', task, 's', 'a')), {
        version: '2',
        epoch: String(epoch),
        v: 'after',
      });
      assert.equal(((await direct.call('ROLE')) as unknown[])[0], 'master');
    } finally {
      direct.disconnect();
    }
    const loaded = await store.load(task, 's', ['a', 'b']);
    assert.deepEqual(
      [...loaded].map(([k, e]) => [k, e.version, e.fields?.v.toString()]),
      [
        ['a', 2, 'after'],
        ['b', 1, 'new'],
      ],
    );

    // A new owner (rebalance after the failover) restores the last checkpoint and fences the old one.
    const owner = new RedisCheckpointStore({ redis, appId: 'sent' });
    const acquired = await owner.acquire(task);
    assert.deepEqual([acquired.epoch, acquired.meta?.toString()], [epoch + 1, 'm2']);
    await assert.rejects(
      store.commit(task, { epoch, seq: 3, entries: [entry('a', 3, 'zombie')], meta: Buffer.from('z') }),
      FencedError,
    );
    assert.ok(failures <= 50, `commits failed ${failures} times during the switch-over`);
  },
);
