// Idle expiry (state.userIdleTtlMs, state.contentIdleTtlMs): a user or content idle past its TTL in
// event time starts over on its next update, exactly as one the store no longer holds (Redis
// expired the key) and whether its state was resident, evicted and reloaded, or gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContentState, UserMindState } from '../../../schemas/types.js';
import { MemoryCheckpointStore } from '../../../state/memory-checkpoint.js';
import type { CheckpointStore, StoredEntry, TaskId } from '../../../state/store.js';
import { createDriver, interaction } from '../../support/driver.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const LATE = 4 * HOUR; // the returning user's and content's event time: idle 4 h > the 1 h TTL

/** Loads as Redis does once a key expired: the keys in `gone` are absent. */
class ExpiringStore implements CheckpointStore {
  readonly gone = new Set<string>();
  constructor(private readonly inner: CheckpointStore) {}
  isAvailable = () => this.inner.isAvailable?.() ?? true;
  acquire = (t: TaskId) => this.inner.acquire(t);
  commit: CheckpointStore['commit'] = (t, r) => this.inner.commit(t, r);
  deleteTask = (t: TaskId) => this.inner.deleteTask(t);
  async load(t: TaskId, store: string, keys: readonly string[]): Promise<Map<string, StoredEntry>> {
    const out = await this.inner.load(t, store, keys);
    for (const k of this.gone) out.delete(k);
    return out;
  }
}

interface Run {
  ttl?: number;
  cacheMaxEntries?: number;
  /** Only the late interaction (a first-time user on a never-seen content). */
  lateOnly?: boolean;
  store?: ExpiringStore;
}

async function run(o: Run): Promise<{ user: UserMindState; content: ContentState; evictions: number }> {
  const d = await createDriver({
    partitions: 1,
    tickMs: MIN,
    agents: { content: { maxHeatingAgeMs: 30 * MIN } },
    userIdleTtlMs: o.ttl ?? HOUR,
    contentIdleTtlMs: o.ttl ?? HOUR,
    cacheMaxEntries: o.cacheMaxEntries ?? 1_000_000,
    checkpoints: o.store,
  });
  if (!o.lateOnly) {
    await d.pipeInput('content-published', [
      {
        content_id: 'c1',
        creator_id: 'cr',
        category: 'tech',
        quality_score: 0.9,
        published_at: 0,
        creator_followers: 10,
      },
    ]);
    const early = [0, 1, 2, 3, 4].map((i) =>
      interaction({ user_id: 'u1', content_id: 'c1', event_time: MIN + i * 1000, click: i % 2 === 0 }),
    );
    await d.pipeInput('user-interactions', early);
    await d.checkpoint();
    // Other users on another content push u1 and c1 out of a small cache.
    for (let b = 0; b < 4; b++) {
      const others = Array.from({ length: 10 }, (_, i) =>
        interaction({ user_id: `v${b}-${i}`, content_id: 'c2', event_time: 2 * MIN + b * 1000 + i }),
      );
      await d.pipeInput('user-interactions', others);
      await d.checkpoint();
    }
  }
  o.store?.gone.add('u1');
  o.store?.gone.add('c1');
  await d.pipeInput('user-interactions', [
    interaction({ user_id: 'u1', content_id: 'c1', event_time: LATE, click: true, event_id: 'late' }),
  ]);
  await d.advanceEventTime(LATE + 2 * MIN);
  const user = d
    .readOutput<UserMindState>('user-mind-state')
    .filter((u) => u.user_id === 'u1')
    .at(-1)!;
  const content = d
    .readOutput<ContentState>('content-state')
    .filter((c) => c.content_id === 'c1')
    .at(-1)!;
  const evictions = d.cacheStats().reduce((s, c) => s + c.evictions, 0);
  return { user: plain(user), content: plain(content), evictions };
}

const plain = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const noVersion = <T extends { version: number }>(x: T): Omit<T, 'version'> => {
  const { version: _v, ...rest } = x;
  return rest;
};

test('a user and a content idle past their TTL start over: the state of a first-time user and content', async () => {
  const resident = await run({});
  const first = await run({ lateOnly: true });
  assert.deepEqual(noVersion(resident.user), noVersion(first.user));
  assert.deepEqual(noVersion(resident.content), noVersion(first.content));
  // Versions go on: strictly increasing per key, as the changelog's readers expect.
  assert.equal(resident.user.version, 5 + 40, 'the offset of the late interaction');
  // A content's versions are counted from the event time of its first update after the gap:
  // above any version it had before, and the same as a content first seen then.
  assert.equal(resident.content.version, first.content.version);
  assert.ok(resident.content.version >= LATE, `content version ${resident.content.version}`);
  // With expiry off (0) the history carries on: the comparison above can fail.
  const never = await run({ ttl: 0 });
  assert.notDeepEqual(noVersion(never.user), noVersion(first.user));
  assert.notDeepEqual(noVersion(never.content), noVersion(first.content));
});

test('resident, evicted and reloaded, or expired from the store: the same state after the idle gap', async () => {
  const resident = await run({});
  const evicted = await run({ cacheMaxEntries: 8 });
  assert.ok(evicted.evictions > 0, 'the small cache evicted');
  assert.deepEqual(evicted.user, resident.user);
  assert.deepEqual(evicted.content, resident.content);
  // The store lost both keys (Redis expired them): the same states and versions (a user's is its
  // offset, a content's is counted from the event time of its first update after the gap).
  const expired = await run({ cacheMaxEntries: 8, store: new ExpiringStore(new MemoryCheckpointStore()) });
  assert.deepEqual(expired.user, resident.user);
  assert.deepEqual(expired.content, resident.content);
});
