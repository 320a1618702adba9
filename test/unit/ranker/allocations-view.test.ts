import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActiveAllocationsView } from '../../../ranker/allocations-view.js';
import type { HeatingAllocation } from '../../../schemas/types.js';

const allocation = (id: string, from: number, until: number, impressions = 100): HeatingAllocation => ({
  allocation_id: id,
  content_id: `c-${id}`,
  creator_id: 'cr1',
  category: 'tech',
  valid_from: from,
  valid_until: until,
  impressions,
  bid_price: 8,
  cost: 0.8,
  score: 0.7,
  target: { categories: ['tech'], min_curiosity: 0.5 },
  policy: 'RULE',
  model_version: 'rule',
  reward_weights: { user_satisfaction: 0.4, platform_revenue: 0.3, long_term: 0.3 },
  emitted_at: from,
});

test('the view serves allocations inside [valid_from, valid_until), earliest expiry first', () => {
  const v = new ActiveAllocationsView();
  v.apply(allocation('a', 0, 100));
  v.apply(allocation('b', 0, 50));
  v.apply(allocation('later', 60, 200));
  assert.deepEqual(
    v.active(10).map((a) => a.allocation_id),
    ['b', 'a'],
  );
  assert.deepEqual(
    v.active(60).map((a) => a.allocation_id),
    ['a', 'later'],
  );
  assert.equal(v.size, 2, 'b expired and was forgotten');
  assert.deepEqual(
    v.active(100).map((a) => a.allocation_id),
    ['later'],
  );
});

test('a replayed allocation_id replaces the first copy; an expired one is not kept', () => {
  const v = new ActiveAllocationsView();
  v.apply(allocation('a', 0, 100, 100));
  v.apply(allocation('a', 0, 100, 100));
  assert.equal(v.size, 1);
  v.apply(allocation('old', 0, 10), 20);
  assert.equal(v.get('old'), undefined);
  assert.equal(v.get('a')?.impressions, 100);
});
