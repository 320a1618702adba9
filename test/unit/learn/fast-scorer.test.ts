import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ALLOCATION_FEATURE_COUNT } from '../../../agents/scorer.js';
import { Rng } from '../../../core/rng.js';
import {
  LearnedAllocationScorer,
  ModelHandle,
  allocationNet,
  initAllocationWeights,
  scoreBatch,
} from '../../../learn/allocation-model.js';
import { loadCpuBackend, loadWasmBackend } from '../../../learn/backend.js';
import { fastActorScore, isMlp3Actor, jsScore, packMlp3 } from '../../../learn/fast-scorer.js';
import { makeWeights, type WeightSet } from '../../../learn/network.js';
import { exploreNet, initExploreWeights } from '../../../learn/explore-model.js';
import { maxAbsDiff, randomRows } from './helpers.js';

const F = ALLOCATION_FEATURE_COUNT;

/** Seeded weights with non-zero biases (the initial ones are zero), so every term is exercised. */
function weights(seed: number): WeightSet {
  const w = initAllocationWeights(seed);
  const rng = new Rng(seed + 100);
  const arrays = w.arrays.map((a) => ({
    ...a,
    values: a.name.includes('/b') ? Float32Array.from(a.values, () => rng.next() - 0.5) : a.values,
  }));
  return makeWeights(w, 1, arrays);
}

/** Rows of [0,1) features with some negative and large values mixed in. */
function features(seed: number, rows: number): Float32Array {
  const x = randomRows(seed, rows, F);
  for (let i = 0; i < x.length; i += 7) x[i] = (x[i] - 0.5) * 20;
  return x;
}

after(async () => {
  await loadWasmBackend(); // the default of the other learn tests
});

for (const backend of ['cpu', 'wasm'] as const) {
  test(`${backend}: pure-JS scores equal the tfjs graph within 1e-5; the scorer uses them on cpu only`, async () => {
    await (backend === 'cpu' ? loadCpuBackend() : loadWasmBackend());
    const w = weights(3);
    const tensorsBefore = tf.memory().numTensors;
    const handle = new ModelHandle(allocationNet, w);
    const rows = 5003;
    const x = features(5, rows);
    const ref = scoreBatch(allocationNet, handle.current.params, x, rows);
    const js = jsScore(packMlp3(w), x, rows);
    assert.equal(js.length, rows);
    assert.ok(maxAbsDiff(js, ref) <= 1e-5, `js ${maxAbsDiff(js, ref)}`);
    // Not a constant: the scores spread over (0,1).
    assert.ok(Math.min(...ref) < 0.3 && Math.max(...ref) > 0.7, `${Math.min(...ref)} ${Math.max(...ref)}`);
    const dispatched = fastActorScore(handle.current, x, rows, F);
    assert.deepStrictEqual(dispatched, backend === 'cpu' ? js : undefined);
    // The scorer the job uses takes that path and keeps its version bookkeeping.
    const scorer = new LearnedAllocationScorer(handle);
    assert.deepStrictEqual(scorer.score(x, rows), backend === 'cpu' ? js : ref);
    assert.equal(scorer.modelVersion, 'allocation@1');
    assert.equal(scorer.score(new Float32Array(0), 0).length, 0);
    assert.equal(
      tf.memory().numTensors,
      tensorsBefore + 10,
      'no tensor left behind (the 10 parameters only)',
    );
    handle.dispose();
  });
}

test('only the 3-layer actor takes the fast path', async () => {
  await loadCpuBackend();
  const a = new ModelHandle(allocationNet, initAllocationWeights(1));
  const e = new ModelHandle(exploreNet, initExploreWeights(1));
  assert.equal(isMlp3Actor(a.current.params), true);
  assert.equal(isMlp3Actor(e.current.params), false);
  assert.equal(fastActorScore(e.current, new Float32Array(0), 0, 1), undefined);
  assert.throws(() => fastActorScore(a.current, new Float32Array(F * 2 - 1), 2, F), /rows/);
  a.dispose();
  e.dispose();
});
