// The explore learner's reward join (learn/explore-experience.ts) and the sampled policy
// (learn/explore-sampling.ts): decision → the same user's next interactions → reward.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../../../learn/backend.js';
import {
  ExploreDecisionLog,
  windowScore,
  type ExploreRewardWeights,
} from '../../../learn/explore-experience.js';
import { exploreNet, initExploreWeights, EXPLORE_OBS_WIDTH } from '../../../learn/explore-model.js';
import { gaussianLogProb } from '../../../learn/explore-ppo.js';
import { SampledExplorePolicy } from '../../../learn/explore-sampling.js';
import { ExploreTrainer } from '../../../learn/explore-trainer.js';
import { ModelHandle } from '../../../learn/network.js';
import {
  BEHAVIOUR_SEQUENCE_LENGTH,
  BEHAVIOUR_STEP_FEATURE_COUNT,
  MIND_FEATURE_COUNT,
} from '../../../agents/scorer.js';
import { randomRows } from './helpers.js';

before(async () => {
  await selectBackend({ requested: 'cpu' });
});

const K: ExploreRewardWeights = {
  engagedRate: 6,
  discovery: 0.15,
  newEngaged: 0.05,
  watchMinutes: 0.1,
  repeatRate: 0.4,
  swing: 1,
  swingAlpha: 0.5,
};
const obs = (v: number) => new Float32Array(EXPLORE_OBS_WIDTH).fill(v);
const see = (
  log: ExploreDecisionLog,
  userId: string,
  category: string,
  engaged: boolean,
  isNewContent = false,
  dwellMs = 0,
) => log.observe({ userId, category, engaged, isNewContent, dwellMs });

test('reward join: a decision is rewarded by the same user’s interactions up to that user’s next decision', () => {
  const log = new ExploreDecisionLog(K);
  // Interactions before any decision only build the user's memory (tech engaged before).
  see(log, 'u1', 'tech', true);
  assert.equal(log.decide('u1', obs(1), 0.2, -1), null, 'first decision: nothing to close');
  log.decide('u2', obs(2), -0.5, -2);
  // Served under u1's first decision: tech (known, engaged), tech, tech (3rd in a row: repeat),
  // music (new category, engaged on new content → discovery + newEngaged). u2's events stay u2's.
  see(log, 'u1', 'tech', true);
  see(log, 'u2', 'food', false);
  see(log, 'u1', 'tech', false);
  see(log, 'u1', 'music', true, true, 120_000);
  const c1 = log.decide('u1', obs(3), 0.1, -1.5);
  assert.ok(c1);
  assert.deepEqual(c1.window, {
    imps: 3,
    engaged: 2,
    discoveries: 1,
    newEngaged: 1,
    repeats: 1,
    watchMs: 120_000,
  });
  // 6·2/3 + 0.15·1 + 0.05·1 + 0.1·2 min − 0.4·1/3; the user's first window: no swing term.
  const s1 = 4 + 0.15 + 0.05 + 0.2 - 0.4 / 3;
  assert.ok(Math.abs(c1.score - s1) < 1e-12);
  assert.ok(Math.abs(c1.reward - s1) < 1e-12);
  // Second window of u1: one non-engaged view → score 0, swing |0 − s1| against the running mean.
  see(log, 'u1', 'sports', false);
  const c2 = log.decide('u1', obs(4), 0, -1);
  assert.ok(c2);
  assert.equal(c2.score, 0);
  assert.ok(Math.abs(c2.reward - (0 - K.swing * s1)) < 1e-12);
  // Third: the running mean moved halfway (α = 0.5) toward 0.
  see(log, 'u1', 'sports', true);
  const c3 = log.decide('u1', obs(5), 0, -1);
  assert.ok(c3 && Math.abs(c3.reward - (c3.score - Math.abs(c3.score - s1 / 2))) < 1e-12);
  // u2 had one view; a decision with no view in between is dropped (no observable effect).
  const u2 = log.decide('u2', obs(6), 0, -1);
  assert.ok(u2 && u2.window.imps === 1 && u2.score === 0);
  assert.equal(log.decide('u2', obs(7), 0, -1), null);
  assert.equal(log.dropped, 1);
  // The experiences carry the decision's own obs, action and log-prob, in closing order.
  const xs = log.take(10);
  assert.deepEqual(
    xs.map((x) => [x.obs[0], x.action, x.logProb]),
    [
      [1, 0.2, -1],
      [3, 0.1, -1.5],
      [4, 0, -1],
      [2, -0.5, -2],
    ],
  );
  assert.equal(log.readyCount, 0);
});

test('windowScore: no impression scores 0; weights apply as documented', () => {
  assert.equal(
    windowScore({ imps: 0, engaged: 0, discoveries: 0, newEngaged: 0, repeats: 0, watchMs: 0 }, K),
    0,
  );
  const w = { imps: 10, engaged: 1, discoveries: 2, newEngaged: 1, repeats: 5, watchMs: 30_000 };
  assert.ok(Math.abs(windowScore(w, K) - (0.6 + 0.3 + 0.05 + 0.05 - 0.2)) < 1e-12);
});

const M = MIND_FEATURE_COUNT;
const B = BEHAVIOUR_SEQUENCE_LENGTH * BEHAVIOUR_STEP_FEATURE_COUNT;

function sampledRun(seed: number) {
  const handle = new ModelHandle(exploreNet, initExploreWeights(3));
  const log = new ExploreDecisionLog(K);
  const trainer = new ExploreTrainer(handle, log, { minBatch: 25, maxBatch: 30, ppo: { epochs: 2 }, seed });
  const events: { logProb: number; prob: number }[] = [];
  const policy = new SampledExplorePolicy(
    handle,
    log,
    () => trainer.logStd(),
    seed,
    'per-decision',
    (e) => events.push({ logProb: 0, prob: e.probability }),
  );
  const ids = Array.from({ length: 30 }, (_, i) => `u${String(i).padStart(2, '0')}`);
  const probs: number[] = [];
  for (let round = 0; round < 4; round++) {
    const mind = randomRows(100 + round, ids.length, M);
    const beh = randomRows(200 + round, ids.length, B);
    probs.push(...policy.exploreProbabilitiesFor(ids, mind, beh, ids.length));
    ids.forEach((id, i) => see(log, id, `c${(i + round) % 3}`, (i + round) % 4 === 0, false, 1000 * i));
    trainer.trainNow();
  }
  const out = {
    probs,
    updates: trainer.updates,
    version: handle.version,
    weights: Array.from(handle.current.weights.arrays[0].values),
    logStd: trainer.logStd(),
    events: events.length,
  };
  trainer.dispose();
  handle.dispose();
  return out;
}

test('sampled explore policy: logσ-noise around the network logit, one recorded decision per user row', () => {
  const handle = new ModelHandle(exploreNet, initExploreWeights(3));
  const log = new ExploreDecisionLog(K);
  const logStd = Math.log(0.4);
  const policy = new SampledExplorePolicy(handle, log, () => logStd, 1);
  const mind = randomRows(1, 5, M);
  const beh = randomRows(2, 5, B);
  const mean = policy.exploreProbabilities(mind, beh, 5);
  const p = policy.exploreProbabilitiesFor(['a', 'b', 'c', 'd', 'e'], mind, beh, 5);
  assert.equal(log.openCount, 5);
  assert.ok(
    p.some((x, i) => Math.abs(x - mean[i]) > 1e-4),
    'the emitted probability is a sample, not the mean',
  );
  // Each user's experience carries u with log π(u) under (z, σ): close them and check.
  ['a', 'b', 'c', 'd', 'e'].forEach((id) => see(log, id, 'x', true));
  ['a', 'b', 'c', 'd', 'e'].forEach((id) => log.decide(id, new Float32Array(EXPLORE_OBS_WIDTH), 0, 0));
  const xs = log.take(5);
  xs.forEach((x, i) => {
    const z = Math.log(mean[i] / (1 - mean[i]));
    assert.ok(Math.abs(1 / (1 + Math.exp(-x.action)) - p[i]) < 1e-5);
    assert.ok(Math.abs(x.logProb - gaussianLogProb(x.action, z, logStd)) < 1e-3);
  });
  handle.dispose();
});

test('determinism: same seed → same samples, same PPO updates, same weights; another seed differs', () => {
  const a = sampledRun(4);
  const b = sampledRun(4);
  assert.ok(a.updates >= 2, `updates ${a.updates}`);
  assert.match(a.version, /^explore@\d+$/);
  assert.deepEqual(a, b);
  assert.notDeepEqual(sampledRun(5).probs, a.probs);
});

test("per-user noise: a user's ε is the same at every decision (persistent), different across users", () => {
  const handle = new ModelHandle(exploreNet, initExploreWeights(3));
  const log = new ExploreDecisionLog(K);
  const policy = new SampledExplorePolicy(handle, log, () => Math.log(0.5), 1, 'per-user');
  const mind = randomRows(1, 3, M);
  const beh = randomRows(2, 3, B);
  const ids = ['a', 'b', 'c'];
  const first = policy.exploreProbabilitiesFor(ids, mind, beh, 3);
  const again = policy.exploreProbabilitiesFor(ids, mind, beh, 3);
  assert.deepEqual(Array.from(again), Array.from(first), 'same state, same user → same sample');
  const mean = policy.exploreProbabilities(mind, beh, 3);
  const eps = Array.from(first, (p, i) => Math.log(p / (1 - p)) - Math.log(mean[i] / (1 - mean[i])));
  assert.ok(new Set(eps.map((e) => e.toFixed(4))).size === 3, `ε per user: ${eps}`);
  handle.dispose();
});
