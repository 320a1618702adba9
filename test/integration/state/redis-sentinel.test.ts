// The Redis checkpoint store through Sentinel (scripts/redis-ha.sh: master, replica, three
// sentinels), with the job's default of one replica acknowledging each checkpoint (WAIT):
//  - a checkpoint the replica has not acknowledged is not confirmed (retriable), whatever the
//    master answered; once the replica is back, the retry is;
//  - SENTINEL FAILOVER while checkpoints are being written: the client follows the promoted
//    replica, and every checkpoint confirmed before, during or after the switch is on the new
//    master (replication is asynchronous: without WAIT one confirmed by the old master during the
//    switch could be lost), then restore and fencing carry on;
//  - the start fails at once, naming the key, on refused credentials or an unknown master name.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createMetrics } from '../../../core/metrics.js';
import { FencedError, isThermostatError, type ThermostatError } from '../../../core/errors.js';
import { RedisCheckpointStore } from '../../../state/redis-checkpoint.js';
import { connectStateRedis, defaultMinReplicaAcks, type StateRedis } from '../../../state/redis-options.js';
import { stateKey, taskKey } from '../../../state/keys.js';
import type { CheckpointEntry, TaskId } from '../../../state/store.js';
import { RedisHa } from '../../../bench/support/redis-ha.js';
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
const newStore = (appId: string) =>
  new RedisCheckpointStore({
    redis,
    appId,
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    minReplicaAcks: defaultMinReplicaAcks(ha.url),
    replicaAckTimeoutMs: 300,
  });

/**
 * Retries a call through the switch-over (connection closed, READONLY, a reply from the old master
 * turned replica, unacknowledged): what write-behind does.
 */
async function retrying<T>(call: () => Promise<T>): Promise<{ value: T; failures: number }> {
  let failures = 0;
  for (const end = Date.now() + 30_000; ; failures++) {
    try {
      return { value: await call(), failures };
    } catch (e) {
      if (!(isThermostatError(e) && e.retriable) || Date.now() > end) throw e;
      await sleep(50);
    }
  }
}

test('a checkpoint the replica has not acknowledged is not confirmed; its retry is once the replica is back', async () => {
  assert.equal(defaultMinReplicaAcks(ha.url), 1, 'Sentinel: one replica acknowledges by default');
  const store = newStore('ack');
  const task: TaskId = { stage: 'user', partition: 1 };
  const { epoch } = await store.acquire(task);
  await store.commit(task, { epoch, seq: 1, entries: [entry('a', 1, 'one')], meta: Buffer.from('m1') });

  const replica = ha.node(ha.ports[1]);
  ha.signal(ha.ports[1], 'SIGSTOP'); // shorter than the sentinels' down-after: no failover
  try {
    await assert.rejects(
      store.commit(task, { epoch, seq: 2, entries: [entry('a', 2, 'two')], meta: Buffer.from('m2') }),
      (e: ThermostatError) => e.retriable && /0 of 1 replica\(s\) acknowledged/.test(e.message),
    );
  } finally {
    ha.signal(ha.ports[1], 'SIGCONT');
  }
  try {
    // Write-behind retries the same entries with the next seq: now acknowledged, and on the replica.
    const r = await store.commit(task, {
      epoch,
      seq: 3,
      entries: [entry('a', 2, 'two')],
      meta: Buffer.from('m3'),
    });
    assert.equal(r.duplicate, false);
    assert.deepEqual(await replica.hmget(taskKey('ack', task), 'seq', 'meta'), ['3', 'm3']);
    assert.equal(await replica.hget(stateKey('ack', task, 's', 'a'), 'v'), 'two');
  } finally {
    replica.disconnect();
  }
});

test(
  'SENTINEL FAILOVER while checkpoints run: every confirmed one is on the new master; restore and fencing carry on',
  { timeout: 60_000 },
  async () => {
    const store = newStore('sent');
    const task: TaskId = { stage: 'user', partition: 4 };
    const { epoch } = await store.acquire(task);
    const oldMaster = await ha.masterPort();
    assert.equal(oldMaster, ha.ports[0]);

    // Checkpoint k writes key "a" at version k and meta "m<k>"; `confirmed` is the last one the
    // store confirmed. They run back to back until three are confirmed on the new master.
    let confirmed = 0;
    let failures = 0;
    let switchedAt = Infinity;
    const writer = (async () => {
      for (let k = 1; confirmed < switchedAt + 3; k++) {
        const r = await retrying(() =>
          store.commit(task, {
            epoch,
            seq: k,
            entries: [entry('a', k, `v${k}`), entry(`k${k}`, 1, 'x')],
            meta: Buffer.from(`m${k}`),
          }),
        );
        failures += r.failures;
        confirmed = k;
      }
    })();
    writer.catch(() => undefined); // awaited below, where a failure surfaces
    while (confirmed < 3) await sleep(10);
    const sentinel = ha.node(ha.sentinelPorts[0]);
    const primary = ha.node(oldMaster);
    try {
      assert.equal(await sentinel.call('SENTINEL', 'FAILOVER', 'thermostat'), 'OK');
      for (const end = Date.now() + 30_000; (await ha.masterPort()) === oldMaster; await sleep(20))
        assert.ok(Date.now() < end, 'the sentinels promote the replica within 30 s');
      // The sentinels turn the old master into a replica when they next poll it (up to 10 s);
      // done here at once. Until then the new master has no replica to acknowledge checkpoints.
      await primary.call('REPLICAOF', '127.0.0.1', String(ha.ports[1]));
      switchedAt = confirmed;
      await writer;
    } finally {
      sentinel.disconnect();
      primary.disconnect();
    }
    const newMaster = await ha.masterPort();
    assert.equal(newMaster, ha.ports[1], 'the replica was promoted');

    const direct = ha.node(newMaster);
    try {
      assert.equal(((await direct.call('ROLE')) as unknown[])[0], 'master');
      assert.deepEqual(await direct.hmget(taskKey('sent', task), 'seq', 'meta'), [
        String(confirmed),
        `m${confirmed}`,
      ]);
      assert.deepEqual(await direct.hgetall(stateKey('sent', task, 's', 'a')), {
        version: String(confirmed),
        epoch: String(epoch),
        v: `v${confirmed}`,
      });
      for (let k = 1; k <= confirmed; k++)
        assert.equal(await direct.hget(stateKey('sent', task, 's', `k${k}`), 'v'), 'x', `checkpoint ${k}`);
    } finally {
      direct.disconnect();
    }

    // A new owner (rebalance after the failover) restores the last checkpoint and fences the old one.
    const owner = newStore('sent');
    const { value: acquired } = await retrying(() => owner.acquire(task));
    assert.deepEqual([acquired.epoch, acquired.meta?.toString()], [epoch + 1, `m${confirmed}`]);
    await assert.rejects(
      retrying(() =>
        store.commit(task, {
          epoch,
          seq: confirmed + 1,
          entries: [entry('a', confirmed + 1, 'zombie')],
          meta: Buffer.from('z'),
        }),
      ),
      FencedError,
    );
    assert.ok(failures <= 200, `commits failed ${failures} times during the switch-over`);
  },
);

test('start: refused credentials and an unknown master name fail at once, naming the key; no sentinel up fails within the bound', async () => {
  // An ACL user of the data nodes (the default user stays open: the sentinels monitor through it).
  const master = ha.node(await ha.masterPort());
  const started = Date.now();
  try {
    await master.call('ACL', 'SETUSER', 'app', 'on', '>right', '~*', '+@all');
    await assert.rejects(
      connectStateRedis({ url: ha.url, username: 'app', password: 'wrong' }, { connectTimeoutMs: 20_000 }),
      {
        name: 'ConfigError',
        message:
          /^invalid configuration redis\.password: Redis at redis\+sentinel:\/\/\S+ refused the credentials \(WRONGPASS/,
      },
    );
  } finally {
    await master.call('ACL', 'DELUSER', 'app');
    master.disconnect();
  }
  await assert.rejects(
    connectStateRedis(ha.url.replace(/\/thermostat$/, '/nope'), { connectTimeoutMs: 20_000 }),
    { name: 'ConfigError', message: /^invalid configuration redis\.url: .*No such master with that name/ },
  );
  assert.ok(
    Date.now() - started < 10_000,
    `refusals reported in ${Date.now() - started} ms, not after the bound`,
  );

  const nowhere = 'redis+sentinel://127.0.0.1:1,127.0.0.1:2/thermostat';
  const t0 = Date.now();
  await assert.rejects(connectStateRedis(nowhere, { connectTimeoutMs: 1500 }), {
    name: 'ThermostatError',
    message: `cannot reach Redis at ${nowhere} within 1.5 s (All sentinels are unreachable. Last error: Connection is closed.)`,
  });
  assert.ok(Date.now() - t0 < 5000, `gave up after ${Date.now() - t0} ms`);
});
