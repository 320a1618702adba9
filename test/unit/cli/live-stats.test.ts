import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { formatStats, startLiveStats, type Stats } from '../../../cli/live-stats.js';

test('live stats: the rate over each interval, with the counters sampled at its end', () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    let t = 0;
    let n = 0;
    const emitted: Stats[] = [];
    const stop = startLiveStats(
      () => ({ recordsIn: n, dlq: 3, lag: 7, allocations: 2 }),
      (s) => emitted.push(s),
      {
        intervalMs: 2000,
        now: () => t,
      },
    );
    n = 5000;
    t = 2000;
    mock.timers.tick(2000);
    t = 4000;
    mock.timers.tick(2000);
    stop();
    mock.timers.tick(2000);
    assert.deepEqual(emitted, [
      { recordsIn: 5000, dlq: 3, lag: 7, allocations: 2, recordsPerSec: 2500 },
      { recordsIn: 5000, dlq: 3, lag: 7, allocations: 2, recordsPerSec: 0 },
    ]);
  } finally {
    mock.timers.reset();
  }
});

test('heated and organic CTR are over the last few intervals, from the served tallies', () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    let served = { heatedImpressions: 0, heatedClicks: 0, organicImpressions: 0, organicClicks: 0 };
    const emitted: Stats[] = [];
    const stop = startLiveStats(
      () => ({ recordsIn: 0, dlq: 0, lag: 0, served }),
      (s) => emitted.push(s),
      { intervalMs: 1000, now: () => 0, ctrIntervals: 2 },
    );
    // Interval 1: nothing heated yet. 2: 100 heated, 20 clicked. 3: 100 more, none clicked.
    const steps = [
      { heatedImpressions: 0, heatedClicks: 0, organicImpressions: 1000, organicClicks: 50 },
      { heatedImpressions: 100, heatedClicks: 20, organicImpressions: 1900, organicClicks: 95 },
      { heatedImpressions: 200, heatedClicks: 20, organicImpressions: 2900, organicClicks: 195 },
    ];
    for (const s of steps) {
      served = s;
      mock.timers.tick(1000);
    }
    stop();
    assert.deepEqual(
      emitted.map((s) => [s.heatedCtr, s.organicCtr]),
      [
        [null, 0.05],
        [0.2, 95 / 1900],
        [0.1, 145 / 1900], // the window now starts after interval 1
      ],
    );
  } finally {
    mock.timers.reset();
  }
});

test('the terminal line shows what was sampled, and only that', () => {
  assert.equal(
    formatStats({ recordsIn: 5000, dlq: 3, lag: 7, recordsPerSec: 2500 }),
    '[stats] in 2500 rec/s (total 5000)  dlq 3  lag 7',
  );
  assert.equal(
    formatStats({
      recordsIn: 10,
      dlq: 0,
      lag: 0,
      recordsPerSec: 5,
      produced: 12,
      allocations: 4,
      allocationsActive: 3,
      heatedShare: 0.0123,
      heatedCtr: 0.1234,
      organicCtr: null,
      poolRemaining: 98765.4,
      model: 7,
      ready: true,
    }),
    '[stats] in 5 rec/s (total 10)  dlq 0  lag 0  produced 12  allocations 4 (active 3)  heated share 1.2%  ctr heated 12.3% organic –  pool 98765  model allocation@7  ready true',
  );
  assert.equal(
    formatStats({ recordsIn: 1, dlq: 0, lag: 0, recordsPerSec: 1, model: 0 }),
    '[stats] in 1 rec/s (total 1)  dlq 0  lag 0  model rule',
  );
});
