// The ranker-side helpers read what the job wrote: mind state, content state and active
// allocations from Redis (the graph checkpoints into a private redis-server), and the
// heating-allocations topic followed into a view (records produced to the local broker).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readActiveAllocations, readContentState, readUserMind } from '../../ranker/redis-reads.js';
import { followAllocations } from '../../ranker/follow-allocations.js';
import { ThermostatTestDriver } from '../../pipelines/test-driver.js';
import { RedisCheckpointStore } from '../../state/redis-checkpoint.js';
import { connectStateRedis, type StateRedis } from '../../state/redis-options.js';
import { Serde } from '../../io/serde.js';
import { KafkaSink } from '../../io/kafka.js';
import { ensureTopics } from '../../io/topics.js';
import type { HeatingAllocation } from '../../schemas/types.js';
import { testSerde } from '../support/driver.js';
import { uniqueName } from '../support/kafka.js';
import { TestRedis } from '../../bench/support/redis-server.js';
import { scenario } from '../support/scenario.js';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const APP = 'ranker-reads';
const PARTITIONS = 3;
const HOUR = 3_600_000;

let server: TestRedis;
let redis: StateRedis;
let driver: ThermostatTestDriver;
let allocations: HeatingAllocation[];

before(async () => {
  server = await TestRedis.start();
  redis = await connectStateRedis(server.url);
  driver = await ThermostatTestDriver.create({
    serde: testSerde(),
    appId: APP,
    partitions: PARTITIONS,
    tickMs: 60_000,
    checkpoints: new RedisCheckpointStore({ redis, appId: APP }),
  });
  const input = scenario(11);
  await driver.pipeInput('content-published', input.contents);
  await driver.pipeInput('user-interactions', input.interactions);
  await driver.checkpoint();
  allocations = driver.readOutput<HeatingAllocation>('heating-allocations');
});
after(async () => {
  redis.disconnect();
  await server.dispose();
});

test('readUserMind and readContentState return the checkpointed state; unknown keys are undefined', async () => {
  const users = driver.allUserStates();
  assert.equal(users.length, 200);
  for (const u of users) assert.deepEqual(await readUserMind(redis, APP, u.user_id, PARTITIONS), u);
  for (const c of driver.allContentStates())
    assert.deepEqual(await readContentState(redis, APP, c.content_id, PARTITIONS), c);
  assert.equal(await readUserMind(redis, APP, 'nobody', PARTITIONS), undefined);
  assert.equal(await readContentState(redis, APP, 'nothing', PARTITIONS), undefined);
});

test('readActiveAllocations returns the allocator’s active allocations with their remaining impressions', async () => {
  const state = driver.allocatorState();
  assert.ok(state && state.active.length > 0, 'the scenario leaves allocations active');
  const read = await readActiveAllocations(redis, APP);
  assert.deepEqual(
    [...read.entries()].sort(([a], [b]) => a.localeCompare(b)),
    state.active
      .map((a) => [
        a.allocation_id,
        {
          content_id: a.content_id,
          remaining: Math.max(0, a.granted - a.delivered),
          valid_until: a.valid_until,
        },
      ])
      .sort(([a], [b]) => String(a).localeCompare(String(b))),
  );
  for (const id of read.keys())
    assert.ok(
      allocations.some((a) => a.allocation_id === id),
      `${id} was emitted on heating-allocations`,
    );
});

test('followAllocations folds the topic into the allocations valid now, from the lookback on, skipping bad records', async () => {
  assert.ok(allocations.length >= 4, `${allocations.length} allocations`);
  const topic = uniqueName('allocations');
  await ensureTopics([{ name: topic, partitions: PARTITIONS }], { brokers: BROKERS });
  const serde = Serde.local();
  await serde.prepareWriter(topic, 'HeatingAllocation');
  const sink = new KafkaSink({ brokers: BROKERS, clientId: 'ranker-reads-test' });
  await sink.connect();
  const wall = Date.now();
  // Written two hours ago (record timestamp): outside a one-hour lookback, never read.
  const stale = { ...allocations[0], allocation_id: 'stale-one' };
  await sink.send(topic, stale.content_id, serde.encode('HeatingAllocation', stale), {
    timestamp: wall - 2 * HOUR,
  });
  const recent = [...allocations, allocations[1]]; // one duplicate, as after a job restart
  await Promise.all(
    recent.map((a) =>
      sink.send(topic, a.content_id, serde.encode('HeatingAllocation', a), { timestamp: wall }),
    ),
  );
  await sink.send(topic, 'c0', Buffer.from('not avro'), { timestamp: wall });
  await sink.disconnect();

  // The job's event time: the middle of the run's allocations.
  const now = allocations[Math.floor(allocations.length / 2)].valid_from;
  const errors: Error[] = [];
  const follower = await followAllocations({
    brokers: BROKERS,
    topic,
    lookbackMs: HOUR,
    now: () => now,
    onError: (e) => errors.push(e),
  });
  try {
    await follower.caughtUp;
    const expected = [...new Map(allocations.map((a) => [a.allocation_id, a])).values()]
      .filter((a) => a.valid_from <= now && now < a.valid_until)
      .map((a) => a.allocation_id)
      .sort();
    assert.ok(expected.length > 0 && expected.length < allocations.length);
    assert.deepEqual(
      follower.view
        .active(now)
        .map((a) => a.allocation_id)
        .sort(),
      expected,
    );
    assert.equal(follower.view.get('stale-one'), undefined);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /magic byte|wire-format/);
  } finally {
    await follower.stop();
  }
});
