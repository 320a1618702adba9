// Behaviour cloning (learn/imitation.ts): the warm start of the learned allocation policy.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ALLOCATION_FEATURE_COUNT } from '../../../agents/scorer.js';
import { RuleScorer } from '../../../agents/rule-scorer.js';
import { allocationNet, initAllocationWeights, scoreBatch } from '../../../learn/allocation-model.js';
import { selectBackend } from '../../../learn/backend.js';
import { imitate } from '../../../learn/imitation.js';
import { ModelHandle } from '../../../learn/network.js';
import { randomRows } from './helpers.js';

before(async () => {
  await selectBackend({ requested: 'cpu' });
});

const ROWS = 512;
const W = ALLOCATION_FEATURE_COUNT;

function meanAbs(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

test('imitation fits the actor to the rule scorer, leaves the critic alone, disposes its tensors, and is deterministic', () => {
  const obs = randomRows(3, ROWS, W);
  const targets = new RuleScorer().score(obs, ROWS);
  const base = initAllocationWeights(11);
  const before = new ModelHandle(allocationNet, base);
  const errBefore = meanAbs(scoreBatch(allocationNet, before.current.params, obs, ROWS), targets);
  const tensors = tf.memory().numTensors;
  const r = imitate(allocationNet, base, obs, targets, ROWS, 1, { epochs: 60, seed: 5 });
  assert.equal(tf.memory().numTensors, tensors, 'no tensor leaked');
  assert.equal(r.weights.seq, 1);
  assert.ok(r.lossAfter < r.lossBefore, `loss ${r.lossBefore} → ${r.lossAfter}`);
  const after = new ModelHandle(allocationNet, r.weights);
  // Held-out rows: the fitted network generalises the rule, not just the training rows.
  const test = randomRows(4, ROWS, W);
  const errAfter = meanAbs(
    scoreBatch(allocationNet, after.current.params, test, ROWS),
    new RuleScorer().score(test, ROWS),
  );
  assert.ok(errAfter < 0.06 && errAfter < errBefore / 4, `mean |p − rule| ${errBefore} → ${errAfter}`);
  for (const a of r.weights.arrays.filter((x) => x.name.startsWith('critic/'))) {
    const b = base.arrays.find((x) => x.name === a.name)!;
    assert.deepEqual(Array.from(a.values), Array.from(b.values), `${a.name} untouched`);
  }
  const again = imitate(allocationNet, base, obs, targets, ROWS, 1, { epochs: 60, seed: 5 });
  assert.deepEqual(
    again.weights.arrays.map((a) => Array.from(a.values)),
    r.weights.arrays.map((a) => Array.from(a.values)),
  );
  before.dispose();
  after.dispose();
});
