import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MarginalCredit, type SettledGrant } from '../../../learn/credit.js';
import { DEFAULT_EXPERIENCE_CONFIG, ExperienceBuffer, computeReward } from '../../../learn/experience.js';

const W = { user_satisfaction: 0.4, platform_revenue: 0.3, long_term: 0.3 };
const reward = { ...DEFAULT_EXPERIENCE_CONFIG, maxCost: 1, costWeight: 0 };

/** A grant of `granted` impressions, `n` delivered, each clicked with completion `c` or not. */
function grant(granted: number, n: number, clicks: number, c: number, coldStart = false): SettledGrant {
  return {
    agg: { impressions: n, clicks, completion: c * n, shares: 0 },
    weights: W,
    cost: 0,
    granted,
    coldStart,
  };
}

test('value = delivered impressions × engagement value, plus the cold-start credit', () => {
  const mc = new MarginalCredit(reward, { coldStartBonus: 10, alpha: 0.2 });
  const g = grant(10, 8, 1, 0.5);
  const perImp = computeReward(g.agg, W, 0, reward);
  assert.ok(perImp > 0);
  assert.equal(mc.value(g), 8 * perImp);
  assert.equal(mc.value({ ...g, coldStart: true }), 8 * perImp + 10);
  assert.equal(mc.value(grant(10, 0, 0, 0)), 0, 'nothing delivered buys nothing');
});

test('a grant earns > 0 only when it beats what the budget buys per impression on average', () => {
  const mc = new MarginalCredit(reward, { coldStartBonus: 0, alpha: 0.2 });
  const good = grant(10, 10, 3, 0.9);
  const poor = grant(10, 10, 0, 0.1);
  const undelivered = grant(10, 0, 0, 0);
  const r = mc.settle([good, poor, undelivered]);
  // First batch: λ is the batch's own average, so the rewards of equal-size grants sum to 0.
  assert.ok(r[0] > 0, `good ${r[0]}`);
  assert.ok(r[1] < 0, `poor ${r[1]}`);
  assert.ok(r[2] < r[1], 'holding slots and delivering nothing is the worst');
  assert.ok(Math.abs(r[0] + r[1] + r[2]) < 1e-9);
  // The bandit reward calls the poor grant positive: approving looked free.
  assert.ok(computeReward(poor.agg, W, 0, reward) > 0);
  const lambda = (mc.value(good) + mc.value(poor)) / 30;
  assert.ok(Math.abs(mc.lambda! - lambda) < 1e-12);
  assert.equal(mc.meanGranted, 10);
});

test('λ and the mean grant are EMAs over settle batches; a batch is priced with the earlier estimate', () => {
  const mc = new MarginalCredit(reward, { coldStartBonus: 0, alpha: 0.5 });
  mc.settle([grant(10, 10, 1, 0.5)]);
  const l1 = mc.lambda!;
  const g = grant(20, 20, 10, 1);
  const [r] = mc.settle([g]);
  assert.ok(Math.abs(r - (mc.value(g) - l1 * 20) / 10) < 1e-12, 'priced with λ and ḡ of the first batch');
  assert.ok(Math.abs(mc.lambda! - (0.5 * l1 + 0.5 * (mc.value(g) / 20))) < 1e-12);
  assert.equal(mc.meanGranted, 15);
});

test('a cold start caused by a grant makes an otherwise average grant worth approving', () => {
  const mc = new MarginalCredit(reward, { coldStartBonus: 10, alpha: 0.2 });
  mc.settle([grant(10, 10, 1, 0.5), grant(10, 10, 1, 0.5)]);
  const [plain, caused] = mc.settle([grant(10, 10, 1, 0.5), grant(10, 10, 1, 0.5, true)]);
  assert.ok(Math.abs(plain) < 1e-9, `plain ${plain}`);
  assert.ok(Math.abs(caused - 1) < 1e-9, `caused ${caused} = bonus / mean grant`);
});

test('the cost term is kept: same engagement, the dearer grant scores lower', () => {
  const mc = new MarginalCredit(
    { ...reward, costWeight: 0.3, maxCost: 1 },
    { coldStartBonus: 0, alpha: 0.2 },
  );
  const [cheap, dear] = mc.settle([grant(10, 10, 1, 0.5), { ...grant(10, 10, 1, 0.5), cost: 0.5 }]);
  assert.ok(Math.abs(cheap - dear - 0.15) < 1e-9);
});

test('ExperienceBuffer.advance: a credit rule sees the settle batch and sets its rewards', () => {
  const buf = new ExperienceBuffer({ graceMs: 0 });
  const obs = new Float32Array([1, 2]);
  buf.record({ allocationId: 'a', obs, action: 1, logProb: -0.1, weights: W, cost: 0, validUntil: 100 });
  buf.record({ allocationId: 'b', obs, action: 1, logProb: -0.2, weights: W, cost: 0, validUntil: 100 });
  buf.record({ allocationId: 'c', obs, action: 1, logProb: -0.3, weights: W, cost: 0, validUntil: 500 });
  buf.observe({ allocationId: 'a', click: true, completion: 1, shared: false });
  const seen: string[][] = [];
  const n = buf.advance(200, (due) => {
    seen.push(due.map((p) => `${p.d.allocationId}:${p.agg.impressions}`));
    return due.map((_, i) => i + 0.5);
  });
  assert.equal(n, 2);
  assert.deepEqual(seen, [['a:1', 'b:0']]);
  assert.deepEqual(
    buf.drain().map((e) => e.reward),
    [0.5, 1.5],
  );
  assert.throws(() => buf.advance(600, () => []), /one reward per decision/);
});

test('dissatisfactionPenalty μ charges unclicked impressions; μ = 0 keeps the old value', () => {
  const plain = new MarginalCredit(reward, { coldStartBonus: 10, alpha: 0.2 });
  const zero = new MarginalCredit(reward, { coldStartBonus: 10, alpha: 0.2, dissatisfactionPenalty: 0 });
  const mu = new MarginalCredit(reward, { coldStartBonus: 10, alpha: 0.2, dissatisfactionPenalty: 0.5 });
  const unclicked = grant(10, 8, 0, 0);
  const clicked = grant(10, 8, 8, 0);
  for (const g of [unclicked, clicked, grant(10, 8, 1, 0.5, true), grant(10, 0, 0, 0)]) {
    assert.equal(zero.value(g), plain.value(g));
  }
  assert.deepEqual(zero.settle([unclicked, clicked]), plain.settle([unclicked, clicked]));
  // Same grant, same delivery: left unclicked it is charged 0.5 per impression, clicked it is not.
  assert.equal(mu.value(unclicked), plain.value(unclicked) - 0.5 * 8);
  assert.equal(mu.value(clicked), plain.value(clicked));
  const [rUnclicked, rClicked] = mu.settle([unclicked, clicked]);
  assert.ok(rUnclicked < rClicked, `unclicked ${rUnclicked} < clicked ${rClicked}`);
  assert.equal(mu.value(grant(10, 0, 0, 0)), 0, 'nothing delivered: nothing to disappoint');
});
