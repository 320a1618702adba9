import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_AGENT_CONFIG as cfg } from '../../../agents/config.js';
import {
  applyContentInteraction,
  applyPublished,
  bidPrice,
  contentTick,
  decideHeatingRequest,
  drainAllocationOutcomes,
  newContentState,
  requestedImpressions,
  toContentState,
  type ContentAgentState,
} from '../../../agents/content.js';
import { keyedUniform } from '../../../core/rng.js';
import { HOUR, T0, close, interaction, published } from './helpers.js';

const W = cfg.content.feedbackWindowMs;
const start = Math.floor(T0 / W) * W; // a feedback-window boundary

/** `n` impressions of which `clicks` clicked and `engaged` of those completed, all at time t. */
function impressions(
  s: ContentAgentState,
  n: number,
  clicks: number,
  engaged: number,
  t: number,
  extra: Partial<Parameters<typeof interaction>[0]> = {},
) {
  for (let i = 0; i < n; i++) {
    const click = i < clicks;
    applyContentInteraction(
      s,
      interaction({
        content_id: s.id,
        event_time: t,
        click,
        completion: click && i < engaged ? 0.9 : click ? 0.1 : 0,
        ...extra,
      }),
      false,
      cfg,
    );
  }
}
const content = () => applyPublished(undefined, published({ published_at: start }), cfg);

test('exposure, clicks, ctr and engaged rate count impressions, clicks and engaged clicks', () => {
  const s = content();
  impressions(s, 200, 10, 6, start + 1);
  applyContentInteraction(
    s,
    interaction({ event_time: start + 2, click: true, completion: 0.2, shared: true }),
    false,
    cfg,
  );
  const cs = toContentState(s);
  assert.equal(cs.exposure, 201);
  assert.equal(cs.clicks, 11);
  close(cs.ctr, 11 / 201);
  close(cs.engaged_rate, 7 / 11); // a share counts as engagement
  assert.equal(cs.heating_budget, 100);
  assert.equal(cs.flagged_cheating, false);
  assert.equal(cs.version, 202); // publication + 201 interactions
});

test('budget grows by 50 per feedback window while its ctr > 3% and engagement backs the clicks', () => {
  const s = content();
  impressions(s, 200, 10, 8, start + 1); // 5% ctr, 80% engaged
  impressions(s, 200, 10, 8, start + W + 1); // closes window 1 → +50
  assert.equal(s.budget, 150);
  close(s.windowCtr, 0.05);
  contentTick(s, start + 2 * W, 1, cfg); // closes window 2 at the tick → +50
  assert.equal(s.budget, 200);
  contentTick(s, start + 5 * W, 1, cfg); // empty windows earn nothing
  assert.equal(s.budget, 200);
});

test('budget does not grow on ctr ≤ 3%, on unengaged clicks (bought), or on a tiny window; and never above its max', () => {
  const low = content();
  impressions(low, 200, 6, 6, start + 1); // 3% exactly
  contentTick(low, start + W, 1, cfg);
  assert.equal(low.budget, 100);
  const bought = content();
  impressions(bought, 200, 40, 2, start + 1); // 20% ctr, 5% engaged
  rollTo(bought, start + W);
  assert.equal(bought.budget, 100);
  const tiny = content();
  impressions(tiny, 20, 5, 5, start + 1);
  contentTick(tiny, start + W, 1, cfg);
  assert.equal(tiny.budget, 100);
  const star = content();
  for (let w = 0; w < 20; w++) impressions(star, 200, 20, 20, start + w * W + 1);
  contentTick(star, start + 20 * W, 1, cfg);
  assert.equal(star.budget, cfg.content.maxBudget);
});
function rollTo(s: ContentAgentState, t: number) {
  applyContentInteraction(s, interaction({ event_time: t }), false, cfg);
}

test('delivered heated impressions spend the budget at 10 impressions per unit', () => {
  const s = content();
  impressions(s, 250, 0, 0, start + 1, { heated: true, allocation_id: 'a1' });
  assert.equal(s.budget, 75);
  assert.equal(requestedImpressions(s, cfg), 750);
  impressions(s, 2000, 0, 0, start + 2, { heated: true });
  assert.equal(s.budget, 0); // never negative
});

test('requested impressions = min(5000, budget × 10)', () => {
  const s = content();
  assert.equal(requestedImpressions(s, cfg), 1000);
  s.budget = 777;
  assert.equal(requestedImpressions(s, cfg), 5000);
});

test('bid = quality·10·(1 + expected_ctr·10), expected ctr 0.01 while unknown', () => {
  const s = content(); // quality 0.8
  close(bidPrice(s, cfg), 8.8);
  impressions(s, 200, 10, 10, start + 1); // ctr 5%
  close(bidPrice(s, cfg), 12);
});

test('a new item short of its trial requests at every tick of its first day (坑7)', () => {
  const s = content();
  for (let k = 0; k < 24 * 60; k += 7) assert.ok(decideHeatingRequest(s, start + k * 60_000, 42, cfg));
});

test('after the trial, request probability is 0.9 while exposure < 1000, 0.7 when ctr > 5%, else 0.1, drawn per content and tick', () => {
  const rate = (s: ContentAgentState) => {
    let n = 0;
    for (let k = 0; k < 4000; k++) if (decideHeatingRequest(s, start + k * 60_000, 42, cfg)) n++;
    return n / 4000;
  };
  const cold = content();
  impressions(cold, cfg.content.trialImpressions, 0, 0, start + 1);
  const hot = content();
  impressions(hot, 1000, 60, 60, start + 1);
  const cool = content();
  impressions(cool, 1000, 20, 20, start + 1);
  close(rate(cold), 0.9, 0.02, 'cold');
  close(rate(hot), 0.7, 0.02, 'hot');
  close(rate(cool), 0.1, 0.02, 'cool');
  // Exactly the keyed draw: a replay decides the same.
  const tick = start + 7 * 60_000;
  assert.equal(decideHeatingRequest(cool, tick, 42, cfg) !== null, keyedUniform(42, cool.id, tick) < 0.1);
  assert.deepEqual(
    decideHeatingRequest(cold, tick, 42, cfg),
    decideHeatingRequest(structuredClone(cold), tick, 42, cfg),
  );
});

test('a request carries what the allocator needs', () => {
  const s = content();
  let r = null;
  for (let k = 0; !r; k++) r = decideHeatingRequest(s, start + k, 42, cfg);
  assert.equal(r.content_id, 'c1');
  assert.equal(r.creator_id, 'cr1');
  assert.equal(r.requested_impressions, 1000);
  close(r.bid_price, 8.8);
  assert.equal(r.published_at, start);
  assert.equal(r.creator_followers, 500);
});

test('no request before publication, after the max heating age, or when the budget buys less than the minimum', () => {
  const unpublished = newContentState('c9', 'tech', cfg);
  const old = content();
  const broke = content();
  broke.budget = 4.9;
  for (let k = 0; k < 50; k++) {
    assert.equal(decideHeatingRequest(unpublished, start + k, 1, cfg), null);
    assert.equal(decideHeatingRequest(old, start + cfg.content.maxHeatingAgeMs + 1 + k, 1, cfg), null);
    assert.equal(decideHeatingRequest(broke, start + k, 1, cfg), null);
  }
});

test('flagged content never requests heating and its budget is 0', () => {
  const s = content();
  impressions(s, 200, 60, 0, start + 1); // 30% ctr, no engagement: bought
  const r = contentTick(s, start + HOUR, 1, cfg);
  assert.equal(r.flagged, true);
  assert.equal(s.flagged, true);
  assert.equal(s.flagReason, 'bought');
  assert.equal(s.budget, 0);
  impressions(s, 1000, 100, 100, start + HOUR + 1); // even honest-looking traffic later
  for (let k = 1; k < 200; k++) assert.equal(contentTick(s, start + HOUR + k * 60_000, 1, cfg).request, null);
  assert.equal(s.budget, 0);
  assert.equal(toContentState(s).flagged_cheating, true);
});

test('outcomes are aggregated per allocation id and drained once', () => {
  const s = content();
  const base = { heated: true, event_time: start + 1 };
  applyContentInteraction(
    s,
    interaction({ ...base, allocation_id: 'b', click: true, completion: 0.9, shared: true }),
    false,
    cfg,
  );
  applyContentInteraction(
    s,
    interaction({ ...base, allocation_id: 'a', click: true, completion: 0.1 }),
    false,
    cfg,
  );
  applyContentInteraction(s, interaction({ ...base, allocation_id: 'a' }), false, cfg);
  applyContentInteraction(s, interaction({ event_time: start + 1, click: true }), false, cfg); // organic
  assert.deepEqual(drainAllocationOutcomes(s), [
    { allocation_id: 'a', content_id: 'c1', impressions: 2, clicks: 1, completions: 0, shares: 0 },
    { allocation_id: 'b', content_id: 'c1', impressions: 1, clicks: 1, completions: 1, shares: 1 },
  ]);
  assert.deepEqual(drainAllocationOutcomes(s), []);
  assert.equal(s.heatedImpressions, 3);
});

test('allocation ids from input that name Object properties are outcomes like any other, and pollute nothing', () => {
  const s = content();
  const ids = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
  for (const allocation_id of ids)
    applyContentInteraction(
      s,
      interaction({ heated: true, event_time: start + 1, allocation_id }),
      false,
      cfg,
    );
  // Checkpointed state goes through JSON or Avro: the outcomes survive the round trip too.
  const restored = JSON.parse(JSON.stringify(s)) as ContentAgentState;
  for (const state of [s, restored])
    assert.deepEqual(
      drainAllocationOutcomes(state).map((o) => [o.allocation_id, o.impressions]),
      ids.toSorted().map((id) => [id, 1]),
    );
  assert.equal(({} as Record<string, unknown>).impressions, undefined);
  assert.equal((Object as unknown as Record<string, unknown>).impressions, undefined);
});
