// Gaussian PPO (learn/explore-ppo.ts): the user explore learner's actor is a Gaussian over a logit.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../../core/rng.js';
import { selectBackend } from '../../../learn/backend.js';
import {
  GaussianPpoLearner,
  gaussianEntropy,
  gaussianLogProb,
  sampleGaussian,
  type GaussianExperience,
} from '../../../learn/explore-ppo.js';
import { initWeights, type BernoulliNet, type Params } from '../../../learn/network.js';
import { randomRows } from './helpers.js';

before(async () => {
  await selectBackend({ requested: 'cpu' });
});

// A linear actor z = x·w + b and a linear critic over 2 inputs: small enough to train in a second.
const W = 2;
const linearNet: BernoulliNet = {
  arch: 'toy-linear-2',
  obsWidth: W,
  params: [
    { name: 'w', shape: [W, 1], init: 'zeros' },
    { name: 'b', shape: [1], init: 'zeros' },
    { name: 'vw', shape: [W, 1], init: 'zeros' },
    { name: 'vb', shape: [1], init: 'zeros' },
  ],
  logits: (p: Params, obs: tf.Tensor2D) =>
    tf.reshape(tf.add(tf.matMul(obs, p['w'] as tf.Tensor2D), p['b']), [-1]) as tf.Tensor1D,
  value: (p: Params, obs: tf.Tensor2D) =>
    tf.reshape(tf.add(tf.matMul(obs, p['vw'] as tf.Tensor2D), p['vb']), [-1]) as tf.Tensor1D,
};

// Known answer: the best action for a row is u* = 2·x0 − 1 (reward −(u − u*)²). Starting from
// z ≡ 0, PPO must move the mean toward u* row by row: up where x0 is high, down where it is low.
const target = (x0: number): number => 2 * x0 - 1;

function rollout(ppo: GaussianPpoLearner, rng: Rng, n: number): GaussianExperience[] {
  const obs = randomRows(rng.int(1e9), n, W);
  const z = ppo.means(obs, n);
  const logStd = ppo.logStd;
  return Array.from({ length: n }, (_, i) => {
    const s = sampleGaussian(z[i], logStd, rng.next(), rng.next());
    const x0 = obs[i * W];
    return {
      obs: obs.slice(i * W, (i + 1) * W),
      action: s.action,
      logProb: s.logProb,
      reward: -((s.action - target(x0)) ** 2),
    };
  });
}

function meanError(ppo: GaussianPpoLearner): number {
  const obs = randomRows(99, 200, W);
  const z = ppo.means(obs, 200);
  let e = 0;
  for (let i = 0; i < 200; i++) e += Math.abs(z[i] - target(obs[i * W]));
  return e / 200;
}

test('Gaussian log-density, entropy and keyed sampling match the closed forms', () => {
  assert.ok(Math.abs(gaussianLogProb(0, 0, 0) + 0.5 * Math.log(2 * Math.PI)) < 1e-12);
  assert.ok(
    Math.abs(gaussianLogProb(1.5, 0.5, Math.log(2)) - (-0.125 - Math.log(2) - 0.5 * Math.log(2 * Math.PI))) <
      1e-12,
  );
  assert.ok(Math.abs(gaussianEntropy(0) - 0.5 * Math.log(2 * Math.PI * Math.E)) < 1e-12);
  const a = sampleGaussian(0.3, Math.log(0.5), 0.25, 0.1);
  assert.deepEqual(sampleGaussian(0.3, Math.log(0.5), 0.25, 0.1), a, 'same draws, same action');
  assert.ok(Math.abs(a.logProb - gaussianLogProb(a.action, 0.3, Math.log(0.5))) < 1e-12);
});

test('Gaussian PPO moves the mean toward the higher-advantage action (toy problem, known answer)', () => {
  const ppo = new GaussianPpoLearner(
    linearNet,
    initWeights(linearNet, 'toy', 1),
    { learningRate: 0.03, epochs: 4, minibatchSize: 64, entropyCoef: 0, initLogStd: Math.log(0.5) },
    7,
  );
  try {
    const rng = new Rng(3);
    const before = meanError(ppo);
    for (let k = 0; k < 40; k++) ppo.update(rollout(ppo, rng, 256));
    const after = meanError(ppo);
    assert.ok(before > 0.45, `start error ${before}`);
    assert.ok(after < 0.5 * before, `mean |z − u*| ${before.toFixed(3)} → ${after.toFixed(3)}`);
    // Direction per context: high x0 → mean above 0, low x0 → below.
    const z = ppo.means(Float32Array.from([0.95, 0.5, 0.05, 0.5]), 2);
    assert.ok(z[0] > 0.3 && z[1] < -0.3, `z(x0=.95)=${z[0]}, z(x0=.05)=${z[1]}`);
  } finally {
    ppo.dispose();
  }
});

test('entropy bonus: with no advantage signal σ grows (and stays within its clamp); no tensor leak', () => {
  const ppo = new GaussianPpoLearner(
    linearNet,
    initWeights(linearNet, 'toy', 1),
    { learningRate: 0.05, entropyCoef: 0.1, initLogStd: Math.log(0.3), maxLogStd: Math.log(0.6) },
    1,
  );
  try {
    const rng = new Rng(5);
    const tensors = tf.memory().numTensors;
    const s0 = Math.exp(ppo.logStd);
    for (let k = 0; k < 20; k++) ppo.update(rollout(ppo, rng, 128).map((e) => ({ ...e, reward: 0 })));
    const s1 = Math.exp(ppo.logStd);
    assert.ok(s1 > s0, `σ ${s0} → ${s1}`);
    assert.ok(s1 <= 0.6 + 1e-6, `σ clamped: ${s1}`);
    // The optimiser of the last update is alive (fresh Adam per update): only its moments are new.
    assert.ok(
      tf.memory().numTensors - tensors <= 2 * 5 + 2,
      `tensors ${tensors} → ${tf.memory().numTensors}`,
    );
  } finally {
    ppo.dispose();
  }
});

test('same seed, same batches → bit-identical weights and σ', () => {
  const run = () => {
    const ppo = new GaussianPpoLearner(
      linearNet,
      initWeights(linearNet, 'toy', 2),
      { learningRate: 0.02 },
      11,
    );
    const rng = new Rng(8);
    for (let k = 0; k < 5; k++) ppo.update(rollout(ppo, rng, 100), `u${k}`);
    const out = { w: ppo.exportWeights(6).arrays.map((a) => Array.from(a.values)), s: ppo.logStd };
    ppo.dispose();
    return out;
  };
  assert.deepEqual(run(), run());
});
