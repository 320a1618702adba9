import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  BEHAVIOUR_SEQUENCE_LENGTH as L,
  BEHAVIOUR_STEP_FEATURE_COUNT as S,
  BEHAVIOUR_STEP_FEATURES,
  MIND_FEATURE_COUNT as M,
} from '../../../agents/scorer.js';
import { selectBackend } from '../../../learn/backend.js';
import { LearnedExplorePolicy, exploreNet, initExploreWeights } from '../../../learn/explore-model.js';
import { ModelHandle } from '../../../learn/network.js';
import { maxAbsDiff, randomRows } from './helpers.js';

const MASK = BEHAVIOUR_STEP_FEATURES.indexOf('mask');

before(async () => {
  await selectBackend({ requested: 'cpu' });
});

/** Behaviour rows where the first `len[r]` steps are real (mask 1), the rest zero padding. */
function behaviour(seed: number, lens: number[]): Float32Array {
  const b = randomRows(seed, lens.length, L * S);
  lens.forEach((len, r) => {
    for (let t = 0; t < L; t++) {
      const o = r * L * S + t * S;
      if (t < len) b[o + MASK] = 1;
      else b.fill(0, o, o + S);
    }
  });
  return b;
}

test('one shared network: a batch of users gives one probability in [0,1] per user', () => {
  const h = new ModelHandle(exploreNet, initExploreWeights(1));
  const p = new LearnedExplorePolicy(h);
  const rows = 100;
  const lens = Array.from({ length: rows }, (_, i) => i % (L + 1));
  const out = p.exploreProbabilities(randomRows(2, rows, M), behaviour(3, lens), rows);
  assert.equal(out.length, rows);
  for (const v of out) assert.ok(Number.isFinite(v) && v >= 0 && v <= 1, `p ${v}`);
  assert.equal(p.modelVersion, 'explore@0');
  h.dispose();
});

test('each user is scored independently of the rest of the micro-batch', () => {
  const h = new ModelHandle(exploreNet, initExploreWeights(4));
  const p = new LearnedExplorePolicy(h);
  const rows = 16;
  const mind = randomRows(5, rows, M);
  const beh = behaviour(
    6,
    Array.from({ length: rows }, (_, i) => i + 3),
  );
  const batch = p.exploreProbabilities(mind, beh, rows);
  for (let r = 0; r < rows; r++) {
    const one = p.exploreProbabilities(
      mind.subarray(r * M, (r + 1) * M),
      beh.subarray(r * L * S, (r + 1) * L * S),
      1,
    )[0];
    assert.ok(Math.abs(one - batch[r]) < 1e-6, `row ${r}: ${one} vs ${batch[r]}`);
  }
  h.dispose();
});

test('padding is ignored, order and content of real steps matter, empty history is fine', () => {
  const h = new ModelHandle(exploreNet, initExploreWeights(7));
  const p = new LearnedExplorePolicy(h);
  const mind = randomRows(8, 1, M);
  const beh = behaviour(9, [6]);
  const base = p.exploreProbabilities(mind, beh, 1)[0];
  // garbage in padded steps (mask 0) changes nothing
  const padded = Float32Array.from(beh);
  for (let t = 6; t < L; t++) for (let k = 0; k < S; k++) if (k !== MASK) padded[t * S + k] = 0.9;
  assert.equal(p.exploreProbabilities(mind, padded, 1)[0], base);
  // swapping two real steps changes the encoding (positions are seen)
  const swapped = Float32Array.from(beh);
  swapped.set(beh.subarray(0, S), 4 * S);
  swapped.set(beh.subarray(4 * S, 5 * S), 0);
  assert.notEqual(p.exploreProbabilities(mind, swapped, 1)[0], base);
  // no history at all
  const empty = p.exploreProbabilities(mind, new Float32Array(L * S), 1)[0];
  assert.ok(Number.isFinite(empty) && empty > 0 && empty < 1);
  h.dispose();
});

test('the encoder stays compact (坑1) and does not leak tensors', () => {
  const params = exploreNet.params.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  assert.ok(params < 2000, `${params} parameters`);
  const h = new ModelHandle(exploreNet, initExploreWeights(1));
  const p = new LearnedExplorePolicy(h);
  const mind = randomRows(1, 64, M);
  const beh = behaviour(2, Array(64).fill(L));
  p.exploreProbabilities(mind, beh, 64);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 50; i++) p.exploreProbabilities(mind, beh, 64);
  assert.equal(tf.memory().numTensors, before);
  h.dispose();
});

test('initial policy starts near a 20% explore rate', () => {
  const h = new ModelHandle(exploreNet, initExploreWeights(1));
  const out = new LearnedExplorePolicy(h).exploreProbabilities(
    randomRows(3, 200, M),
    behaviour(4, Array(200).fill(10)),
    200,
  );
  const mean = out.reduce((a, b) => a + b, 0) / out.length;
  assert.ok(mean > 0.1 && mean < 0.35, `mean ${mean}`);
  assert.ok(maxAbsDiff(out, new Float32Array(200).fill(mean)) > 0, 'depends on the input');
  h.dispose();
});
