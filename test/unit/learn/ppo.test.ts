import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ALLOCATION_FEATURE_COUNT as F } from '../../../agents/scorer.js';
import { Rng } from '../../../core/rng.js';
import { selectBackend } from '../../../learn/backend.js';
import { allocationNet, initAllocationWeights } from '../../../learn/allocation-model.js';
import { exploreNet, initExploreWeights, EXPLORE_OBS_WIDTH } from '../../../learn/explore-model.js';
import { sampleBernoulli } from '../../../learn/network.js';
import { PpoLearner, clipByGlobalNorm, type Experience, type PpoConfig } from '../../../learn/ppo.js';
import { randomRows } from './helpers.js';

// Toy contextual bandit with a known answer: approving a row with x0 > 0.5 earns +1, approving any
// other row −1, denying earns 0. The optimal policy approves exactly the rows with x0 > 0.5.
const reward = (x0: number, action: 0 | 1): number => (action === 0 ? 0 : x0 > 0.5 ? 1 : -1);

const EVAL = randomRows(1234, 400, F);

function evaluate(ppo: PpoLearner) {
  const p = ppo.probabilities(EVAL, 400);
  let hi = 0,
    nHi = 0,
    lo = 0,
    nLo = 0,
    saturated = 0,
    entropy = 0;
  for (let r = 0; r < 400; r++) {
    if (EVAL[r * F] > 0.5) {
      hi += p[r];
      nHi++;
    } else {
      lo += p[r];
      nLo++;
    }
    if (p[r] < 0.02 || p[r] > 0.98) saturated++;
    const q = Math.min(1 - 1e-7, Math.max(1e-7, p[r]));
    entropy += -(q * Math.log(q) + (1 - q) * Math.log(1 - q));
  }
  return { pHi: hi / nHi, pLo: lo / nLo, saturated, entropy: entropy / 400 };
}

/** Collects `iterations` batches of 256 on-policy decisions and runs one PPO update on each. */
function train(cfg: Partial<PpoConfig>, iterations: number, seed = 7) {
  const rng = new Rng(seed);
  const ppo = new PpoLearner(allocationNet, initAllocationWeights(1), cfg, 3);
  const start = evaluate(ppo);
  const curve: ReturnType<typeof evaluate>[] = [];
  let steps = 0;
  for (let it = 0; it < iterations; it++) {
    const n = 256;
    const obs = new Float32Array(n * F);
    for (let i = 0; i < obs.length; i++) obs[i] = rng.next();
    const probs = ppo.probabilities(obs, n);
    const batch: Experience[] = [];
    for (let r = 0; r < n; r++) {
      const { action, logProb } = sampleBernoulli(probs[r], rng.next());
      batch.push({ obs: obs.slice(r * F, (r + 1) * F), action, logProb, reward: reward(obs[r * F], action) });
    }
    steps += ppo.update(batch).steps;
    curve.push(evaluate(ppo));
  }
  const end = curve[curve.length - 1];
  ppo.dispose();
  return { start, end, steps, curve };
}

before(async () => {
  await selectBackend({ requested: 'cpu' }); // pure JS: bit-reproducible on any machine
});

test('PPO moves the policy toward the higher-advantage actions within a few hundred steps', () => {
  const { start, end, steps } = train({}, 20);
  assert.equal(steps, 20 * 4 * 4, '20 updates × 4 epochs × 4 minibatches of 64');
  assert.ok(Math.abs(start.pHi - start.pLo) < 0.05, `starts indifferent: ${start.pHi} vs ${start.pLo}`);
  assert.ok(end.pHi > 0.85, `P(approve | x>0.5) = ${end.pHi}`);
  assert.ok(end.pLo < 0.2, `P(approve | x<=0.5) = ${end.pLo}`);
});

test('the entropy bonus keeps probabilities off 0/1 early (坑10) without stopping learning', () => {
  const withBonus = train({ entropyCoef: 0.2 }, 8);
  const without = train({ entropyCoef: 0 }, 8);
  if (process.env.PPO_DEBUG)
    console.log(JSON.stringify({ withBonus: withBonus.curve, without: without.curve }));
  // both learn the right direction in 128 steps
  for (const r of [withBonus, without])
    assert.ok(r.end.pHi - r.end.pLo > 0.5, `learned ${r.end.pHi} vs ${r.end.pLo}`);
  // the bonus keeps the policy more random at every update after the first two, and fewer rows
  // pinned below 0.02 or above 0.98
  for (let i = 2; i < 8; i++) {
    assert.ok(
      withBonus.curve[i].entropy > without.curve[i].entropy,
      `update ${i + 1}: entropy ${withBonus.curve[i].entropy} vs ${without.curve[i].entropy}`,
    );
    assert.ok(
      withBonus.curve[i].saturated <= without.curve[i].saturated,
      `update ${i + 1}: saturated ${withBonus.curve[i].saturated} vs ${without.curve[i].saturated}`,
    );
  }
  // early (first 5 updates, 80 steps) the bonus keeps every row inside [0.02, 0.98]; without it rows
  // saturate (at 14 feature columns, seed 7: 0/0/0/0/0/2 rows with the bonus, 0/0/0/0/3/20 without)
  assert.deepEqual(
    withBonus.curve.slice(0, 5).map((c) => c.saturated),
    [0, 0, 0, 0, 0],
  );
  assert.ok(
    without.curve[5].saturated > 0 && withBonus.curve[5].saturated * 5 <= without.curve[5].saturated,
    `after 6 updates: ${withBonus.curve[5].saturated} rows saturated with the bonus, ${without.curve[5].saturated} without`,
  );
  assert.ok(
    withBonus.end.entropy > without.end.entropy + 0.02,
    `entropy ${withBonus.end.entropy} vs ${without.end.entropy}`,
  );
  assert.ok(
    withBonus.end.saturated < 0.75 * without.end.saturated,
    `saturated rows ${withBonus.end.saturated} vs ${without.end.saturated}`,
  );
});

test('deterministic mode: same seeds, same weights after training', () => {
  const run = () => {
    const rng = new Rng(5);
    const ppo = new PpoLearner(allocationNet, initAllocationWeights(1), {}, 9);
    const obs = randomRows(6, 128, F);
    const probs = ppo.probabilities(obs, 128);
    const batch: Experience[] = Array.from({ length: 128 }, (_, r) => {
      const { action, logProb } = sampleBernoulli(probs[r], rng.next());
      return { obs: obs.slice(r * F, (r + 1) * F), action, logProb, reward: reward(obs[r * F], action) };
    });
    const stats = ppo.update(batch);
    const w = ppo.exportWeights(1);
    ppo.dispose();
    return { stats, w };
  };
  const a = run();
  const b = run();
  assert.deepEqual(a.stats, b.stats);
  assert.deepEqual(a.w.arrays, b.w.arrays);
  assert.ok(a.stats.approxKl > 0 && a.stats.approxKl < 0.1, `approx KL ${a.stats.approxKl}`);
});

test('an update that leaves the trust region reports its clip fraction and leaks no tensors', () => {
  const ppo = new PpoLearner(
    allocationNet,
    initAllocationWeights(1),
    { clipEpsilon: 0.1, epochs: 8, learningRate: 0.01 },
    1,
  );
  const obs = randomRows(2, 64, F);
  const probs = ppo.probabilities(obs, 64);
  const rng = new Rng(3);
  const batch: Experience[] = Array.from({ length: 64 }, (_, r) => {
    const { action, logProb } = sampleBernoulli(probs[r], rng.next());
    return { obs: obs.slice(r * F, (r + 1) * F), action, logProb, reward: reward(obs[r * F], action) };
  });
  ppo.update(batch); // creates Adam's slots
  const before = tf.memory().numTensors;
  const stats = ppo.update(batch);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(stats.clipFraction > 0, `aggressive updates leave the trust region: ${stats.clipFraction}`);
  assert.ok(Number.isFinite(stats.policyLoss) && Number.isFinite(stats.valueLoss));
  assert.throws(
    () => ppo.update([{ obs: new Float32Array(3), action: 1, logProb: -0.7, reward: 1 }]),
    /obs width/,
  );
  ppo.dispose();
});

test('the explore network trains with the same learner', () => {
  const ppo = new PpoLearner(exploreNet, initExploreWeights(1), { learningRate: 1e-2 }, 2);
  const rng = new Rng(4);
  // explore is rewarded when curiosity (mind column 1) is high, punished otherwise
  const evalObs = randomRows(8, 200, EXPLORE_OBS_WIDTH);
  const gap = () => {
    const p = ppo.probabilities(evalObs, 200);
    let hi = 0,
      lo = 0,
      nh = 0,
      nl = 0;
    for (let r = 0; r < 200; r++)
      if (evalObs[r * EXPLORE_OBS_WIDTH + 1] > 0.5) {
        hi += p[r];
        nh++;
      } else {
        lo += p[r];
        nl++;
      }
    return hi / nh - lo / nl;
  };
  const g0 = gap();
  for (let it = 0; it < 6; it++) {
    const obs = randomRows(100 + it, 128, EXPLORE_OBS_WIDTH);
    const probs = ppo.probabilities(obs, 128);
    const batch: Experience[] = Array.from({ length: 128 }, (_, r) => {
      const { action, logProb } = sampleBernoulli(probs[r], rng.next());
      const curious = obs[r * EXPLORE_OBS_WIDTH + 1] > 0.5;
      return {
        obs: obs.slice(r * EXPLORE_OBS_WIDTH, (r + 1) * EXPLORE_OBS_WIDTH),
        action,
        logProb,
        reward: action ? (curious ? 1 : -1) : 0,
      };
    });
    ppo.update(batch);
  }
  const g1 = gap();
  assert.ok(g1 > g0 + 0.2, `explore gap ${g0} → ${g1}`);
  ppo.dispose();
});

test('the surrogate is clipped: a ratio beyond 1+ε with positive advantage gives the actor no gradient', () => {
  const obs = randomRows(31, 32, F);
  const actorOf = (w: ReturnType<PpoLearner['exportWeights']>) =>
    w.arrays.filter((a) => a.name.startsWith('actor/')).map((a) => Array.from(a.values));
  const run = (oldLogProb: (p: number) => number) => {
    const ppo = new PpoLearner(
      allocationNet,
      initAllocationWeights(1),
      { valueCoef: 0, entropyCoef: 0, normalizeAdvantages: false, epochs: 1, minibatchSize: 32 },
      1,
    );
    const before = actorOf(ppo.exportWeights(0));
    const p = ppo.probabilities(obs, 32);
    // every row approved, reward far above any value estimate: all advantages positive
    const batch: Experience[] = Array.from({ length: 32 }, (_, r) => ({
      obs: obs.slice(r * F, (r + 1) * F),
      action: 1,
      logProb: oldLogProb(p[r]),
      reward: 100,
    }));
    ppo.update(batch);
    const after = actorOf(ppo.exportWeights(1));
    ppo.dispose();
    return { before, after };
  };
  const clipped = run((p) => Math.log(p / 10)); // ratio ≈ 10 > 1.2: min(ρA, 1.2A) = 1.2A, constant
  assert.deepEqual(clipped.after, clipped.before);
  const onPolicy = run((p) => Math.log(p)); // ratio 1: inside the trust region, the actor moves
  assert.notDeepEqual(onPolicy.after, onPolicy.before);
});

test('gradients are clipped by their global norm', () => {
  const g = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) }; // norm 5
  const c = clipByGlobalNorm(g, 1);
  const a = c.a.dataSync(),
    b = c.b.dataSync();
  assert.ok(Math.abs(a[0] - 0.6) < 1e-5 && Math.abs(b[1] - 0.8) < 1e-5, `${a} ${b}`);
  const same = clipByGlobalNorm(g, 10);
  assert.ok(Math.abs(same.a.dataSync()[0] - 3) < 1e-4, 'below the max norm nothing changes');
  tf.dispose([g.a, g.b, c.a, c.b, same.a, same.b]);
});
