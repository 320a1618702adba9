import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  ContentPublished,
  HeatingAllocation,
  UserInteraction,
  UserMindState,
} from '../../../schemas/types.js';
import { defaultWorldConfig, type WorldConfig } from '../../../sim/config.js';
import { makeArm, simulate } from '../../../sim/engine.js';
import { createPolicy, UnknownPolicyError } from '../../../sim/policies.js';
import { ManualHeatingPolicy, defaultManualOptions, type RegulationPolicy } from '../../../sim/policy.js';
import { ContentStats } from '../../../sim/ranker.js';
import { policyContext, runPolicy, runSideBySide } from '../../../sim/run.js';
import { World } from '../../../sim/world.js';

test('same seed gives identical numbers; another seed gives different ones', async () => {
  const cfg = defaultWorldConfig({ users: 300, days: 2, seed: 11 });
  const a = await runPolicy('manual', cfg);
  const b = await runPolicy('manual', cfg);
  assert.deepEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
  const c = await runPolicy('manual', { ...cfg, seed: 12 });
  assert.notDeepEqual(JSON.parse(JSON.stringify(c.metrics)), JSON.parse(JSON.stringify(a.metrics)));
});

// Stated configuration: 800 users, 3 days, seed 1 (catalog: 1000 pre-existing items + ~100/day).
const matthew = runSideBySide(['popularity', 'manual'], { world: { users: 800, days: 3, seed: 1 } });

test('popularity ranking shows a strong Matthew effect (top100_share > 0.40, exposure_gini > 0.65)', async () => {
  const p = (await matthew).policies.popularity.metrics;
  assert.ok(p.top100_share > 0.4, `top100_share ${p.top100_share}`);
  assert.ok(p.exposure_gini > 0.65, `exposure_gini ${p.exposure_gini}`);
  assert.equal(p.heated_impressions, 0);
  assert.equal(p.heating_cost, 0);
});

test('manual heating raises new-content exposure and cold start vs popularity, and flattens exposure', async () => {
  const { popularity: p, manual: m } = (await matthew).policies;
  assert.ok(
    m.metrics.new_content_impression_share > 2 * p.metrics.new_content_impression_share,
    `${m.metrics.new_content_impression_share} vs ${p.metrics.new_content_impression_share}`,
  );
  assert.ok(m.metrics.cold_start_success > p.metrics.cold_start_success);
  assert.ok(m.metrics.top100_share < p.metrics.top100_share);
  assert.ok(m.metrics.exposure_gini < p.metrics.exposure_gini);
  // Manual heat is priced like Thermostat's: the content agent's bid per mille for new content,
  // quality·10·(1 + 0.01·10) / 1000 coins per delivered impression (quality in [0,1]).
  assert.ok(m.metrics.heating_cost > 0);
  assert.ok(m.metrics.heating_cost <= (m.metrics.heated_impressions * 11) / 1000 + 1e-9);
  assert.ok(
    m.metrics.heating_cost < (m.metrics.heated_impressions / 1000) * 11 * 0.9,
    'not every item has quality 1',
  );
  assert.ok(m.metrics.heated_impressions > 0);
});

/** A scripted policy: records what it is fed, heats one content per tick with a curiosity target,
 * and serves a mind state (curious = even user index). */
class ScriptedPolicy implements RegulationPolicy {
  readonly name = 'scripted';
  published: ContentPublished[] = [];
  seen: UserInteraction[] = [];
  /** Event time of every record delivered after the initial catalog, in delivery order. */
  times: number[] = [];
  allocs: HeatingAllocation[] = [];
  private out: HeatingAllocation[] = [];
  private fresh: ContentPublished[] = [];
  constructor(private readonly explore: number) {}
  onPublished(recs: ContentPublished[]): void {
    if (this.published.length > 0) this.times.push(...recs.map((r) => r.published_at));
    this.published.push(...recs);
    this.fresh.push(...recs.filter((r) => r.published_at >= Date.UTC(2026, 0, 5)));
  }
  onInteractions(recs: UserInteraction[]): void {
    this.seen.push(...recs);
    this.times.push(...recs.map((r) => r.event_time));
  }
  advanceTo(t: number): void {
    const c = this.fresh.find((r) => r.published_at < t);
    if (!c) return;
    this.fresh = this.fresh.filter((r) => r !== c);
    const a: HeatingAllocation = {
      allocation_id: `a-${c.content_id}`,
      content_id: c.content_id,
      creator_id: c.creator_id,
      category: c.category,
      valid_from: t,
      valid_until: t + 3_600_000,
      impressions: 7,
      bid_price: 2,
      cost: 14,
      score: 0.9,
      target: { categories: [], min_curiosity: 0.5 },
      policy: 'RULE',
      model_version: 'test',
      reward_weights: { user_satisfaction: 1, platform_revenue: 0, long_term: 0 },
      emitted_at: t,
    };
    this.out.push(a);
    this.allocs.push(a);
  }
  newAllocations(): HeatingAllocation[] {
    const o = this.out;
    this.out = [];
    return o;
  }
  mindState(userId: string): UserMindState | undefined {
    const curious = Number(userId.slice(1)) % 2 === 0;
    return {
      user_id: userId,
      exploitation: 0.7,
      curiosity: curious ? 0.9 : 0.1,
      fatigue: 0.2,
      satisfaction: 0.6,
      explore_probability: this.explore,
      exploration_protected: false,
      interest_breadth: 3,
      version: 1,
      updated_at: 0,
    };
  }
  flaggedContent(): ReadonlySet<string> {
    return new Set(['c0001000', 'not-a-cheater']);
  }
}

async function scripted(
  explore: number,
): Promise<{ p: ScriptedPolicy; world: World; metrics: Awaited<ReturnType<typeof simulate>>[0]['metrics'] }> {
  const world = new World(defaultWorldConfig({ users: 300, days: 2, seed: 5 }));
  const p = new ScriptedPolicy(explore);
  const [r] = await simulate(world, [makeArm(world, new ContentStats(), p, p.name)], () => 0);
  return { p, world, metrics: r.metrics };
}

test('the interaction stream: unique deterministic ids, event-time order, content published first, fields set', async () => {
  const { p, world } = await scripted(0);
  const again = await scripted(0);
  assert.deepEqual(
    again.p.seen.map((r) => r.event_id),
    p.seen.map((r) => r.event_id),
    'ids are deterministic',
  );
  const ids = new Set(p.seen.map((r) => r.event_id));
  assert.equal(ids.size, p.seen.length);
  const publishedAt = new Map(p.published.map((c) => [c.content_id, c.published_at]));
  for (let i = 1; i < p.times.length; i++)
    assert.ok(p.times[i] >= p.times[i - 1], 'publications and interactions merged in event-time order');
  for (let i = 1; i < p.seen.length; i++)
    assert.ok(p.seen[i].event_time >= p.seen[i - 1].event_time, 'delivered in event-time order');
  for (const r of p.seen) {
    assert.ok(publishedAt.has(r.content_id), `content ${r.content_id} delivered before its interactions`);
    assert.ok(r.event_time >= publishedAt.get(r.content_id)!);
    assert.equal(typeof r.user_registered_at, 'number');
    assert.ok(r.event_time >= r.user_registered_at!, 'no interaction before registration');
    assert.ok(r.completion >= 0 && r.completion <= 1 && r.dwell_ms >= 0);
    assert.equal(r.heated, r.allocation_id !== null);
    if (!r.click) assert.equal(r.completion, 0);
  }
  // Bots and colluders are in the stream: clicks without completion on ground-truth cheaters.
  const fake = p.seen.filter((r) => world.cheaters.has(r.content_id) && r.click && r.completion < 0.1);
  assert.ok(fake.some((r) => r.user_id.startsWith('bot')));
  assert.ok(
    fake.some((r) => r.user_id.startsWith('u')),
    'colluders click their group items',
  );
});

test('heated slots honour the allocation: window, impressions, min_curiosity; cost and precision are measured', async () => {
  const { p, metrics } = await scripted(1);
  const byId = new Map(p.allocs.map((a) => [a.allocation_id, a]));
  const heated = p.seen.filter((r) => r.heated);
  assert.ok(heated.length > 0);
  const count = new Map<string, number>();
  for (const r of heated) {
    const a = byId.get(r.allocation_id!);
    assert.ok(a, 'allocation id comes from an emitted allocation');
    assert.equal(r.content_id, a.content_id);
    assert.ok(
      r.event_time >= a.valid_from && r.event_time < a.valid_until + 10 * 60_000,
      'served inside the validity window (page start)',
    );
    assert.equal(Number(r.user_id.slice(1)) % 2, 0, 'only users with curiosity ≥ min_curiosity');
    count.set(a.allocation_id, (count.get(a.allocation_id) ?? 0) + 1);
  }
  for (const [id, n] of count)
    assert.ok(n <= byId.get(id)!.impressions, `allocation ${id} over-served: ${n}`);
  assert.equal(metrics.heated_impressions, heated.length);
  assert.equal(metrics.heating_cost, heated.length * 2);
  assert.equal(
    metrics.cheat_precision,
    0.5,
    'one of two flags is a ground-truth cheater (c0001000 is a collusion item: ids after the 1000 initial items)',
  );
});

test('explore_probability from the mind state gates the heated slots (the serving helper)', async () => {
  const none = await scripted(0);
  const half = await scripted(0.5);
  const all = await scripted(1);
  assert.equal(none.metrics.heated_impressions, 0);
  assert.ok(half.metrics.heated_impressions > 0);
  assert.ok(
    all.metrics.heated_impressions > half.metrics.heated_impressions,
    `${all.metrics.heated_impressions} vs ${half.metrics.heated_impressions}`,
  );
});

test('the Thermostat policy names create real-graph policies; an unknown name fails clearly', async () => {
  const ctx = policyContext(defaultWorldConfig({ users: 10, days: 1 }));
  for (const n of ['thermostat', 'thermostat-rule', 'thermostat-learned']) {
    const p = await createPolicy(n, ctx);
    assert.equal(p.name, n);
    assert.equal(typeof p.mindState, 'function');
    await p.close?.();
  }
  await assert.rejects(createPolicy('nope', ctx), UnknownPolicyError);
});

/** Manual heating with the allocation's target set to the content's category and its adjacent
 * ones: same budget, only the audience differs. */
class TargetedManual extends ManualHeatingPolicy {
  constructor(
    seed: number,
    cfg: WorldConfig,
    private readonly adj: ReadonlyMap<string, readonly string[]>,
  ) {
    super(seed, defaultManualOptions(cfg));
  }
  override newAllocations(): HeatingAllocation[] {
    return super.newAllocations().map((a) => ({
      ...a,
      target: { categories: [a.category, ...this.adj.get(a.category)!], min_curiosity: 0 },
    }));
  }
}

test('the world rewards targeting: the same heating budget aimed at matching users gets a higher heated CTR', async () => {
  const cfg = defaultWorldConfig({ users: 800, days: 3, seed: 2 });
  const run = async (mk: (w: World) => RegulationPolicy) => {
    const world = new World(cfg);
    const p = mk(world);
    return (await simulate(world, [makeArm(world, new ContentStats(), p, p.name)], () => 0))[0].metrics;
  };
  const untargeted = await run(() => new ManualHeatingPolicy(cfg.seed, defaultManualOptions(cfg)));
  const targeted = await run((w) => new TargetedManual(cfg.seed, cfg, w.adjacency));
  assert.ok(untargeted.heated_impressions > 1000 && targeted.heated_impressions > 1000);
  assert.ok(
    targeted.heated_ctr > 1.4 * untargeted.heated_ctr,
    `${targeted.heated_ctr} vs ${untargeted.heated_ctr}`,
  );
});
