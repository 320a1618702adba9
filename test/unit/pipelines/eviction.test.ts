// A cache far smaller than the key space evicts (clean entries, between batches): the graph must
// reload what it needs, buffered records' contents included, and give the unbounded outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContentState, HeatingAllocation, UserMindState } from '../../../schemas/types.js';
import { createDriver } from '../../support/driver.js';
import { scenario } from '../../support/scenario.js';

const MIN = 60_000;

async function run(cacheMaxEntries: number, localHop: boolean) {
  const d = await createDriver({ partitions: 2, tickMs: MIN, batchSize: 53, cacheMaxEntries, localHop });
  const { contents, interactions } = scenario(5, {
    contents: 40,
    interactions: 3000,
    users: 120,
    categories: 4,
    startMs: MIN,
    stepMs: 150,
    clickRate: 0.25,
  });
  await d.pipeInput('content-published', contents);
  for (let i = 0; i < interactions.length; i += 250) {
    await d.pipeInput('user-interactions', interactions.slice(i, i + 250));
    await d.checkpoint(); // entries become clean, hence evictable
  }
  await d.advanceEventTime(MIN + 3000 * 150 + 2 * MIN);
  const plain = <T>(xs: T[]): T[] => xs.map((x) => JSON.parse(JSON.stringify(x)) as T);
  const latest = <T>(xs: T[], key: (x: T) => string) => {
    const m = new Map<string, T>();
    for (const x of xs) m.set(key(x), x);
    return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v);
  };
  const evictions = d.cacheStats().reduce((s, c) => s + c.evictions, 0);
  return {
    evictions,
    allocations: plain(d.readOutput<HeatingAllocation>('heating-allocations')),
    users: latest(plain(d.readOutput<UserMindState>('user-mind-state')), (u) => u.user_id),
    content: latest(plain(d.readOutput<ContentState>('content-state')), (c) => c.content_id),
  };
}

test('a content/user cache of 8 entries evicts and reloads, with the outputs of an unbounded one', async () => {
  const big = await run(1_000_000, false);
  for (const localHop of [false, true]) {
    const small = await run(8, localHop);
    assert.ok(small.evictions > 0, 'the small cache evicted');
    assert.equal(big.evictions, 0);
    assert.deepEqual(small.allocations, big.allocations);
    assert.deepEqual(small.users, big.users);
    assert.deepEqual(small.content, big.content);
  }
});
