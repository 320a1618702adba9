// `thermostat simulate --transport kafka` runs the same experiment as the in-memory graph.
// The real job (startJob) on the local Kafka with a private Redis must give exactly the same
// allocations (ids, contents, impressions, validity, in order) and the same metrics, and leave no
// Redis keys behind; an unreachable broker fails fast with a clear message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultWorldConfig, type WorldConfig } from '../../sim/config.js';
import { makeArm, simulate } from '../../sim/engine.js';
import { probeBroker } from '../../sim/kafka-transport.js';
import type { RunResult } from '../../sim/metrics.js';
import { createPolicy } from '../../sim/policies.js';
import { policyContext } from '../../sim/run.js';
import { ContentStats } from '../../sim/ranker.js';
import type { TransportOptions } from '../../sim/transport.js';
import { World } from '../../sim/world.js';
import type { UserMindState } from '../../schemas/types.js';
import { createDriver, interaction } from '../support/driver.js';
import { TestRedis } from '../../bench/support/redis-server.js';
import { ensureStack } from '../support/stack.js';

/** One run of policy `thermostat`, recording every allocation the ranker received, in order. */
async function run(
  cfg: WorldConfig,
  transport: TransportOptions,
): Promise<{ result: RunResult; allocations: string[] }> {
  const policy = await createPolicy('thermostat', policyContext(cfg, { transport }));
  const allocations: string[] = [];
  const read = policy.newAllocations.bind(policy);
  policy.newAllocations = async () => {
    const got = await read();
    for (const a of got)
      allocations.push(
        `${a.allocation_id} ${a.content_id} ${a.impressions} ${a.valid_from}-${a.valid_until}`,
      );
    return got;
  };
  try {
    const world = new World(cfg);
    const [result] = await simulate(
      world,
      [makeArm(world, new ContentStats(), policy, 'thermostat')],
      () => 0,
    );
    return { result, allocations };
  } finally {
    await policy.close?.();
  }
}

test(
  'policy thermostat on Kafka gives the in-memory run exactly: same allocations, same metrics',
  { timeout: 120_000 },
  async () => {
    const { brokers } = ensureStack();
    const redis = await TestRedis.start();
    try {
      // 500 users × 1 day is the smallest world of this seed where the pool heats something.
      const cfg = defaultWorldConfig({ users: 500, days: 1, seed: 3 });
      const mem = await run(cfg, { kind: 'inprocess' });
      const kafka = await run(cfg, { kind: 'kafka', brokers, redisUrl: redis.url });
      assert.ok(mem.allocations.length > 0, 'the run heats something');
      assert.ok(mem.result.metrics.heated_impressions > 0);
      assert.deepEqual(kafka.allocations, mem.allocations, 'same allocations, in the same order');
      assert.deepEqual(kafka.result.metrics, mem.result.metrics, 'same metrics');
      assert.deepEqual(kafka.result.series, mem.result.series, 'same daily series');
      const client = redis.client();
      try {
        assert.equal(await client.dbsize(), 0, 'the run removed its checkpoint keys');
      } finally {
        client.disconnect();
      }
    } finally {
      await redis.dispose();
    }
  },
);

test('an unreachable broker fails fast with a clear message', { timeout: 30_000 }, async () => {
  await assert.rejects(
    probeBroker('127.0.0.1:1', { timeoutMs: 1000 }),
    /cannot reach Kafka at 127\.0\.0\.1:1/,
  );
});

// The regression that the equality above surfaced (no broker needed): with several partitions and
// equal timestamps, readOutput re-read old records of partition 1 and skipped new ones of partition 0.
test('ThermostatTestDriver.readOutput returns each record once, whatever partition it is on', async () => {
  const d = await createDriver({ partitions: 2 });
  const users = Array.from({ length: 12 }, (_, i) => `u${i}`);
  const round = async (t: number): Promise<UserMindState[]> => {
    await d.pipeInput(
      'user-interactions',
      users.map((u) => interaction({ user_id: u, content_id: 'c1', event_time: t })),
    );
    return d.readOutput<UserMindState>('user-mind-state');
  };
  const first = await round(1000);
  const second = await round(2000);
  assert.deepEqual(first.map((s) => s.user_id).sort(), [...users].sort());
  assert.deepEqual(second.map((s) => s.user_id).sort(), [...users].sort(), 'each user once, none missing');
  const before = new Map(first.map((s) => [s.user_id, s.version]));
  for (const s of second) assert.ok(s.version > before.get(s.user_id)!, `${s.user_id}: a new version`);
});
