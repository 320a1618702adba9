import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExperienceBuffer, computeReward, type Decision } from '../../../learn/experience.js';

const W = { user_satisfaction: 0.5, platform_revenue: 0.3, long_term: 0.2 };
const cfg = {
  ctrCeiling: 0.1,
  shareCeiling: 0.05,
  maxCost: 1000,
  costWeight: 0.5,
  graceMs: 100,
  maxPending: 3,
  maxReady: 100,
  settleDenialsAtOnce: true,
};
const decision = (id: string, action: 0 | 1, validUntil = 1000, cost = 200): Decision => ({
  allocationId: id,
  obs: Float32Array.of(0.1, 0.2),
  action,
  logProb: action ? -0.3 : -1.2,
  weights: W,
  cost,
  validUntil,
});

test('reward: engagement of heated impressions weighted by the reward weights, minus cost', () => {
  // 10 impressions, 1 click (ctr 0.1 → click term 1), completion 6/10, 0 shares
  const r = computeReward({ impressions: 10, clicks: 1, completion: 6, shares: 0 }, W, 200, cfg);
  const user = (1 + 0.6) / 2,
    revenue = 1,
    long = (0.6 + 0) / 2;
  assert.ok(Math.abs(r - (0.5 * user + 0.3 * revenue + 0.2 * long - 0.5 * 0.2)) < 1e-12, `reward ${r}`);
  // clicks alone (click farming: no completion, no shares) earn less than real engagement
  const farm = computeReward({ impressions: 10, clicks: 5, completion: 0, shares: 0 }, W, 200, cfg);
  const real = computeReward({ impressions: 10, clicks: 1, completion: 9, shares: 1 }, W, 200, cfg);
  assert.ok(real > farm, `${real} > ${farm}`);
  // no outcome: the cost only; cost saturates at maxCost
  assert.equal(computeReward({ impressions: 0, clicks: 0, completion: 0, shares: 0 }, W, 5000, cfg), -0.5);
});

test('outcomes are joined back to allocations by allocation_id and settle in event time', () => {
  const b = new ExperienceBuffer(cfg);
  b.record(decision('a1', 1, 1000));
  b.record(decision('a2', 1, 2000));
  for (let i = 0; i < 10; i++)
    b.observe({ allocationId: 'a1', click: i === 0, completion: 0.6, shared: false });
  b.observe({ allocationId: 'a2', click: true, completion: 1, shared: true });
  assert.equal(b.observe({ allocationId: 'zz', click: true, completion: 1, shared: false }), false);
  assert.equal(b.advance(1099), 0, 'not before validUntil + grace');
  assert.equal(b.advance(1100), 1);
  const [e] = b.drain();
  assert.equal(e.action, 1);
  assert.equal(e.logProb, -0.3);
  assert.deepEqual(Array.from(e.obs), [Float32Array.of(0.1)[0], Float32Array.of(0.2)[0]]);
  assert.ok(
    Math.abs(
      e.reward - computeReward({ impressions: 10, clicks: 1, completion: 6, shares: 0 }, W, 200, cfg),
    ) < 1e-12,
  );
  assert.equal(b.stats().pending, 1);
  assert.equal(b.stats().unmatched, 1);
  // a late outcome after settlement does not join
  assert.equal(b.observe({ allocationId: 'a1', click: true, completion: 1, shared: true }), false);
});

test('denials settle at once with reward 0; allocations without any outcome expire with −cost', () => {
  const b = new ExperienceBuffer(cfg);
  b.record(decision('d', 0));
  assert.equal(b.readyCount, 1);
  b.record(decision('x', 1, 500, 400));
  b.advance(10_000);
  const [deny, expired] = b.drain();
  assert.deepEqual([deny.action, deny.reward], [0, 0]);
  assert.deepEqual([expired.action, expired.reward], [1, -0.5 * 0.4]);
  assert.equal(b.stats().expired, 1);
});

test('the buffer is bounded: the oldest open decision is dropped and counted, replays are ignored', () => {
  const b = new ExperienceBuffer(cfg); // maxPending 3
  for (const id of ['a', 'b', 'c', 'd']) b.record(decision(id, 1));
  b.record(decision('b', 1)); // replayed decision
  const s = b.stats();
  assert.equal(s.pending, 3);
  assert.equal(s.evicted, 1);
  assert.equal(s.duplicates, 1);
  assert.equal(
    b.observe({ allocationId: 'a', click: true, completion: 1, shared: false }),
    false,
    'a was evicted',
  );
  const small = new ExperienceBuffer({ ...cfg, maxReady: 2 });
  for (const id of ['p', 'q', 'r']) small.record(decision(id, 0));
  assert.equal(small.readyCount, 2);
  assert.equal(small.stats().evicted, 1);
  assert.equal(small.drain(1).length, 1);
  assert.equal(small.readyCount, 1);
});

test("the decision is copied: later changes to the caller's row do not change the experience", () => {
  const b = new ExperienceBuffer(cfg);
  const d = decision('k', 0);
  b.record(d);
  d.obs[0] = 99;
  assert.notEqual(b.drain()[0].obs[0], 99);
});

test('explore mode: action 0 (exploit) waits for its outcome like action 1', () => {
  const b = new ExperienceBuffer({ ...cfg, settleDenialsAtOnce: false });
  b.record({ ...decision('u1#e9', 0, 100), cost: 0 });
  assert.equal(b.readyCount, 0);
  b.observe({ allocationId: 'u1#e9', click: true, completion: 1, shared: true });
  b.advance(200);
  const [e] = b.drain();
  assert.equal(e.action, 0);
  assert.equal(e.logProb, -1.2);
  assert.ok(
    Math.abs(e.reward - computeReward({ impressions: 1, clicks: 1, completion: 1, shares: 1 }, W, 0, cfg)) <
      1e-12,
  );
  assert.ok(e.reward > 0.99);
});
