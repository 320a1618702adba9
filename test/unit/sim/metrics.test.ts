import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gini, lorenz, maxRollingShare, precisionRecall, std, topKShare } from '../../../sim/metrics.js';

test('gini: equal exposures give 0, one holder of everything gives (n-1)/n', () => {
  assert.equal(gini([5, 5, 5, 5]), 0);
  assert.equal(gini([0, 0, 0, 1]), 0.75);
  assert.equal(gini([0, 0, 0, 0]), 0);
  assert.equal(gini([]), 0);
  // [1,2,3,4]: 2·(1+4+9+16)/(4·10) − 5/4 = 0.25
  assert.ok(Math.abs(gini([4, 1, 3, 2]) - 0.25) < 1e-12);
});

test('topKShare: share of the k largest values', () => {
  assert.equal(topKShare([2, 5, 3], 1), 0.5);
  assert.equal(topKShare([2, 5, 3], 2), 0.8);
  assert.equal(topKShare([2, 5, 3], 10), 1);
  assert.equal(topKShare([0, 0], 1), 0);
});

test('lorenz: equal exposures lie on the diagonal, concentrated ones under it', () => {
  for (const [x, y] of lorenz([3, 3, 3, 3], 4)) assert.ok(Math.abs(x - y) < 1e-12);
  const l = lorenz([0, 0, 0, 8], 4);
  assert.deepEqual(l, [
    [0, 0],
    [0.25, 0],
    [0.5, 0],
    [0.75, 0],
    [1, 1],
  ]);
});

test('precision and recall of flagged content against the ground truth', () => {
  const truth = new Set(['a', 'b', 'c', 'd']);
  assert.deepEqual(precisionRecall(new Set(['a', 'b', 'x']), truth), { precision: 2 / 3, recall: 0.5 });
  assert.deepEqual(precisionRecall(new Set(), truth), { precision: 0, recall: 0 });
});

test('maxRollingShare: max heated share over windows with enough impressions', () => {
  // windows of 2 buckets: (1/10, 4/20, 9/20) but the last bucket alone is ignored by size
  assert.equal(maxRollingShare([1, 3, 6], [10, 10, 10], 2, 15), 9 / 20);
  assert.equal(maxRollingShare([5, 0], [5, 100], 1, 10), 0);
  assert.equal(std([1, 3]), 1);
  assert.equal(std([7]), 0);
});
