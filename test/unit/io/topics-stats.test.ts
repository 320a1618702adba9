import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dlqTopic, internalTopics, jobTopicSpecs, TOPICS } from '../../../io/topics.js';

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
