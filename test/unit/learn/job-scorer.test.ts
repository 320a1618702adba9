// The Kafka job's scorer selection (learn.scorer / THERMOSTAT_SCORER): rule by default, the learned
// network from the model store by version, and the rule with a warning + metric when no weights.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Registry } from 'prom-client';
import { ALLOCATION_FEATURE_COUNT } from '../../../agents/scorer.js';
import { ConfigError } from '../../../core/errors.js';
import { createMetrics } from '../../../core/metrics.js';
import {
  ALLOCATION_MODEL_NAME,
  allocationNet,
  initAllocationWeights,
  scoreBatch,
} from '../../../learn/allocation-model.js';
import { selectBackend } from '../../../learn/backend.js';
import { learnConfig } from '../../support/config.js';
import { SCORER_FALLBACK_METRIC, createJobScorer } from '../../../learn/job-scorer.js';
import { InMemoryModelStore, saveWeights } from '../../../learn/model-store.js';
import { ModelHandle } from '../../../learn/network.js';
import { ThermostatTestDriver } from '../../../pipelines/test-driver.js';
import type { HeatingAllocation } from '../../../schemas/types.js';
import { testSerde } from '../../support/driver.js';
import { scenario } from '../../support/scenario.js';
import { maxAbsDiff, randomRows } from './helpers.js';

before(async () => {
  await selectBackend({ requested: 'cpu' });
});

function capture() {
  const warnings: Record<string, unknown>[] = [];
  const logger = {
    warn: (o: Record<string, unknown>) => warnings.push(o),
    info: () => {},
    debug: () => {},
  } as never;
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const fallbacks = async (reason: string) =>
    (await metrics.register.getSingleMetric(SCORER_FALLBACK_METRIC)?.get())?.values.find(
      (v) => v.labels.reason === reason,
    )?.value ?? 0;
  return { warnings, logger, metrics, fallbacks };
}

const learned = (extra: Record<string, unknown> = {}) =>
  learnConfig({}, { backend: 'cpu', scorer: 'learned', ...extra });

async function storeWith(...seqs: number[]) {
  const store = new InMemoryModelStore();
  for (const seq of seqs) await saveWeights(store, { ...initAllocationWeights(seq), seq }, seq);
  return store;
}

test('config: rule by default; THERMOSTAT_SCORER and THERMOSTAT_MODEL_SEQ select the learned version', () => {
  assert.equal(learnConfig({}).scorer, 'rule');
  const c = learnConfig({ THERMOSTAT_SCORER: 'learned', THERMOSTAT_MODEL_SEQ: '4' });
  assert.equal(c.scorer, 'learned');
  assert.equal(c.modelSeq, 4);
  assert.throws(
    () => learnConfig({ THERMOSTAT_SCORER: 'neural' }),
    /learn\.scorer \(env THERMOSTAT_SCORER\)/,
  );
});

test('rule (default): the rule scorer, no store read, no fallback counted', async () => {
  const c = capture();
  const s = await createJobScorer({ config: learnConfig({}), store: await storeWith(3), ...c });
  assert.equal(s.selected, 'rule');
  assert.equal(s.scorer().policy, 'RULE');
  assert.equal(s.fallback, undefined);
  assert.equal(c.warnings.length, 0);
});

test('learned: the latest stored weights score (same numbers as the network), version reported', async () => {
  const c = capture();
  const s = await createJobScorer({ config: learned(), store: await storeWith(2, 3), ...c });
  assert.equal(s.selected, 'learned');
  assert.equal(s.version, 'allocation@3');
  const scorer = s.scorer();
  assert.equal(scorer.policy, 'LEARNED');
  const rows = 50;
  const x = randomRows(1, rows, ALLOCATION_FEATURE_COUNT);
  const h = new ModelHandle(allocationNet, { ...initAllocationWeights(3), seq: 3 });
  // On cpu the scorer runs the pure-JS forward pass (learn/fast-scorer.ts): equal within 1e-5.
  const d = maxAbsDiff(scorer.score(x, rows), scoreBatch(allocationNet, h.current.params, x, rows));
  assert.ok(d <= 1e-5, `max |Δ| ${d}`);
  assert.equal(scorer.modelVersion, 'allocation@3');
  assert.equal((await c.metrics.modelVersion.get()).values[0].value, 3);
  const before = tf.memory().numTensors;
  s.dispose();
  h.dispose();
  assert.ok(tf.memory().numTensors < before, 'dispose frees the model tensors');
});

test('learned on webgpu without a usable GPU: the start fails with a ConfigError naming the key', async () => {
  const c = capture();
  await assert.rejects(
    createJobScorer({ config: learned({ backend: 'webgpu' }), store: await storeWith(3), ...c }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /learn\.backend \(env THERMOSTAT_TF_BACKEND\)/);
      assert.match(e.message, /"webgpu" was requested but its scoring thread cannot start: .*webgpu/);
      return true;
    },
  );
  // this thread kept a synchronous backend for the small batches and the fallback
  assert.ok(['wasm', 'cpu'].includes(tf.getBackend()), tf.getBackend());
});

test('learned with modelSeq: that kept version, not the latest', async () => {
  const c = capture();
  const s = await createJobScorer({ config: learned({ modelSeq: 2 }), store: await storeWith(2, 3), ...c });
  assert.equal(s.version, 'allocation@2');
  s.dispose();
});

test('learned without weights: rule scorer, a warning and thermostat_scorer_fallback_total{reason}', async () => {
  const c = capture();
  const s = await createJobScorer({ config: learned(), store: new InMemoryModelStore(), ...c });
  assert.equal(s.selected, 'rule');
  assert.equal(s.fallback, 'no_weights');
  assert.equal(s.scorer().policy, 'RULE');
  assert.equal(c.warnings.length, 1);
  assert.equal(c.warnings[0].event, 'scorer.fallback');
  assert.equal(await c.fallbacks('no_weights'), 1);

  const missing = await createJobScorer({
    config: learned({ modelSeq: 9 }),
    store: await storeWith(3),
    ...c,
  });
  assert.equal(missing.fallback, 'no_weights', 'a version no longer kept');
  assert.equal(await c.fallbacks('no_weights'), 2);
  assert.equal((await createJobScorer({ config: learned(), ...c })).fallback, 'no_store');
});

test('learned with an unreadable blob: rule scorer, reason load_failed (the job still starts)', async () => {
  const c = capture();
  const store = new InMemoryModelStore();
  await store.save(ALLOCATION_MODEL_NAME, 1, new Uint8Array([1, 2, 3]), 0);
  const s = await createJobScorer({ config: learned(), store, ...c });
  assert.equal(s.fallback, 'load_failed');
  assert.equal(await c.fallbacks('load_failed'), 1);
});

test('the graph allocates with the selected scorer: policy LEARNED and the model version on allocations', async () => {
  const c = capture();
  const s = await createJobScorer({ config: learned(), store: await storeWith(5), ...c });
  const d = await ThermostatTestDriver.create({ serde: testSerde(), partitions: 2, scorer: s.scorer });
  const { contents, interactions } = scenario(3);
  await d.pipeInput('content-published', contents);
  await d.pipeInput('user-interactions', interactions);
  const allocations = d.readOutput<HeatingAllocation>('heating-allocations');
  assert.ok(allocations.length > 0);
  for (const a of allocations) {
    assert.equal(a.policy, 'LEARNED');
    assert.equal(a.model_version, 'allocation@5');
  }
  s.dispose();
});
