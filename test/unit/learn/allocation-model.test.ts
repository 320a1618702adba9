import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ALLOCATION_FEATURE_COUNT } from '../../../agents/scorer.js';
import { selectBackend } from '../../../learn/backend.js';
import {
  GPU_SCORE_CHUNK_ROWS,
  LearnedAllocationScorer,
  ModelHandle,
  allocationNet,
  initAllocationWeights,
  scoreBatch,
  scoreLoadedAsync,
} from '../../../learn/allocation-model.js';
import { initExploreWeights } from '../../../learn/explore-model.js';
import { deserializeWeights, makeWeights, serializeWeights, versionOf } from '../../../learn/network.js';
import { maxAbsDiff, randomRows } from './helpers.js';

const F = ALLOCATION_FEATURE_COUNT;

before(async () => {
  await selectBackend({ requested: 'auto' }); // wasm here (no GPU package), tensorflow on a GPU box
});

test('scores one batch: one score per row, all in [0,1], version from the handle', () => {
  const handle = new ModelHandle(allocationNet, initAllocationWeights(1));
  const scorer = new LearnedAllocationScorer(handle);
  const rows = 257;
  const s = scorer.score(randomRows(2, rows, F), rows);
  assert.equal(s.length, rows);
  for (const v of s) assert.ok(Number.isFinite(v) && v >= 0 && v <= 1, `score ${v}`);
  assert.ok(new Set(s).size > rows / 2, 'scores depend on the features');
  assert.equal(scorer.policy, 'LEARNED');
  assert.equal(scorer.modelVersion, 'allocation@0');
  assert.equal(scorer.score(new Float32Array(0), 0).length, 0);
  assert.throws(() => scorer.score(new Float32Array(F * 2 - 1), 2), /rows/);
  handle.dispose();
});

test('the seed shape is features → 128 → 64 → 1 with a separate small critic', () => {
  const w = initAllocationWeights(1);
  const shapes = Object.fromEntries(w.arrays.map((a) => [a.name, a.shape.join('x')]));
  assert.deepEqual(shapes, {
    'actor/w1': `${F}x128`,
    'actor/b1': '128',
    'actor/w2': '128x64',
    'actor/b2': '64',
    'actor/w3': '64x1',
    'actor/b3': '1',
    'critic/w1': `${F}x32`,
    'critic/b1': '32',
    'critic/w2': '32x1',
    'critic/b2': '1',
  });
});

test('a batch scores exactly like row-by-row calls (a pure function of each row)', () => {
  const handle = new ModelHandle(allocationNet, initAllocationWeights(3));
  const scorer = new LearnedAllocationScorer(handle);
  const rows = 64;
  const x = randomRows(4, rows, F);
  const batch = scorer.score(x, rows);
  const single = new Float32Array(rows);
  for (let r = 0; r < rows; r++) single[r] = scorer.score(x.subarray(r * F, (r + 1) * F), 1)[0];
  assert.ok(maxAbsDiff(batch, single) <= 1e-6, `batch vs single differ by ${maxAbsDiff(batch, single)}`);
  // and the same call twice gives the same numbers
  assert.deepEqual(scorer.score(x, rows), batch);
  handle.dispose();
});

test('seeded initialisation: same seed same weights, other seed other weights', () => {
  const a = initAllocationWeights(9);
  const b = initAllocationWeights(9);
  const c = initAllocationWeights(10);
  assert.deepEqual(serializeWeights(a), serializeWeights(b));
  assert.notDeepEqual(serializeWeights(a), serializeWeights(c));
});

test('no tensor leaks: numTensors is the same before and after 1000 scoring calls and a swap', () => {
  const handle = new ModelHandle(allocationNet, initAllocationWeights(5));
  const scorer = new LearnedAllocationScorer(handle);
  const x = randomRows(6, 32, F);
  scorer.score(x, 32); // warm-up
  const before = tf.memory().numTensors;
  for (let i = 0; i < 1000; i++) scorer.score(x, 32);
  assert.equal(tf.memory().numTensors, before);
  const next = makeWeights(handle.current.weights, 1, handle.current.weights.arrays);
  assert.equal(handle.swap(next), true);
  assert.equal(tf.memory().numTensors, before, 'swap disposes the previous weights');
  handle.dispose();
  assert.equal(tf.memory().numTensors, before - allocationNet.params.length);
});

test('serialise → deserialise gives the same version and bit-identical scores', () => {
  const w0 = initAllocationWeights(11);
  const w = makeWeights(w0, 7, w0.arrays);
  const blob = serializeWeights(w);
  const back = deserializeWeights(blob, allocationNet);
  assert.equal(versionOf(back), 'allocation@7');
  assert.equal(back.arch, allocationNet.arch);
  const x = randomRows(12, 100, F);
  const h1 = new ModelHandle(allocationNet, w);
  const h2 = new ModelHandle(allocationNet, back);
  assert.deepEqual(
    new LearnedAllocationScorer(h2).score(x, 100),
    new LearnedAllocationScorer(h1).score(x, 100),
  );
  h1.dispose();
  h2.dispose();
});

test('a corrupt or foreign blob is refused', () => {
  const blob = serializeWeights(initAllocationWeights(1));
  const badMagic = Uint8Array.from(blob);
  badMagic[0] ^= 0xff;
  assert.throws(() => deserializeWeights(badMagic, allocationNet), /bad magic/);
  assert.throws(() => deserializeWeights(blob.subarray(0, blob.length - 4), allocationNet), /truncated/);
  assert.throws(
    () => deserializeWeights(serializeWeights(initExploreWeights(1)), allocationNet),
    /do not fit/,
  );
  const nan = Uint8Array.from(blob);
  new DataView(nan.buffer).setFloat32(nan.length - 4, NaN, true);
  assert.throws(() => deserializeWeights(nan, allocationNet), /not finite/);
});

test('swap is atomic between batches and only accepts newer versions', () => {
  const w0 = initAllocationWeights(1);
  const handle = new ModelHandle(allocationNet, w0);
  const scorer = new LearnedAllocationScorer(handle);
  const x = randomRows(2, 10, F);
  const before = scorer.score(x, 10);
  assert.equal(scorer.modelVersion, 'allocation@0');
  const w1 = makeWeights(w0, 1, initAllocationWeights(2).arrays);
  const swapped: string[] = [];
  handle.onSwap((m) => swapped.push(m.version));
  assert.equal(handle.swap(w1), true);
  assert.equal(scorer.modelVersion, 'allocation@0', 'version reported is the one that scored the last batch');
  const after = scorer.score(x, 10);
  assert.equal(scorer.modelVersion, 'allocation@1');
  assert.notDeepEqual(after, before);
  assert.equal(handle.swap(makeWeights(w0, 1, w0.arrays)), false, 'same seq refused');
  assert.equal(handle.swap(w0), false, 'older seq refused');
  assert.deepEqual(swapped, ['allocation@1']);
  assert.deepEqual(scorer.score(x, 10), after);
  handle.dispose();
});

test('cpu and wasm backends agree on the scores', async () => {
  const w = initAllocationWeights(21);
  const x = randomRows(22, 50, F);
  const out: Float32Array[] = [];
  for (const b of ['cpu', 'wasm'] as const) {
    await selectBackend({ requested: b });
    const h = new ModelHandle(allocationNet, w);
    out.push(new LearnedAllocationScorer(h).score(x, 50));
    h.dispose();
  }
  assert.ok(maxAbsDiff(out[0], out[1]) < 1e-5, `cpu vs wasm: ${maxAbsDiff(out[0], out[1])}`);
});

test('async scoring (the webgpu path) gives the sync scores bit for bit, across its device chunks', async () => {
  await selectBackend({ requested: 'wasm' });
  const h = new ModelHandle(allocationNet, initAllocationWeights(31));
  const rows = GPU_SCORE_CHUNK_ROWS + 7; // two calls: a full chunk and a 7-row tail
  const x = randomRows(32, rows, F);
  const before = tf.memory().numTensors;
  const got = await scoreLoadedAsync(allocationNet, h.current, x, rows);
  assert.equal(got.length, rows);
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  const head = scoreBatch(allocationNet, h.current.params, x.subarray(0, 1000 * F), 1000);
  const tail = scoreBatch(allocationNet, h.current.params, x.subarray((rows - 7) * F), 7);
  assert.deepEqual(Array.from(got.subarray(0, 1000)), Array.from(head));
  assert.deepEqual(Array.from(got.subarray(rows - 7)), Array.from(tail));
  assert.equal((await scoreLoadedAsync(allocationNet, h.current, x, 0)).length, 0);
  h.dispose();
});
