// The online learner's reward join (learn/online/reward-join.ts): the scorer's decision in the tick
// report is joined to the tick's allocations and their delivered outcomes by content id, whatever
// the order of the decision's rows and of the report's requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeatingRequest } from '../../../agents/content.js';
import { ALLOCATION_FEATURE_COUNT, type TickDecision } from '../../../agents/scorer.js';
import type { TickMetrics } from '../../../agents/system.js';
import { RewardJoin } from '../../../learn/online/reward-join.js';
import type { TickReport } from '../../../pipelines/allocator-task.js';
import type { AllocationOutcome, HeatingAllocation } from '../../../schemas/types.js';

const TICK = 60_000;
const T = 1000 * TICK;
const W = { user_satisfaction: 0.4, platform_revenue: 0.3, long_term: 0.3 };
const TOTALS = { impressions: 0, heated_impressions: 0, new_content_impressions: 0, new_content_clicks: 0 };

function report(tick: number, o: Partial<TickReport>): TickReport {
  return {
    tick,
    metrics: {} as TickMetrics,
    allocations: [],
    outcomes: [],
    requests: [],
    totals: TOTALS,
    live: null,
    objectives: null,
    weights: W,
    decision: null,
    ...o,
  };
}

const grant = (contentId: string): HeatingAllocation =>
  ({
    allocation_id: `a-${contentId}`,
    content_id: contentId,
    impressions: 10,
    cost: 0,
    valid_until: T + TICK,
    reward_weights: W,
  }) as HeatingAllocation;

const outcome = (contentId: string, clicks: number): AllocationOutcome => ({
  allocation_id: `a-${contentId}`,
  content_id: contentId,
  impressions: 10,
  clicks,
  completion_sum: clicks,
  shares: 0,
});

test('each row of the decision is joined to the allocation and outcome of its own content id', () => {
  const join = new RewardJoin({
    reward: { graceMs: 0, maxCost: 1, costWeight: 0.5 },
    credit: 'bandit',
    maxDenialsPerTick: 48,
    seed: 1,
    threshold: 0.3,
  });
  // Rows in neither content-id nor request order; column 0 marks the row, logProb too.
  const features = new Float32Array(3 * ALLOCATION_FEATURE_COUNT);
  for (let i = 0; i < 3; i++) features[i * ALLOCATION_FEATURE_COUNT] = (i + 1) / 10;
  const decision: TickDecision = {
    policy: 'LEARNED',
    version: 'allocation@4',
    contentIds: ['c2', 'c0', 'c1'],
    features,
    scores: Float32Array.of(0.9, 0.2, 0.8),
    actions: Uint8Array.of(1, 0, 1),
    logProbs: Float64Array.of(-0.1, -0.2, -0.3),
  };
  const requests = ['c0', 'c1', 'c2'].map((content_id) => ({ content_id }) as HeatingRequest);
  const d = join.record(report(T, { requests, allocations: [grant('c1'), grant('c2')], decision }));
  assert.deepEqual(
    d && { rows: d.rows, approvals: d.approvals, denials: d.recordedDenials, version: d.version },
    { rows: 3, approvals: 2, denials: 1, version: 'allocation@4' },
  );
  // c2's grant engages, c1's does not.
  join.observe(report(T + TICK, { outcomes: [outcome('c2', 10), outcome('c1', 0)] }));
  const settled = join.settle(T + TICK);
  assert.deepEqual(
    settled.map((g) => [g.policy, g.version]),
    [
      ['LEARNED', 'allocation@4'],
      ['LEARNED', 'allocation@4'],
    ],
  );
  const byRow = new Map(
    join.buffer
      .drain()
      .map((e) => [Math.round(e.obs[0] * 10), { action: e.action, logProb: e.logProb, reward: e.reward }]),
  );
  assert.deepEqual([...byRow.keys()].sort(), [1, 2, 3]);
  assert.deepEqual(byRow.get(2), { action: 0, logProb: -0.2, reward: 0 }, 'c0: the denial, settled at once');
  assert.deepEqual([byRow.get(1)!.action, byRow.get(1)!.logProb], [1, -0.1]);
  assert.deepEqual([byRow.get(3)!.action, byRow.get(3)!.logProb], [1, -0.3]);
  assert.ok(byRow.get(1)!.reward > byRow.get(3)!.reward, 'c2 (row 1) earned the engaged outcome');
});

test('a tick without a decision records nothing', () => {
  const join = new RewardJoin({
    reward: {},
    credit: 'marginal',
    maxDenialsPerTick: 48,
    seed: 1,
    threshold: 0.3,
  });
  assert.equal(join.record(report(T, { allocations: [grant('c1')] })), null);
  assert.equal(join.buffer.stats().pending, 0);
});
