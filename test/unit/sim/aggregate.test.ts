import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimate, summarize, t975 } from '../../../sim/aggregate.js';
import type { Metrics, RunResult } from '../../../sim/metrics.js';

test('estimate: mean and Student-t 95% interval; no interval from one value', () => {
  const e = estimate([1, 2, 3, 4]);
  assert.equal(e.mean, 2.5);
  const half = (3.182 * Math.sqrt(5 / 3)) / 2;
  assert.ok(Math.abs((e.hi as number) - (2.5 + half)) < 1e-12);
  assert.ok(Math.abs((e.lo as number) - (2.5 - half)) < 1e-12);
  assert.deepEqual(estimate([7]), { mean: 7, lo: null, hi: null, n: 1 });
  assert.equal(estimate([1, NaN, 3]).n, 2, 'non-finite values are left out');
  assert.ok(Math.abs(t975(40) - 2.021) < 0.002);
  assert.ok(Math.abs(t975(120) - 1.98) < 0.002);
});

const run = (m: Partial<Metrics>, ctr: number[]): RunResult => ({
  metrics: { engagement: 0, heating_cost: 0, ...m } as Metrics,
  series: {
    days: ctr.map((_, i) => i),
    new_content_ctr: ctr,
    interest_diversity: ctr,
    impressions: ctr,
    heated_share: ctr,
    retention: ctr,
  },
  lorenz: [
    [0, 0],
    [0.5, ctr[0]],
    [1, 1],
  ],
});

test('summarize: per-metric, per-day and Lorenz means; lifts paired by seed, zero baselines left out', () => {
  const s = summarize([1, 2], {
    base: [
      run({ engagement: 100, heating_cost: 0 }, [0.1, 0.2]),
      run({ engagement: 200, heating_cost: 0 }, [0.3, 0.4]),
    ],
    other: [
      run({ engagement: 110, heating_cost: 5 }, [0.2, 0.2]),
      run({ engagement: 240, heating_cost: 7 }, [0.5, 0.4]),
    ],
  });
  assert.equal(s.baseline, 'base');
  assert.equal(s.metrics.other.engagement.mean, 175);
  const day1 = s.series.base.find((r) => r.day === 1 && r.metric === 'new_content_ctr');
  assert.ok(Math.abs((day1?.value.mean ?? 0) - 0.3) < 1e-12);
  assert.deepEqual(s.lorenz.other[1], [0.5, 0.35]);
  const lift = s.lifts.find((l) => l.metric === 'engagement');
  assert.ok(Math.abs((lift?.lift.mean ?? 0) - 0.15) < 1e-12, 'mean of +10% and +20%');
  assert.equal(
    s.lifts.find((l) => l.metric === 'heating_cost'),
    undefined,
  );
});
