import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeatingServer } from '../../../index.js';
import type { HeatingAllocation, UserMindState } from '../../../schemas/types.js';
import { heatingAllocation } from '../../support/allocation.js';

const T = 1_700_000_000_000;
const HOUR = 3_600_000;

function alloc(id: string, over: Partial<HeatingAllocation> = {}): HeatingAllocation {
  return heatingAllocation({ allocation_id: `a-${id}`, content_id: id, ...over });
}

function mind(over: Partial<UserMindState> = {}): UserMindState {
  return {
    user_id: 'u',
    exploitation: 0.5,
    curiosity: 0.5,
    fatigue: 0.2,
    satisfaction: 0.6,
    explore_probability: 1,
    exploration_protected: false,
    interest_breadth: 3,
    version: 1,
    updated_at: T,
    ...over,
  };
}

const ask = (s: HeatingServer, over: Partial<Parameters<HeatingServer['pick']>[0]> = {}) =>
  s.pick({ userId: 'u1', now: T + HOUR / 2, categories: ['tech'], mind: mind(), draw: 0, ...over });

test('the explore probability gates the slot: a draw at or above it gets no heat; no mind state means none', () => {
  const s = new HeatingServer();
  s.ingest([alloc('c1')]);
  assert.equal(ask(s, { mind: mind({ explore_probability: 0.3 }), draw: 0.3 }), null);
  assert.equal(ask(s, { mind: undefined }), null, 'unknown users are protected (坑5)');
  const p = ask(s, { mind: mind({ explore_probability: 0.3 }), draw: 0.29 });
  assert.equal(p?.contentId, 'c1');
  assert.equal(p?.allocationId, 'a-c1');
  assert.equal(p?.cost, 0.5 / 100);
  assert.equal(s.served('a-c1'), 1);
});

test('targets: categories must intersect the user’s, curiosity must reach min_curiosity, excluded content is skipped', () => {
  const s = new HeatingServer();
  s.ingest([
    alloc('food', { category: 'food', target: { categories: ['food'], min_curiosity: 0 } }),
    alloc('curious', { target: { categories: ['tech'], min_curiosity: 0.7 } }),
    alloc('anyone', { category: 'travel', target: { categories: [], min_curiosity: 0 } }),
  ]);
  assert.equal(ask(s, { categories: ['beauty'] })?.contentId, 'anyone', 'an empty target matches everyone');
  assert.equal(ask(s, { userId: 'u2', mind: mind({ curiosity: 0.9 }) })?.contentId, 'curious');
  assert.equal(ask(s, { userId: 'u3', mind: mind({ curiosity: 0.5 }) })?.contentId, 'anyone');
  assert.equal(ask(s, { userId: 'u4', categories: ['beauty'], exclude: (id) => id === 'anyone' }), null);
});

test('a match in the user’s own category comes before an adjacent one, then the allocation furthest behind schedule', () => {
  const s = new HeatingServer();
  s.ingest([
    alloc('adjacent', { category: 'science', impressions: 1000 }),
    alloc('own-small', { impressions: 10 }),
    alloc('own-big', { impressions: 50 }),
  ]);
  assert.equal(ask(s)?.contentId, 'own-big');
  assert.equal(ask(s, { categories: ['science'], userId: 'u2' })?.contentId, 'adjacent');
});

test('delivery is paced over the validity: at most paceAhead ahead of an even schedule', () => {
  const s = new HeatingServer({ paceAhead: 0.25, perUserCap: 1000 });
  s.ingest([alloc('c1', { impressions: 8 })]);
  // A quarter into the validity: due = 8 × (0.25 + 0.25) = 4.
  let n = 0;
  for (let i = 0; i < 10; i++) if (ask(s, { userId: `u${i}`, now: T + HOUR / 4 })) n++;
  assert.equal(n, 4);
  for (let i = 0; i < 10; i++) if (ask(s, { userId: `v${i}`, now: T + HOUR - 1 })) n++;
  assert.equal(n, 8, 'all of it by the end, never more');
  assert.equal(ask(s, { userId: 'w', now: T + HOUR }), null, 'expired');
});

test('trials come before other heat in the same category tier, the most-served trial first, and are not paced', () => {
  const s = new HeatingServer({ paceAhead: 0, perUserCap: 1000 });
  s.ingest([
    alloc('evidence', { impressions: 1000 }),
    alloc('trial-a', { impressions: 5, trial: true }),
    alloc('trial-b', { impressions: 5, trial: true }),
    alloc('adjacent-trial', { category: 'science', impressions: 5, trial: true }),
  ]);
  // At valid_from with paceAhead 0 paced heat is due nothing yet; a trial is due all of it.
  const at = { now: T };
  assert.equal(ask(s, { ...at, userId: 'u0', exclude: (id) => id === 'trial-a' })?.contentId, 'trial-b');
  // trial-b has one served: it is finished before trial-a starts.
  const picks: string[] = [];
  for (let i = 1; i <= 5; i++) picks.push(ask(s, { ...at, userId: `u${i}` })?.contentId ?? 'none');
  assert.deepEqual(picks, ['trial-b', 'trial-b', 'trial-b', 'trial-b', 'trial-a']);
  assert.equal(s.served('a-trial-b'), 5);
  // An own-category trial comes before a trial that only matches an adjacent category.
  assert.equal(ask(s, { ...at, userId: 'u6' })?.contentId, 'trial-a');
  assert.equal(ask(s, { ...at, userId: 'u7', categories: ['science'] })?.contentId, 'adjacent-trial');
  // Without the flag (an older writer), the same small allocation is paced like any other.
  const old = new HeatingServer({ paceAhead: 0, perUserCap: 1000 });
  old.ingest([alloc('untagged', { impressions: 5 })]);
  assert.equal(ask(old, at), null);
  assert.equal(ask(old, { userId: 'u2', now: T + HOUR / 2 })?.contentId, 'untagged');
});

test('per-user frequency cap: at most perUserCap heated impressions per window; a cancelled pick gives both back', () => {
  const s = new HeatingServer({ perUserCap: 2, capWindowMs: HOUR });
  s.ingest([alloc('c1'), alloc('c2'), alloc('c3')]);
  const a = ask(s);
  assert.ok(a);
  assert.ok(ask(s, { now: T + HOUR / 2 + 1 }));
  assert.equal(ask(s, { now: T + HOUR / 2 + 2 }), null, 'capped');
  s.cancel(a, 'u1');
  assert.equal(s.served(a.allocationId), 0);
  assert.ok(ask(s, { now: T + HOUR / 2 + 3 }), 'the cancelled pick no longer counts');
  assert.ok(ask(s, { userId: 'u2' }), 'other users are not capped');
});

test('with N instances each serves its share of an allocation; same calls, same answers', () => {
  const s = new HeatingServer({ trafficShare: 0.5, perUserCap: 1000, paceAhead: 1 });
  s.ingest([alloc('c1', { impressions: 5 })]);
  let n = 0;
  for (let i = 0; i < 10; i++) if (ask(s, { userId: `u${i}` })) n++;
  assert.equal(n, 3, 'ceil(5 × 0.5)');
  assert.throws(() => new HeatingServer({ trafficShare: 0 }), RangeError);
  const run = () => {
    const x = new HeatingServer();
    x.ingest([alloc('c1', { impressions: 3 }), alloc('c2', { impressions: 3, category: 'science' })]);
    return Array.from(
      { length: 8 },
      (_, i) =>
        x.pick({
          userId: `u${i % 3}`,
          now: T + i * 60_000,
          categories: ['science', 'tech'],
          mind: mind(),
          draw: i / 8,
        })?.contentId ?? null,
    );
  };
  assert.deepEqual(run(), run());
});

test('re-ingesting the same allocations (a replay, or a re-synced view) keeps what was served, also once exhausted', () => {
  const s = new HeatingServer({ perUserCap: 1000, paceAhead: 1 });
  const a = alloc('c1', { impressions: 2 });
  s.ingest([a]);
  assert.ok(ask(s, { userId: 'u1' }));
  assert.ok(ask(s, { userId: 'u2', now: T + HOUR / 2 + 120_000 }));
  s.ingest([a]);
  assert.equal(s.served('a-c1'), 2);
  assert.equal(ask(s, { userId: 'u3', now: T + HOUR / 2 + 240_000 }), null);
});
