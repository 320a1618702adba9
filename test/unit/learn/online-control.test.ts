// Control records on the allocator's input log (pipelines/allocator-control.ts) through the real
// graph: a MODEL record switches the scorer at its position in the log whatever the batching, a
// replay after a restart uses the version live at each tick (restored from the model store), and
// reward weights from a control record apply from the next tick; bad records change nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { parseAgentConfig } from '../../../agents/config.js';
import { RuleScorer } from '../../../agents/rule-scorer.js';
import { createMetrics } from '../../../core/metrics.js';
import {
  LearnedAllocationScorer,
  allocationNet,
  initAllocationWeights,
} from '../../../learn/allocation-model.js';
import { InMemoryModelStore, saveWeights } from '../../../learn/model-store.js';
import { ModelHandle, makeWeights, serializeWeights, type WeightSet } from '../../../learn/network.js';
import { OnlineAllocatorModels } from '../../../learn/online/allocator-models.js';
import type {
  AllocatorControl,
  AllocatorInput,
  BusinessObjectives,
  HeatingAllocation,
} from '../../../schemas/types.js';
import { wireSerde } from '../../../pipelines/wire-serde.js';
import { replayAllocatorLog } from '../../support/allocator-replay.js';
import { ClosedLoop, TICK_MS } from '../../support/closed-loop.js';

const agents = parseAgentConfig({});

function models(o: { store?: InMemoryModelStore; ruleHoldout?: number } = {}) {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const handle = new ModelHandle(allocationNet, initAllocationWeights(1));
  const port = new OnlineAllocatorModels({
    learned: new LearnedAllocationScorer(handle),
    handle,
    threshold: agents.system.scoreThreshold,
    seed: 42,
    ruleHoldout: o.ruleHoldout ?? 0,
    store: o.store,
    metrics,
  });
  return { port, metrics };
}

const version = (seq: number, seed = 3): WeightSet =>
  makeWeights(initAllocationWeights(seed), seq, initAllocationWeights(seed).arrays);

function modelControl(w: WeightSet | null, seq = w?.seq ?? 0): AllocatorControl {
  return {
    kind: 'MODEL',
    seq,
    policy: w ? 'LEARNED' : 'RULE',
    model_version: w ? `allocation@${w.seq}` : new RuleScorer().modelVersion,
    model_blob: w ? Buffer.from(serializeWeights(w)) : null,
    reward_weights: null,
    reason: 'test',
    issued_at: 0,
  };
}

const plain = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const summary = (as: HeatingAllocation[]) =>
  as.map((a) => `${a.allocation_id} ${a.policy} ${a.model_version} ${a.impressions} ${a.score.toFixed(6)}`);

test('a MODEL control record switches the allocator at its position in the log, whatever the batching', async () => {
  const { port } = models();
  const loop = await ClosedLoop.create({ models: port });
  const before = await loop.run(6);
  await loop.driver.controlSink().send(modelControl(version(1)));
  const after = await loop.run(6);
  assert.ok(before.length > 0 && after.length > 0, 'the loop allocates');
  assert.deepEqual(new Set(before.map((x) => x.policy)), new Set(['RULE']));
  assert.deepEqual(
    new Set(after.map((x) => `${x.policy} ${x.model_version}`)),
    new Set(['LEARNED allocation@1']),
  );
  assert.deepEqual(port.live, { seq: 1, policy: 'LEARNED', version: 'allocation@1', since: null });
  // The same log replayed one record at a time and all at once: the same allocations.
  const d = loop.driver;
  const serde = wireSerde(d.names);
  const read = (topic: string) =>
    d.broker.read(topic, 0, 0, d.broker.end(topic, 0)).map((r) => r.decoded ?? serde.decode(topic, r.value));
  for (const batchSize of [1, 7, 100_000]) {
    const replay = await replayAllocatorLog({
      names: d.names,
      contentPartitions: 2,
      agents,
      tickMs: TICK_MS,
      objectives: read(d.names.objectives) as BusinessObjectives[],
      inputs: read(d.names.allocatorInput) as AllocatorInput[],
      models: models().port,
      batchSize,
    });
    assert.deepEqual(
      summary(replay).sort(),
      summary([...before, ...after]).sort(),
      `batches of ${batchSize}`,
    );
  }
});

test('a stale seq is ignored, RULE switches back, a blob that does not load is refused and counted', async () => {
  const { port, metrics } = models();
  const loop = await ClosedLoop.create({ models: port });
  const sink = loop.driver.controlSink();
  await sink.send(modelControl(version(2)));
  await loop.run(3);
  await sink.send(modelControl(version(1, 9))); // older seq: a zombie's record
  const stale = await loop.run(3);
  assert.ok(stale.length > 0 && stale.every((x) => x.model_version === 'allocation@2'));
  const bad = { ...modelControl(version(3)), model_blob: Buffer.from('not a model') };
  await sink.send(bad);
  const afterBad = await loop.run(3);
  assert.ok(afterBad.every((x) => x.model_version === 'allocation@2'));
  assert.equal(
    (await metrics.modelLoadFailures.get()).values.find((v) => v.labels.reason === 'blob_invalid')?.value,
    1,
  );
  await sink.send(modelControl(null, 4));
  const rule = await loop.run(3);
  const ruleVersion = new RuleScorer().modelVersion;
  assert.ok(rule.length > 0 && rule.every((x) => x.policy === 'RULE' && x.model_version === ruleVersion));
  assert.equal(port.live?.seq, 4);
});

test('rule hold-out ticks: a keyed share of ticks is decided by the rule while a learned version is live', async () => {
  const { port } = models({ ruleHoldout: 0.3 });
  const loop = await ClosedLoop.create({ models: port });
  await loop.driver.controlSink().send(modelControl(version(1)));
  const as = await loop.run(30);
  const byTick = new Map(as.map((a) => [a.valid_from, a.policy]));
  for (const [tick, policy] of byTick) assert.equal(policy, port.isHoldout(tick) ? 'RULE' : 'LEARNED');
  assert.ok([...byTick.values()].includes('RULE') && [...byTick.values()].includes('LEARNED'));
});

test('after a restart the replay uses the version live at each tick (restored from the model store)', async () => {
  const store = new InMemoryModelStore();
  const v1 = version(1);
  const v2 = version(2, 5);
  await saveWeights(store, v1, 0);
  await saveWeights(store, v2, 0);
  const { port } = models({ store });
  const loop = await ClosedLoop.create({ models: port });
  const sink = loop.driver.controlSink();
  await loop.run(3);
  await sink.send(modelControl(v1));
  await loop.run(3);
  await loop.driver.checkpoint(); // live: allocation@1
  await sink.send(modelControl(v2));
  const lost = await loop.run(4); // emitted, not checkpointed
  assert.ok(lost.some((a) => a.model_version === 'allocation@2'));
  await loop.driver.restart(); // tasks from the checkpoint: allocation@1 restored, the log replayed
  const replayed = loop.driver.readOutput<HeatingAllocation>(loop.driver.names.allocations);
  assert.deepEqual(summary(replayed).sort(), summary(lost).sort());
  assert.equal(port.live?.version, 'allocation@2');
});

test('a restored version the store no longer holds: the rule decides, counted and logged', async () => {
  const store = new InMemoryModelStore();
  const { port, metrics } = models({ store });
  await port.restore({ seq: 7, policy: 'LEARNED', version: 'allocation@7', since: 0 });
  assert.equal(port.live, null);
  assert.equal(port.scorer(0).policy, 'RULE');
  const failures = (await metrics.modelLoadFailures.get()).values;
  assert.equal(failures.find((v) => v.labels.reason === 'restore_missing')?.value, 1);
});

test('REWARD_WEIGHTS control records apply from the next tick; invalid weights change nothing', async () => {
  const { port } = models();
  const loop = await ClosedLoop.create({ models: port });
  const sink = loop.driver.controlSink();
  const weights = (w: AllocatorControl['reward_weights']): AllocatorControl => ({
    kind: 'REWARD_WEIGHTS',
    seq: 0,
    policy: 'RULE',
    model_version: '',
    model_blob: null,
    reward_weights: w,
    reason: 'test',
    issued_at: 0,
  });
  const first = await loop.run(3);
  assert.deepEqual(plain(first.at(-1)?.reward_weights), {
    user_satisfaction: 0.4,
    platform_revenue: 0.3,
    long_term: 0.3,
  });
  await sink.send(weights({ user_satisfaction: 0.2, platform_revenue: 0.2, long_term: 0.6 }));
  const next = await loop.run(3);
  assert.ok(next.length > 0);
  for (const a of next)
    assert.deepEqual(plain(a.reward_weights), {
      user_satisfaction: 0.2,
      platform_revenue: 0.2,
      long_term: 0.6,
    });
  await sink.send(weights({ user_satisfaction: 2, platform_revenue: -1, long_term: 0 }));
  await sink.send(weights(null));
  for (const a of await loop.run(3))
    assert.deepEqual(plain(a.reward_weights), {
      user_satisfaction: 0.2,
      platform_revenue: 0.2,
      long_term: 0.6,
    });
});
