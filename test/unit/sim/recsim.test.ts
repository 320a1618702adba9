import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../core/rng.js';
import { CATEGORIES, defaultWorldConfig } from '../../../sim/config.js';
import {
  DEFAULT_RECSIM,
  chooseMnl,
  evolveInterests,
  nextBudget,
  topicQualityMeans,
  unsquash,
} from '../../../sim/recsim.js';
import { World } from '../../../sim/world.js';

const R = DEFAULT_RECSIM;

test('multinomial logit choice: one item or none, with probability ∝ exp(interest); no-click has exp(noClickMass)', () => {
  const scores = [1, 0, -1];
  const counts = [0, 0, 0, 0];
  const n = 100_000;
  for (let k = 0; k < n; k++) counts[chooseMnl(scores, R.noClickMass, (k + 0.5) / n) + 1]++;
  const z = Math.exp(1) + Math.exp(1) + 1 + Math.exp(-1);
  const expected = [Math.exp(1) / z, Math.exp(1) / z, 1 / z, Math.exp(-1) / z]; // none, then the slate
  counts.forEach((c, i) =>
    assert.ok(Math.abs(c / n - expected[i]) < 1e-3, `${i}: ${c / n} vs ${expected[i]}`),
  );
});

test('the session budget: a click spends its watch time and good content gives part of it back, poor content drains more; a skip costs the step penalty', () => {
  const watch = 240_000;
  assert.equal(nextBudget(1e6, watch, 0.8, R), 1e6 - watch + 0.9 * 0.8 * watch);
  assert.ok(nextBudget(1e6, watch, -0.8, R) < 1e6 - watch);
  assert.equal(nextBudget(1e6, null, 0, R), 1e6 - R.stepPenaltyMs);
});

test('interests move toward a consumed topic by its quality (away for trash) and stay bounded', () => {
  const C = 4;
  const start = [0.2, -0.3, 0.5, 0];
  const state = (): [Float64Array, Float64Array] => [
    Float64Array.from(start, (x) => unsquash(x, R)),
    Float64Array.from(start),
  ];
  const [linG, good] = state();
  evolveInterests(linG, good, 1, 0.9, R);
  assert.ok(good[1] > start[1] + 0.05, `nutritious: ${good[1]}`);
  const [linT, trash] = state();
  evolveInterests(linT, trash, 1, -0.9, R);
  assert.ok(trash[1] < start[1] - 0.05, `trashy: ${trash[1]}`);
  for (let k = 0; k < 10_000; k++) evolveInterests(linG, good, 1, 1, R);
  for (let c = 0; c < C; c++) assert.ok(Math.abs(good[c]) <= 2 * R.maxAffinity, String(good[c]));
});

test('topic quality: 70% of topics are trashy (means spaced in [−3, 0]), the rest nutritious (in [0, 3])', () => {
  const perm = Array.from({ length: 10 }, (_, i) => 9 - i);
  const q = topicQualityMeans(perm, R);
  assert.deepEqual(
    [...q].sort((a, b) => a - b),
    [-3, -2.5, -2, -1.5, -1, -0.5, 0, 0, 1.5, 3],
  );
  assert.equal(q[9], -3, 'the first topic of the permutation is the trashiest');
  assert.equal(q[0], 3, 'the last the most nutritious');
});

test("world 'recsim': which item is clicked does not depend on its quality; completion, the budget left and the user's interest do", () => {
  const w = new World(defaultWorldConfig({ users: 200, days: 1, seed: 3, world: 'recsim' }));
  const u = w.users[0];
  const cat = u.strong[0];
  const base = w.items.find((it) => it.cat === cat)!;
  const good = { ...base, quality: 0.95 };
  const poor = { ...base, quality: 0.05 };
  const r = new Rng(5);
  const aff = Float64Array.from(u.aff);
  const lin = Float64Array.from(u.lin!);
  let picksGood = 0;
  let picksPoor = 0;
  const budget = { good: 0, poor: 0 };
  const completion = { good: 0, poor: 0 };
  const n = 20_000;
  for (let k = 0; k < n; k++) {
    u.aff.set(aff);
    u.lin!.set(lin);
    const o = w.respondSlate(u, [good, poor], R.sessionBudgetMs, r);
    if (o.chosen === 0) {
      picksGood++;
      budget.good += o.budget - (R.sessionBudgetMs - o.elapsedMs);
      completion.good += o.outcomes[0].completion;
    } else if (o.chosen === 1) {
      picksPoor++;
      budget.poor += o.budget - (R.sessionBudgetMs - o.elapsedMs);
      completion.poor += o.outcomes[1].completion;
    }
  }
  assert.ok(Math.abs(picksGood - picksPoor) < 0.05 * n, `picks ${picksGood} vs ${picksPoor}`);
  assert.ok(completion.good / picksGood > completion.poor / picksPoor + 0.5);
  assert.ok(budget.good > 0 && budget.poor < 0, 'good content gives time back, poor content takes more');
  // A topic the user likes is picked more often than one the user dislikes.
  const worst = CATEGORIES.map((_, c) => c).sort((a, b) => aff[a] - aff[b])[0];
  const disliked = { ...base, cat: worst };
  const picks = [0, 0];
  for (let k = 0; k < 2000; k++) {
    u.aff.set(aff);
    u.lin!.set(lin);
    const c = w.respondSlate(u, [base, disliked], R.sessionBudgetMs, r).chosen;
    if (c >= 0) picks[c]++;
  }
  assert.ok(picks[0] > 2 * picks[1], `liked topic picked ${picks[0]} times, disliked ${picks[1]}`);
});
