import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFeatures, retentionBoost } from '../../../agents/allocation-features.js';
import {
  audienceMatch,
  countAudience,
  emptyAudience,
  mergeAudience,
  targetCategories,
  type AudienceAggregate,
} from '../../../agents/audience.js';
import { DEFAULT_AGENT_CONFIG as cfg, parseAgentConfig, type AgentConfig } from '../../../agents/config.js';
import type { HeatingRequest } from '../../../agents/content.js';
import { RuleScorer } from '../../../agents/rule-scorer.js';
import { ALLOCATION_FEATURE_COUNT, featureIndex } from '../../../agents/scorer.js';
import {
  targetFor,
  allocateTick,
  allocationId,
  newAllocatorState,
  recordDelivered,
  recordTickTotals,
  setPoolSize,
  type AllocatorState,
} from '../../../agents/system.js';
import { hash64Hex } from '../../../core/hash.js';
import { DAY, HOUR, close } from './helpers.js';

const TICK = 60_000;
// Most tests look at one tick of evidence grants sized by the request alone: no pacing, a pool that
// does not bind, no reach sizing, no trials, every evidence draw eligible and not sized down
// (pacing, trials, evidence and reach have their own tests below).
const C = parseAgentConfig({
  system: {
    pacingBurst: 0,
    budgetPool: 10_000_000,
    reachPerActiveUser: 0,
    evidence: { minRatio: 0, impressions: 1_000_000, maxRatio: 1 },
  },
  content: { trialImpressions: 0 },
});
const T = 1000 * DAY; // a budget-period boundary
const scorer = new RuleScorer();
const weights = cfg.system.defaultWeights;

function req(id: string, over: Partial<HeatingRequest> = {}): HeatingRequest {
  return {
    content_id: id,
    creator_id: `cr-${id}`,
    category: 'tech',
    tick: T,
    requested_impressions: 1000,
    bid_price: 8.8,
    quality: 0.8,
    // Past the trial with an average engaged value (40 clicks, half of each watched) unless a test says otherwise.
    ctr: 0.1,
    exposure: 400,
    engaged_rate: 0,
    budget: 100,
    heated_impressions: 0,
    completion_sum: 20,
    shares: 0,
    published_at: T - HOUR,
    creator_followers: 500,
    ...over,
  };
}
function audience(active: Record<string, number>, curious: Record<string, number>): AudienceAggregate {
  return { active: { ...active }, curious: { ...curious } };
}
const AUD = audience({ tech: 100, science: 50, food: 80 }, { tech: 60, science: 40, food: 10 });

function state(total = 100_000, heated = 0, c: AgentConfig = C, tick = T): AllocatorState {
  const s = newAllocatorState(c);
  recordTickTotals(s, tick, total, heated);
  return s;
}
const run = (s: AllocatorState, requests: HeatingRequest[], c: AgentConfig = C, tick = T, aud = AUD) =>
  allocateTick(s, { tick, tickMs: TICK, requests, audience: aud, weights, scorer }, c);

test('every feature column is normalised to [0,1], whatever the raw bid or exposure', () => {
  const rs = [
    req('a', { bid_price: 1e6, exposure: 1e9, ctr: 0.9, budget: 1e5 }),
    req('b', { bid_price: 0.5, published_at: T - 30 * DAY }),
  ];
  const f = buildFeatures(rs, { tick: T, audience: AUD, weights, capPressure: 3 }, cfg);
  assert.equal(f.length, 2 * ALLOCATION_FEATURE_COUNT);
  for (const v of f) assert.ok(v >= 0 && v <= 1, String(v));
  assert.equal(f[featureIndex('bid')], 1);
  close(f[ALLOCATION_FEATURE_COUNT + featureIndex('bid')], 0.5 / 1e6, 1e-9);
  assert.equal(f[featureIndex('cap_pressure')], 1);
});

test('rule score = w_user·match + w_revenue·engaged_quality + w_long_term·retention_boost (never the click-priced bid)', () => {
  const r = req('a');
  const f = buildFeatures(
    [r, req('b', { bid_price: 4.4 })],
    { tick: T, audience: AUD, weights, capPressure: 0, ratios: [Infinity, 1] },
    cfg,
  );
  assert.equal(f[featureIndex('engaged_quality')], 1);
  assert.equal(f[ALLOCATION_FEATURE_COUNT + featureIndex('engaged_quality')], 0.5);
  const s = scorer.score(f, 2);
  const match = audienceMatch(
    AUD,
    targetCategories('tech', cfg.system.adjacency),
    cfg.system.matchPriorWeight,
  );
  const boost = retentionBoost(r, T, cfg);
  close(s[0], 0.4 * match + 0.4 * 1 + 0.2 * boost, 1e-6);
  close(s[1], 0.4 * match + 0.4 * 0.5 + 0.2 * boost, 1e-6);
  assert.equal(scorer.modelVersion, 'rule-v2');
});

test('audience match is the share of active users with high curiosity in the target and adjacent categories', () => {
  // tech + science + gaming + food: curious 110 of 230 active; global 110/230 too → exactly that share.
  close(audienceMatch(AUD, ['tech', 'science', 'gaming', 'food'], 20), 110 / 230);
  // A tiny category is shrunk toward the global share, not 1.
  const a = audience({ tech: 1000, niche: 1 }, { tech: 100, niche: 1 });
  close(audienceMatch(a, ['niche'], 20), (1 + 20 * (101 / 1001)) / 21);
  assert.equal(audienceMatch(emptyAudience(), ['tech'], 20), 0);
  assert.deepEqual(targetCategories('food', cfg.system.adjacency), ['food', 'travel', 'lifestyle', 'tech']);
});

test('a user counts once per category per tick in the audience aggregate; partitions merge by sum', () => {
  const marks = { aTick: -1, aCats: [] as number[] };
  const agg = emptyAudience();
  countAudience(marks, agg, 'tech', 1, true);
  countAudience(marks, agg, 'tech', 1, true);
  countAudience(marks, agg, 'food', 1, false);
  countAudience(marks, agg, 'tech', 2, false);
  assert.deepEqual(agg, { active: { tech: 2, food: 1 }, curious: { tech: 1 } });
  assert.deepEqual(mergeAudience(emptyAudience(), agg), agg);
});

test('the seed case: a food video targeted at high-curiosity tech fans matches better than one whose audience is not curious', () => {
  const a = audience(
    { food: 100, tech: 100, beauty: 100, fashion: 100 },
    { food: 5, tech: 80, beauty: 5, fashion: 5 },
  );
  const food = audienceMatch(a, targetCategories('food', cfg.system.adjacency), 20);
  const beauty = audienceMatch(a, targetCategories('beauty', cfg.system.adjacency), 20);
  assert.ok(food > beauty, `${food} > ${beauty}`);
});

test('requests past their trial and below the approval threshold are rejected', () => {
  const c = parseAgentConfig({
    system: { ...C.system, scoreThreshold: 0.9 },
    content: { trialImpressions: 0 },
  });
  const r = run(state(100_000, 0, c), [req('a'), req('b')], c);
  assert.equal(r.allocations.length, 0);
  assert.equal(r.metrics.rejected, 2);
  assert.equal(r.metrics.eligible, 0);
});

test('an allocation record carries a deterministic id, target, cost and the scorer identity', () => {
  const r = run(state(), [req('b'), req('a')]);
  assert.deepEqual(
    r.allocations.map((a) => a.content_id),
    ['a', 'b'],
  );
  const a = r.allocations[0];
  assert.equal(a.allocation_id, hash64Hex(`a@${T}`));
  assert.equal(a.allocation_id, allocationId('a', T));
  assert.equal(a.impressions, 1000);
  close(a.cost, (8.8 * 1000) / 1000); // bid per mille × impressions
  assert.deepEqual(a.target.categories, ['tech', 'science', 'gaming', 'food']);
  assert.ok([cfg.user.highCuriosity, cfg.user.curiosityStart].includes(a.target.min_curiosity));
  assert.equal(a.valid_from, T);
  assert.equal(a.valid_until, T + cfg.system.allocationValidityMs);
  assert.equal(a.policy, 'RULE');
  assert.equal(a.model_version, 'rule-v2');
  assert.deepEqual(a.reward_weights, weights);
  assert.ok(a.score >= cfg.system.scoreThreshold && a.score <= 1);
});

test('a learning scorer’s decision comes back with the content id and feature row of each scored request', () => {
  // Approves by quality (feature column), whatever the request order; the decision names the version.
  const Q = featureIndex('quality');
  const deciding = {
    policy: 'LEARNED' as const,
    modelVersion: 'stale',
    score: (f: Float32Array, rows: number) => deciding.decide(f, rows).scores,
    decide(f: Float32Array, rows: number) {
      const scores = Float32Array.from({ length: rows }, (_, i) =>
        f[i * ALLOCATION_FEATURE_COUNT + Q] > 0.5 ? 0.9 : 0,
      );
      return { scores, decision: { policy: 'LEARNED' as const, version: 'allocation@7', scores } };
    },
  };
  const rs = [req('c', { quality: 0.9 }), req('a', { quality: 0.2 }), req('b', { quality: 0.7 })];
  const r = allocateTick(
    state(),
    { tick: T, tickMs: TICK, requests: rs, audience: AUD, weights, scorer: deciding },
    C,
  );
  const d = r.decision!;
  assert.deepEqual(d.contentIds, ['a', 'b', 'c']);
  assert.equal(d.features.length, 3 * ALLOCATION_FEATURE_COUNT);
  const quality = d.contentIds.map(
    (_, i) => Math.round(d.features[i * ALLOCATION_FEATURE_COUNT + Q] * 10) / 10,
  );
  assert.deepEqual(quality, [0.2, 0.7, 0.9], 'row i is the request of contentIds[i]');
  assert.deepEqual(
    r.allocations.map((a) => [a.content_id, a.policy, a.model_version]),
    [
      ['b', 'LEARNED', 'allocation@7'],
      ['c', 'LEARNED', 'allocation@7'],
    ],
    'allocations carry the version the decision names',
  );
  assert.equal(run(state(), rs).decision, null, 'a scorer without decide() hands nothing on');
  assert.equal(
    allocateTick(
      state(),
      { tick: T, tickMs: TICK, requests: [], audience: AUD, weights, scorer: deciding },
      C,
    ).decision,
    null,
  );
});

test('an allocation targets high-curiosity users only when they can absorb it over its validity, else everyone in its categories', () => {
  const cats = targetCategories('tech', cfg.system.adjacency);
  const many = audience({ tech: 1000 }, { tech: 1000 });
  const few = audience({ tech: 1000 }, { tech: 10 });
  const per = cfg.system.reachPerActiveUser;
  assert.deepEqual(targetFor('tech', 1000 * per, many, cfg), {
    categories: cats,
    min_curiosity: cfg.user.highCuriosity,
  });
  assert.deepEqual(targetFor('tech', 10 * per * 4 + 1, few, cfg, 4), { categories: cats, min_curiosity: 0 });
  assert.deepEqual(targetFor('tech', 10 * per * 4, few, cfg, 4), {
    categories: cats,
    min_curiosity: cfg.user.highCuriosity,
  });
});

test('a replay gives identical allocation ids and records', () => {
  const rs = Array.from({ length: 30 }, (_, i) =>
    req(`c${i}`, { quality: (i % 10) / 10, creator_followers: i * 1000, bid_price: i }),
  );
  const a = run(state(50_000), rs);
  const b = run(state(50_000), [...rs].reverse());
  assert.deepEqual(b, a);
  assert.ok(a.allocations.length > 0);
});

test('heated share never exceeds the cap: heated in window + outstanding + grants ≤ 20% of the window', () => {
  const s = state(10_000, 1_500); // room for 500
  const r = run(s, [req('a'), req('b'), req('c')]);
  const granted = r.allocations.reduce((x, a) => x + a.impressions, 0);
  assert.ok(granted <= 500, String(granted));
  assert.equal(r.metrics.capCapacity, 500);
  assert.ok(r.metrics.projectedHeatedShare <= 0.2 + 1e-12);
  // Next tick: nothing delivered yet, the outstanding grant still counts.
  recordTickTotals(s, T + TICK, 0, 0);
  const r2 = run(s, [req('d')], C, T + TICK);
  assert.equal(r2.metrics.capCapacity, 500 - granted);
});

test('when the cap binds, the clearing score rises and allocations shrink', () => {
  const rs = Array.from({ length: 10 }, (_, i) =>
    req(`c${i}`, { bid_price: 5 + i, completion_sum: 12 + 2 * i }),
  );
  const loose = run(state(1_000_000), rs);
  const tight = run(state(20_000), rs); // 4000 impressions for 10 000 requested
  assert.equal(loose.allocations.length, 10);
  assert.equal(loose.metrics.capBinding, false);
  assert.equal(tight.metrics.capBinding, true);
  assert.ok(tight.metrics.clearingScore > loose.metrics.clearingScore);
  assert.ok(tight.allocations.length < loose.allocations.length);
  for (const a of tight.allocations)
    assert.ok(a.impressions < 1000 && a.impressions >= 500, String(a.impressions));
  assert.ok(tight.metrics.grantedImpressions <= 4000);
});

test('budget pool is never overspent and replenishes each budget period', () => {
  const c = parseAgentConfig({ system: { budgetPool: 2_500, pacingBurst: 0 } });
  const s = state(10_000_000, 0, c);
  const rs = Array.from({ length: 10 }, (_, i) => req(`c${i}`));
  const r1 = run(s, rs, c);
  assert.ok(r1.metrics.grantedImpressions <= 2_500);
  assert.equal(s.poolRemaining, 2_500 - r1.metrics.grantedImpressions);
  const r2 = run(
    s,
    rs.map((r) => ({ ...r, content_id: r.content_id + 'x' })),
    c,
    T + TICK,
  );
  assert.ok(s.poolRemaining >= 0);
  assert.ok(r1.metrics.grantedImpressions + r2.metrics.grantedImpressions <= 2_500);
  recordTickTotals(s, T + DAY, 10_000_000, 0);
  const r3 = run(
    s,
    rs.map((r) => ({ ...r, content_id: r.content_id + 'y' })),
    c,
    T + DAY,
  );
  assert.ok(r3.metrics.grantedImpressions > 0);
  assert.equal(s.poolRemaining, 2_500 - r3.metrics.grantedImpressions);
  setPoolSize(s, 100);
  assert.ok(s.poolRemaining <= 100);
});

test('before any traffic is seen the pool is paced evenly: one tick gets at most pacingBurst × remaining / ticks left', () => {
  const c = parseAgentConfig({ system: { ...C.system, pacingBurst: 2 }, content: { trialImpressions: 0 } });
  const s = newAllocatorState(c);
  const r = run(
    s,
    Array.from({ length: 50 }, (_, i) => req(`c${i}`)),
    c,
  );
  assert.equal(r.metrics.poolAvailable, Math.ceil((2 * 10_000_000) / (DAY / TICK)));
});

test('the pool is paced on the traffic curve: a peak tick of the last period gets more than a trough tick', () => {
  const tick = HOUR;
  const c = parseAgentConfig({
    system: { budgetPool: 24_000, pacingBurst: 1 },
    content: { trialImpressions: 0 },
  });
  const s = newAllocatorState(c);
  const curve = (h: number): number => (h >= 18 && h < 22 ? 4000 : h < 6 ? 250 : 1000);
  // One period of traffic: 4 peak hours carry 16 000 of 33 500 impressions.
  for (let h = 1; h <= 24; h++) {
    recordTickTotals(s, T + h * tick, curve(h - 1), 0);
    allocateTick(s, { tick: T + h * tick, tickMs: tick, requests: [], audience: AUD, weights, scorer }, c);
  }
  // Next period: the pool is 24 000; the 03:00 tick gets its small share, the 19:00 tick a large one.
  const at = (h: number): number => {
    const copy: AllocatorState = JSON.parse(JSON.stringify(s));
    copy.periodIndex = -1;
    return allocateTick(
      copy,
      { tick: T + DAY + h * tick, tickMs: tick, requests: [], audience: AUD, weights, scorer },
      c,
    ).metrics.poolAvailable;
  };
  const rest = (h: number): number => {
    let x = 0;
    for (let k = h; k < 24; k++) x += curve(k);
    return x;
  };
  assert.equal(at(3), Math.ceil((24_000 * 250) / rest(3)));
  assert.equal(at(19), Math.ceil((24_000 * 4000) / rest(19)));
  assert.ok(at(19) > 10 * at(3));
});

test('impressions an allocation did not deliver return to the pool once its deliveries are in, and the delivery ratio is learned', () => {
  const c = parseAgentConfig({
    system: { ...C.system, budgetPool: 1_000 },
    content: { trialImpressions: 0 },
  });
  const s = state(1_000_000, 0, c);
  const r1 = run(s, [req('a', { requested_impressions: 600 })], c);
  assert.equal(s.poolRemaining, 400);
  recordDelivered(s, [{ allocation_id: r1.allocations[0].allocation_id, impressions: 150 }]);
  const settled = T + c.system.allocationValidityMs + c.system.deliveryGraceMs;
  recordTickTotals(s, settled, 1_000_000, 0);
  const r2 = allocateTick(
    s,
    { tick: settled, tickMs: TICK, requests: [], audience: AUD, weights, scorer },
    c,
  );
  assert.equal(r2.metrics.poolRefunded, 450);
  assert.equal(s.poolRemaining, 850, 'only the 150 delivered impressions were spent');
  assert.equal(s.deliveryRatio, 0.25);
});

test('an impression shown after expiry (picked before it) is not refunded and granted again', () => {
  // A ranker picks the heated item when it builds the page; the user reaches the slot, and the
  // impression is logged, after valid_until. Its outcome reaches the allocator a tick later.
  const c = parseAgentConfig({
    system: { ...C.system, budgetPool: 1_000 },
    content: { trialImpressions: 0 },
  });
  const s = state(1_000_000, 0, c);
  const id = run(s, [req('a', { requested_impressions: 600 })], c).allocations[0].allocation_id;
  recordDelivered(s, [{ allocation_id: id, impressions: 590 }]);
  const expiry = T + c.system.allocationValidityMs;
  const tick = (t: number) =>
    allocateTick(s, { tick: t, tickMs: TICK, requests: [], audience: AUD, weights, scorer }, c);
  assert.equal(tick(expiry).metrics.poolRefunded, 0, 'nothing returns while deliveries may still come in');
  assert.equal(s.active.length, 0, 'an expired allocation is no longer outstanding');
  recordDelivered(s, [{ allocation_id: id, impressions: 10 }]);
  const late = tick(expiry + TICK);
  assert.equal(late.metrics.unjoinedDeliveries, 0, 'the late delivery joins its allocation');
  assert.equal(tick(expiry + c.system.deliveryGraceMs).metrics.poolRefunded, 0);
  assert.equal(s.poolRemaining, 400, 'all 600 were delivered: the pool spent exactly 600');
  assert.equal(s.deliveryRatio, 1);
  assert.equal(s.settling?.length, 0);
  // Past the grace, a delivery no allocation claims is reported, never refunded.
  recordDelivered(s, [{ allocation_id: id, impressions: 3 }]);
  assert.equal(tick(expiry + c.system.deliveryGraceMs + TICK).metrics.unjoinedDeliveries, 3);
  assert.equal(s.poolRemaining, 400);
});

test('a content with an active allocation is not double-allocated: its request is reduced by outstanding impressions', () => {
  const s = state(10_000_000);
  const first = run(s, [req('a', { requested_impressions: 1000 })]);
  assert.equal(first.allocations[0].impressions, 1000);
  const again = run(s, [req('a', { requested_impressions: 1000 })], C, T + TICK);
  assert.equal(again.allocations.length, 0, 'all 1000 still outstanding');
  recordDelivered(s, [{ allocation_id: first.allocations[0].allocation_id, impressions: 600 }]);
  const third = run(s, [req('a', { requested_impressions: 1000 })], C, T + 2 * TICK);
  assert.equal(third.allocations[0].impressions, 600);
  // Once both allocations expired, the full request is open again.
  recordTickTotals(s, T + cfg.system.allocationValidityMs + 3 * TICK, 10_000_000, 0);
  const later = run(
    s,
    [req('a', { requested_impressions: 1000 })],
    C,
    T + cfg.system.allocationValidityMs + 3 * TICK,
  );
  assert.equal(later.allocations[0].impressions, 1000);
});

// Trials and evidence with the shipped defaults (reach sizing on, trials of 25 impressions).
const D = parseAgentConfig({ system: { pacingBurst: 0, budgetPool: 10_000_000 } });

test('坑7 fair trial: every new item short of its trial gets one, whatever its quality score or score', () => {
  const fresh = { exposure: 0, completion_sum: 0 };
  const rs = [
    req('good', { ...fresh, quality: 0.95 }),
    req('poor', { ...fresh, quality: 0.05, bid_price: 0.1 }),
    req('half', { ...fresh, quality: 0.5, exposure: 15 }),
    req('done', { ...fresh, quality: 0.5, exposure: 25, published_at: T - 2 * HOUR }),
    req('old', { ...fresh, quality: 0.9, exposure: 3, published_at: T - 2 * DAY }),
  ];
  const c = parseAgentConfig({ system: { ...D.system, scoreThreshold: 1 } }); // no evidence grant passes
  const r = run(state(1_000_000, 0, c), rs, c);
  const by = new Map(r.allocations.map((a) => [a.content_id, a.impressions]));
  assert.deepEqual([...by.keys()].sort(), ['good', 'half', 'poor']);
  assert.equal(by.get('good'), 20);
  assert.equal(by.get('poor'), 20);
  assert.equal(by.get('half'), 5, 'organic impressions count toward the trial');
  assert.equal(r.metrics.trials, 3);
  assert.equal(r.metrics.trialImpressions, 45);
});

test('when the budget is short, trials go oldest first (the first-day deadline), from up to trialShare of it', () => {
  const rs = [
    ...Array.from({ length: 6 }, (_, i) =>
      req(`n${i}`, { exposure: 0, completion_sum: 0, published_at: T - (i + 1) * HOUR }),
    ),
    req('seen', { published_at: T - 2 * DAY }),
  ];
  const c = parseAgentConfig({
    system: { ...D.system, budgetPool: 100, trialShare: 0.8, evidence: { minRatio: 0 } },
  });
  const r = run(state(1_000_000, 0, c), rs, c);
  // 80 impressions for trials: n5 (oldest), n4, n3, n2 get 20 each, n1 and n0 none; the evidence item the other 20.
  assert.deepEqual(
    r.allocations.map((a) => [a.content_id, a.impressions]),
    [
      ['n2', 20],
      ['n3', 20],
      ['n4', 20],
      ['n5', 20],
      ['seen', 20],
    ],
  );
});

/** A request past its trial with `exposure` impressions, one click in ten, and `completion` watched per impression. */
const seen = (id: string, exposure: number, completion: number, over: Partial<HeatingRequest> = {}) =>
  req(id, {
    exposure,
    completion_sum: completion * exposure,
    published_at: T - 2 * DAY,
    ...over,
  });

test('after the trial, heat follows the posterior of engaged quality: good items scale up, poor ones stop', () => {
  const pool = [
    ...Array.from({ length: 20 }, (_, i) => seen(`avg${i}`, 400, 0.05)),
    seen('great', 400, 0.2),
    seen('poor', 400, 0.005),
  ];
  let great = 0;
  let poor = 0;
  for (let k = 0; k < 20; k++) {
    const r = run(state(1_000_000, 0, D, T + k * DAY), pool, D, T + k * DAY);
    great += r.allocations.find((a) => a.content_id === 'great')?.impressions ?? 0;
    poor += r.allocations.find((a) => a.content_id === 'poor')?.impressions ?? 0;
  }
  assert.equal(poor, 0, 'a poor item is never heated after its trial');
  assert.ok(great >= 20 * D.system.evidence.impressions, `great got ${great}`);
});

test('raw clicks never buy heat: an item with many clicks and no watching is not heated after its trial', () => {
  const pool = [
    ...Array.from({ length: 20 }, (_, i) => seen(`avg${i}`, 400, 0.05)),
    seen('clickbait', 400, 0.002, { ctr: 0.3, engaged_rate: 0 }),
  ];
  for (let k = 0; k < 10; k++) {
    const r = run(state(1_000_000, 0, D, T + k * DAY), pool, D, T + k * DAY);
    assert.equal(
      r.allocations.find((a) => a.content_id === 'clickbait'),
      undefined,
    );
  }
});

test('a constant quality score still works: the evidence alone decides; a good score only shapes the prior', () => {
  const flat = [
    ...Array.from({ length: 20 }, (_, i) => seen(`avg${i}`, 400, 0.05, { quality: 0.5 })),
    seen('great', 400, 0.2, { quality: 0.5 }),
  ];
  const r = run(state(1_000_000, 0, D), flat, D);
  assert.ok(r.allocations.some((a) => a.content_id === 'great'));
  // Without evidence (no impressions yet, past its trial window) a higher score draws higher on average.
  let hi = 0;
  let lo = 0;
  for (let k = 0; k < 40; k++) {
    const rs = [seen('hi', 0, 0, { quality: 0.9 }), seen('lo', 0, 0, { quality: 0.1 }), ...flat.slice(0, 20)];
    const x = run(state(1_000_000, 0, D, T + k * DAY), rs, D, T + k * DAY);
    if (x.allocations.some((a) => a.content_id === 'hi')) hi++;
    if (x.allocations.some((a) => a.content_id === 'lo')) lo++;
  }
  assert.ok(hi > lo, `hi ${hi} lo ${lo}`);
});

test('grants never exceed what the target audience can take over the validity; a trial still gets minGrant', () => {
  const pool = [...Array.from({ length: 20 }, (_, i) => seen(`avg${i}`, 400, 0.05)), seen('great', 400, 0.3)];
  const small = audience({ tech: 2 }, { tech: 0 });
  const r = run(state(1_000_000, 0, D), pool, D, T, small);
  // 2 active users × 60 ticks of validity × 0.25 = 30 < the 120 its draw asks for
  assert.equal(r.allocations.find((a) => a.content_id === 'great')?.impressions, 30);
  const tiny = audience({ tech: 1 }, { tech: 0 });
  const c = parseAgentConfig({ system: { ...D.system, allocationValidityMs: 10 * TICK } });
  const r2 = run(
    state(1_000_000, 0, c),
    [...pool, req('new', { exposure: 0, completion_sum: 0 })],
    c,
    T,
    tiny,
  );
  assert.deepEqual(
    r2.allocations.map((a) => [a.content_id, a.impressions]),
    [['new', 5]],
    'reach 1 × 10 × 0.25 = 2 < minGrant 5: no evidence grant; the trial gets minGrant now, the rest later',
  );
});

test('creator keep-alive: with a short budget, a creator whose content just had a trial waits behind those who had none', () => {
  const c = parseAgentConfig({ system: { ...D.system, budgetPool: 50 } });
  const s = state(1_000_000, 0, c);
  const fresh = (id: string, creator: string, age: number) =>
    req(id, { creator_id: creator, exposure: 0, completion_sum: 0, published_at: T - age * HOUR });
  const first = run(s, [fresh('a1', 'busy', 3)], c);
  assert.deepEqual(
    first.allocations.map((a) => a.content_id),
    ['a1'],
  );
  recordTickTotals(s, T + TICK, 1_000_000, 0);
  const next = run(
    s,
    [fresh('a2', 'busy', 5), fresh('b1', 'quiet', 1), fresh('c1', 'other', 2)],
    c,
    T + TICK,
  );
  // 30 impressions left in the paced pool of 50: 'busy' had a trial a tick ago, so the others go
  // first (c1, the older, its whole trial; b1 the last 10) and busy's new item waits.
  assert.deepEqual(
    next.allocations.map((a) => [a.content_id, a.impressions]),
    [
      ['b1', 10],
      ['c1', 20],
    ],
  );
});

test('with a short budget a started trial is finished before another starts, even before a creator without a recent trial', () => {
  const c = parseAgentConfig({ system: { ...D.system, budgetPool: 20 } });
  const s = state(1_000_000, 0, c);
  s.creatorTrials = { A: T - HOUR, B: T - 2 * HOUR };
  const item = (id: string, creator: string, age: number, heated: number) =>
    req(id, {
      creator_id: creator,
      exposure: heated,
      heated_impressions: heated,
      completion_sum: 0,
      published_at: T - age * HOUR,
    });
  const r = run(
    s,
    [item('started', 'A', 1, 10), item('waiting', 'B', 3, 0), item('newcomer', 'C', 0.5, 0)],
    c,
  );
  // 'started' gets the 10 it lacks, the creator without a recent trial the other 10; 'waiting'
  // (its creator had a trial) waits. Spread thin instead, none of the three would reach 20.
  assert.deepEqual(
    r.allocations.map((a) => [a.content_id, a.impressions, a.trial]),
    [
      ['newcomer', 10, true],
      ['started', 10, true],
    ],
  );
});

test('trial allocations carry trial = true, evidence allocations trial = false', () => {
  const c = parseAgentConfig({ system: { ...D.system, evidence: { minRatio: 0 } } });
  const r = run(
    state(1_000_000, 0, c),
    [req('new', { exposure: 0, completion_sum: 0 }), seen('proven', 60, 0.8, { published_at: T - 2 * DAY })],
    c,
  );
  assert.deepEqual(
    r.allocations.map((a) => [a.content_id, a.trial]),
    [
      ['new', true],
      ['proven', false],
    ],
  );
});

test('the last impressions of a trial are granted even below minGrant', () => {
  const r = run(state(1_000_000, 0, D), [req('nearly', { exposure: 17, completion_sum: 0 })], D);
  assert.ok(D.system.minGrant! > 3);
  assert.deepEqual(
    r.allocations.map((a) => [a.content_id, a.impressions]),
    [['nearly', 3]],
  );
});

test('grants running into a new budget period are charged to it and return to it: nothing granted late is lost', () => {
  const c = parseAgentConfig({
    system: { ...C.system, budgetPool: 1_000 },
    content: { trialImpressions: 0 },
  });
  const late = T + DAY - 15 * TICK; // 15 minutes before the period ends
  const s = state(1_000_000, 0, c, late);
  const r1 = run(s, [req('a', { requested_impressions: 400 })], c, late);
  recordDelivered(s, [{ allocation_id: r1.allocations[0].allocation_id, impressions: 100 }]);
  recordTickTotals(s, T + DAY, 1_000_000, 0);
  const r2 = allocateTick(
    s,
    { tick: T + DAY, tickMs: TICK, requests: [], audience: AUD, weights, scorer },
    c,
  );
  assert.equal(r2.metrics.poolCarried, 300, 'the 300 still undelivered are the new period’s commitment');
  assert.equal(s.poolRemaining, 700);
  recordDelivered(s, [{ allocation_id: r1.allocations[0].allocation_id, impressions: 50 }]);
  const settled = late + c.system.allocationValidityMs + c.system.deliveryGraceMs;
  recordTickTotals(s, settled, 1_000_000, 0);
  const r3 = allocateTick(
    s,
    { tick: settled, tickMs: TICK, requests: [], audience: AUD, weights, scorer },
    c,
  );
  assert.equal(r3.metrics.poolRefunded, 250, 'what it did not deliver returns to the new period');
  assert.equal(s.poolRemaining, 950, 'the new period spent exactly the 50 delivered in it');
});
