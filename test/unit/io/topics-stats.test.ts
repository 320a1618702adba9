import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { dlqTopic, internalTopics, jobTopicSpecs, TOPICS } from '../../../io/topics.js';
import { startLiveStats } from '../../../cli/live-stats.js';

test('topic names follow SPEC §2; internal topics carry the app id; partition counts as designed', () => {
  assert.equal(dlqTopic(TOPICS.userInteractions), 'user-interactions.dlq');
  assert.deepEqual(internalTopics('thermo-a'), {
    contentEvents: 'thermo-a-content-events',
    allocatorInput: 'thermo-a-allocator-input',
  });
  const specs = new Map(jobTopicSpecs('app', 8).map((s) => [s.name, s]));
  assert.equal(specs.get('user-interactions')?.partitions, 8);
  assert.equal(specs.get('content-published')?.partitions, 8);
  assert.equal(specs.get('app-content-events')?.partitions, 8, 'co-partitioned with the inputs');
  assert.equal(specs.get('app-allocator-input')?.partitions, 1, 'single writer of the budget pool');
  assert.equal(specs.get('user-mind-state')?.config?.['cleanup.policy'], 'compact');
  assert.equal(specs.get('content-state')?.config?.['cleanup.policy'], 'compact');
  assert.ok(specs.has('user-interactions.dlq') && specs.has('content-published.dlq'));
});

test('live stats print the rate over the interval, DLQ total and lag', () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    let t = 0;
    let n = 0;
    const lines: string[] = [];
    const stop = startLiveStats(() => ({ recordsIn: n, dlq: 3, lag: 7 }), {
      intervalMs: 2000,
      write: (l) => lines.push(l),
      now: () => t,
    });
    n = 5000;
    t = 2000;
    mock.timers.tick(2000);
    n = 5000;
    t = 4000;
    mock.timers.tick(2000);
    stop();
    assert.deepEqual(lines, [
      '[stats] in 2500 rec/s (total 5000)  dlq 3  lag 7',
      '[stats] in 0 rec/s (total 5000)  dlq 3  lag 7',
    ]);
  } finally {
    mock.timers.reset();
  }
});
