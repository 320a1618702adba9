// 'thermostat-learned' in the simulator: the same world as 'thermostat-rule' (with the
// rule deciding throughout, the two runs are identical) and the learned explore policy in the user stage (warm-started, then one batched call per micro-batch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultWorldConfig } from '../../../sim/config.js';
import { policyContext, runPolicy } from '../../../sim/run.js';
import { LearnedThermostatPolicy } from '../../../sim/policy/learned-policy.js';
import { topologyNames } from '../../../pipelines/topology.js';
import { wireSerde } from '../../../pipelines/wire-serde.js';
import { World } from '../../../sim/world.js';
import { makeArm, simulate } from '../../../sim/engine.js';
import { ContentStats } from '../../../sim/ranker.js';

const small = defaultWorldConfig({ users: 200, days: 2, seed: 5 });
const strip = (x: unknown) => JSON.parse(JSON.stringify(x)) as Record<string, unknown>;

test('same world: with the rule deciding throughout, thermostat-learned equals thermostat-rule', async () => {
  const rule = await runPolicy('thermostat-rule', small);
  const learned = await runPolicy('thermostat-learned', small, { options: { learned: { warmupMs: 1e15 } } });
  assert.ok(rule.metrics.heated_impressions > 0);
  assert.deepEqual(strip(learned.metrics), strip(rule.metrics));
});

test('explore: learned — behaviour cloning of the rule, then the shared network sets explore_probability', async () => {
  const cfg = small;
  const policy = await LearnedThermostatPolicy.createLearned(
    policyContext(cfg),
    'thermostat-learned',
    wireSerde(topologyNames('thermostat')),
    { explore: 'learned', minBatch: 256, maxBatch: 256, epochs: 2 },
  );
  try {
    const world = new World(cfg);
    const arm = makeArm(world, new ContentStats(), policy, 'thermostat-learned');
    const [res] = await simulate(world, [arm], () => 0);
    const ws = policy.explore?.warmStart;
    assert.ok(ws && ws.rows > 0, 'the warm-up recorded explore rows');
    assert.ok(ws.lossAfter < ws.lossBefore, `imitation loss ${ws.lossBefore} → ${ws.lossAfter}`);
    assert.equal(policy.explore?.policy.policy, 'LEARNED');
    assert.match(policy.explore?.policy.modelVersion ?? '', /^explore@1$/);
    assert.ok(res.metrics.impressions > 0);
  } finally {
    await policy.close();
  }
});
