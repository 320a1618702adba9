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
      heatedShare: 0.0123,
      ready: true,
    }),
    '[stats] in 5 rec/s (total 10)  dlq 0  lag 0  produced 12  allocations 4  heated share 1.2%  ready true',
  );
});
