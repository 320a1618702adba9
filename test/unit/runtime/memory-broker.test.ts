// Retention of the in-memory broker: a 'delete' topic drops records once every subscribed group
// has committed past them, a 'compact' topic keeps the latest record per key below that point.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBroker } from '../../../runtime/memory-broker.js';

const v = (s: string) => Buffer.from(s);

function appendN(b: MemoryBroker, topic: string, n: number, keyOf: (i: number) => string | null) {
  for (let i = 0; i < n; i++) b.append(topic, keyOf(i), v(`v${i}`), i, 0);
}

test('delete: records stay until every subscribed group has committed past them', () => {
  const b = new MemoryBroker();
  b.createTopic('t', 1);
  b.subscribe('fast', 't');
  b.subscribe('slow', 't');
  appendN(b, 't', 100, () => null);

  b.commit('fast', 't', 0, 100);
  assert.equal(b.retained('t', 0), 100, 'the group that has not committed keeps every record');
  assert.deepEqual(
    b.read('t', 0, 0, 3).map((r) => r.offset),
    [0, 1, 2],
  );

  b.commit('slow', 't', 0, 60);
  assert.equal(b.retained('t', 0), 40, 'below the lowest commit: gone');
  assert.equal(b.end('t', 0), 100, 'offsets do not move');
  assert.deepEqual(
    b.read('t', 0, 60, 2).map((r) => [r.offset, r.value.toString()]),
    [
      [60, 'v60'],
      [61, 'v61'],
    ],
  );
  assert.throws(() => b.read('t', 0, 59, 1), /t\/0: offset 59 was deleted \(the log starts at 60\)/);

  b.append('t', null, v('late'), 0, 0);
  b.commit('slow', 't', 0, 101);
  assert.equal(b.retained('t', 0), 1, "the fast group's commit (100) now bounds it");
  assert.equal(b.read('t', 0, 100, 5)[0].value.toString(), 'late');
});

test('delete: a topic nobody subscribed to keeps everything; commits need a subscription', () => {
  const b = new MemoryBroker();
  b.createTopic('dlq', 1);
  appendN(b, 'dlq', 50, () => null);
  assert.equal(b.all('dlq').length, 50);
  assert.throws(() => b.commit('g', 'dlq', 0, 50), /group g is not subscribed to dlq/);
});

test('delete: a group subscribing later starts at the log start; partitions are independent', () => {
  const b = new MemoryBroker();
  b.createTopic('t', 2);
  b.subscribe('a', 't');
  for (let i = 0; i < 20; i++) b.append('t', null, v(`p${i % 2}-${i}`), i, i % 2);
  b.commit('a', 't', 0, 10);
  assert.deepEqual([b.retained('t', 0), b.retained('t', 1)], [0, 10]);
  b.subscribe('b', 't');
  b.commit('a', 't', 1, 10);
  assert.equal(b.retained('t', 1), 10, "b's position (0 on partition 1) holds the records for it");
  b.commit('b', 't', 1, 4);
  assert.equal(b.retained('t', 1), 6);
});

test('compact: below every commit only the latest record per key stays; a late reader sees latest values', () => {
  const b = new MemoryBroker();
  b.createTopic('state', 1, 'compact');
  b.subscribe('job', 'state');
  appendN(b, 'state', 5000, (i) => `k${i % 10}`);
  assert.equal(b.retained('state', 0), 5000, 'nothing committed: every update kept for the group');

  b.commit('job', 'state', 0, 5000);
  assert.equal(b.retained('state', 0), 10, 'one record per key');

  b.append('state', 'k3', v('newest-k3'), 0, 0);
  b.append('state', 'k11', v('new-key'), 0, 0);
  const seen = new Map<string, string>();
  const read = b.read('state', 0, 0, 1000);
  for (const r of read) seen.set(r.key!, r.value.toString());
  assert.deepEqual(
    read.map((r) => r.offset),
    [...read.map((r) => r.offset)].sort((x, y) => x - y),
    'in offset order',
  );
  assert.equal(seen.size, 11);
  for (let k = 0; k < 10; k++) {
    const latest = k === 3 ? 'newest-k3' : `v${4990 + k}`;
    assert.equal(seen.get(`k${k}`), latest, `k${k}: its latest value`);
  }
  assert.equal(seen.get('k11'), 'new-key');
  assert.deepEqual(
    b.read('state', 0, 4995, 3).map((r) => r.offset),
    [4995, 4996, 4997],
    'a read inside the compacted part starts at the next surviving record',
  );
});

test('compact: a changelog nobody reads is compacted as it grows', () => {
  const b = new MemoryBroker();
  b.createTopic('state', 1, 'compact');
  appendN(b, 'state', 20_000, (i) => `k${i % 50}`);
  assert.ok(b.retained('state', 0) <= 2 * 50 + 1024, `bounded by keys: ${b.retained('state', 0)}`);
  const latest = new Map(b.all('state').map((r) => [r.key, r.value.toString()]));
  assert.equal(latest.size, 50);
  assert.equal(latest.get('k7'), `v${20_000 - 50 + 7}`);
});

test('a topic is created once, with one partition count and one cleanup policy', () => {
  const b = new MemoryBroker();
  b.createTopic('t', 2, 'compact');
  b.createTopic('t', 2, 'compact');
  assert.throws(() => b.createTopic('t', 3, 'compact'), /exists with 2 partitions, not 3/);
  assert.throws(() => b.createTopic('t', 2), /exists with cleanup policy compact, not delete/);
});
