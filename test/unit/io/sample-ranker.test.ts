import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SampleRanker, type MindReader } from '../../../io/sample-ranker.js';
import { CATEGORIES, SampleTraffic, type PageRequest } from '../../../io/sample-traffic.js';
import { Serde } from '../../../io/serde.js';
import { ActiveAllocationsView } from '../../../ranker/allocations-view.js';
import type { HeatingAllocation, UserInteraction, UserMindState } from '../../../schemas/types.js';

const T = 1_700_000_000_000;
const HOUR = 3_600_000;

function serde(): Serde {
  const s = Serde.local();
  void s.prepareWriter('user-interactions', 'UserInteraction');
  return s;
}

function alloc(i: number, over: Partial<HeatingAllocation> = {}): HeatingAllocation {
  const category = CATEGORIES[i % CATEGORIES.length];
  return {
    allocation_id: `a${i}`,
    content_id: `c${9000 + i}`,
    creator_id: 'cr',
    category,
    valid_from: T,
    valid_until: T + HOUR,
    impressions: 40,
    bid_price: 5,
    cost: 0.4,
    score: 0.8,
    target: { categories: [category], min_curiosity: 0 },
    policy: 'RULE',
    model_version: 'rule-v2',
    reward_weights: { user_satisfaction: 0.4, platform_revenue: 0.3, long_term: 0.3 },
    emitted_at: T,
    ...over,
  };
}

/** Users with an even id are known to the job and explore half the time; odd ones are unknown. */
const minds: MindReader = async (users) =>
  users.map((u): UserMindState | undefined =>
    Number(u.slice(1)) % 2 === 0
      ? {
          user_id: u,
          exploitation: 0.5,
          curiosity: 0.7,
          fatigue: 0.2,
          satisfaction: 0.5,
          explore_probability: 0.5,
          exploration_protected: false,
          interest_breadth: 2,
          version: 1,
          updated_at: T,
        }
      : undefined,
  );

/** Serves `n` requests in slices of 100, as the producer does; returns what was reported. */
async function run(allocations: HeatingAllocation[], n: number, reader: MindReader = minds, stepMs = 50) {
  const view = new ActiveAllocationsView();
  for (const a of allocations) view.apply(a);
  const ranker = new SampleRanker(view, reader);
  const traffic = new SampleTraffic(serde(), {
    seed: 3,
    users: 200,
    contents: 100,
    startTime: T,
    stepMs,
  });
  const out: { req: PageRequest; v: UserInteraction; bytes: string }[] = [];
  for (let done = 0; done < n; done += 100) {
    const reqs = Array.from({ length: 100 }, () => traffic.nextRequest());
    const picks = await ranker.serve(reqs);
    reqs.forEach((req, i) => {
      const v = traffic.interaction(req, picks[i]);
      out.push({ req, v, bytes: traffic.interactionRecord(v).value.toString('hex') });
    });
  }
  return { out, ranker };
}

test('the sample ranker serves allocations through the serving helper: explore gate, targeting, once per user, per-user cap', async () => {
  const allocations = Array.from({ length: 30 }, (_, i) => alloc(i));
  const { out, ranker } = await run(allocations, 6000);
  const heated = out.filter((o) => o.v.heated);
  assert.ok(heated.length > 300, `${heated.length} heated of ${out.length}`);
  const byId = new Map(allocations.map((a) => [a.allocation_id, a]));
  const perUser = new Map<string, string[]>();
  for (const { req, v } of heated) {
    assert.equal(Number(v.user_id.slice(1)) % 2, 0, 'unknown users get no heat');
    const a = byId.get(v.allocation_id ?? '');
    assert.ok(a, `allocation ${v.allocation_id} is one the job emitted`);
    assert.equal(v.content_id, a.content_id);
    assert.ok(
      a.target.categories.some((c) => req.interests.includes(c)),
      'targeted at the user',
    );
    perUser.set(v.user_id, [...(perUser.get(v.user_id) ?? []), v.content_id]);
  }
  const requests = new Map<string, number>();
  for (const { v } of out) requests.set(v.user_id, (requests.get(v.user_id) ?? 0) + 1);
  const { perUserCap, perUserShare } = ranker.server.cfg;
  for (const [user, items] of perUser) {
    assert.equal(new Set(items).size, items.length, `${user} saw a heated item twice`);
    const allowed = Math.max(perUserCap, Math.floor(perUserShare * requests.get(user)!));
    assert.ok(items.length <= allowed, `${user} got ${items.length} within the hour`);
  }
  // Known users explore half the time: about half their requests that could be heated are.
  const known = out.filter((o) => Number(o.v.user_id.slice(1)) % 2 === 0);
  assert.ok(heated.length < 0.6 * known.length);
  for (const a of allocations) assert.ok(ranker.server.served(a.allocation_id) <= a.impressions);
});

test('the same allocations and mind states give the same records; other mind states give others', async () => {
  const allocations = Array.from({ length: 12 }, (_, i) => alloc(i));
  const a = await run(allocations, 2000);
  const b = await run(allocations, 2000);
  assert.deepEqual(
    a.out.map((o) => o.bytes),
    b.out.map((o) => o.bytes),
  );
  const nobody: MindReader = async (users) => users.map(() => undefined);
  const c = await run(allocations, 2000, nobody);
  assert.equal(c.out.filter((o) => o.v.heated).length, 0);
  assert.deepEqual(
    c.out.map((o) => o.req),
    a.out.map((o) => o.req),
    'serving never shifts the stream of requests',
  );
});

test('an allocation not yet valid, expired or out of impressions is not served; one valid is served in full', async () => {
  const { out, ranker } = await run(
    [
      alloc(0, { allocation_id: 'later', valid_from: T + 3 * HOUR, valid_until: T + 4 * HOUR }),
      alloc(1, { allocation_id: 'gone', valid_from: T - 2 * HOUR, valid_until: T - HOUR }),
      alloc(2, { allocation_id: 'small', impressions: 3 }),
    ],
    3000,
    minds,
    2000, // 3000 requests span 100 minutes: the whole validity of `small`
  );
  const served = out.filter((o) => o.v.heated).map((o) => o.v.allocation_id);
  assert.deepEqual([...new Set(served)], ['small']);
  assert.equal(served.length, 3);
  assert.equal(ranker.activeCount(T + 1000), 0, 'small is exhausted, later not valid yet');
});
