// The online learner (learn/online/learner.ts): on the real in-memory graph it warm-starts from the
// rule, trains from the allocator's own outcome records, publishes versions through control
// records and the model store, and a second run with the same seed is identical. With synthetic
// tick reports: candidates that fail the checks are refused, a live version whose reward falls
// below the rule's or whose approval rate collapses is rolled back (to the last good version, or
// the rule), and learning stops after too many rollbacks in a row — all counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { parseAgentConfig } from '../../../agents/config.js';
import type { HeatingRequest } from '../../../agents/content.js';
import { ALLOCATION_FEATURE_COUNT, type TickDecision } from '../../../agents/scorer.js';
import type { TickMetrics } from '../../../agents/system.js';
import { createMetrics, type Metrics } from '../../../core/metrics.js';
import { ALLOCATION_MODEL_NAME, allocationNet } from '../../../learn/allocation-model.js';
import { learnConfig } from '../../support/config.js';
import { InMemoryModelStore } from '../../../learn/model-store.js';
import { deserializeWeights, makeWeights, versionOf, type WeightSet } from '../../../learn/network.js';
import { createOnlineLearning } from '../../../learn/online/index.js';
import { DEFAULT_GUARD_CONFIG, ModelGuard, type GuardConfig } from '../../../learn/online/guard.js';
import { OnlineLearner, type LearnerEvent } from '../../../learn/online/learner.js';
import type { LiveListener } from '../../../learn/online/allocator-models.js';
import type { TrainRunner } from '../../../learn/online/train-runner.js';
import { fromWeightData } from '../../../learn/online/train-work.js';
import type { LiveModel } from '../../../pipelines/allocator-control.js';
import type { TickReport } from '../../../pipelines/allocator-task.js';
import type { AllocationOutcome, AllocatorControl, HeatingAllocation } from '../../../schemas/types.js';
import { ClosedLoop, TICK_MS } from '../../support/closed-loop.js';

const agents = parseAgentConfig({});
const newMetrics = (): Metrics => createMetrics(new Registry(), { defaultMetrics: false });
const value = async (m: { get(): Promise<{ values: { value: number; labels: object }[] }> }, labels = {}) =>
  (await m.get()).values.find((v) => JSON.stringify(v.labels) === JSON.stringify(labels))?.value ?? 0;

async function learnedLoop() {
  const store = new InMemoryModelStore();
  const metrics = newMetrics();
  const events: LearnerEvent[] = [];
  const config = learnConfig(
    {},
    {
      seed: 42,
      backend: 'cpu',
      trainer: { minBatch: 64, maxBatch: 256 },
      ppo: { epochs: 2, minibatchSize: 32 },
      online: { enabled: true, warmupMs: 10 * TICK_MS, warmupMaxRows: 512 },
    },
  );
  let loop: ClosedLoop | null = null;
  const learning = await createOnlineLearning({
    config,
    agents,
    control: { send: (c) => loop!.driver.controlSink().send(c) },
    store,
    mode: 'simulation',
    metrics,
    onEvent: (e) => events.push(e),
  });
  loop = await ClosedLoop.create({ models: learning.models, onTick: learning.onTick });
  const allocations = await loop.run(70);
  await learning.close();
  return { allocations, events, store, metrics };
}

test('in the graph: warm start from the rule, PPO versions through control records and the store; same seed, same run', async () => {
  const a = await learnedLoop();
  const published = a.events.filter((e) => e.type === 'published');
  assert.equal(published[0]?.reason, 'warm_start');
  assert.equal(published[0]?.version, 'allocation@1');
  assert.ok(published.filter((e) => e.reason === 'ppo_update').length >= 2, `published: ${published.length}`);
  const last = published.at(-1)!;
  const stored = await a.store.load(ALLOCATION_MODEL_NAME);
  assert.equal(
    stored && `${ALLOCATION_MODEL_NAME}@${stored.seq}`,
    last.version,
    'the store holds every published version',
  );
  const learned = a.allocations.filter((x) => x.policy === 'LEARNED');
  assert.ok(learned.length > 0, 'learned allocations');
  const versions = new Set(published.map((e) => e.version));
  for (const x of learned) assert.ok(versions.has(x.model_version), x.model_version);
  const firstLearned = a.allocations.findIndex((x) => x.policy === 'LEARNED');
  assert.ok(a.allocations.slice(0, firstLearned).every((x) => x.policy === 'RULE'));
  assert.ok(a.allocations[firstLearned].valid_from > published[0].tick, 'adopted at a later tick');
  // Metrics the job exports.
  const m = a.metrics;
  assert.equal(await value(m.modelVersion), Number(learned.at(-1)!.model_version.split('@')[1]));
  assert.ok((await value(m.trainingSteps)) > 0);
  assert.equal(await value(m.modelsPublished, { reason: 'warm_start' }), 1);
  assert.ok((await value(m.learnerExperiences)) >= 128);
  const rate = await value(m.approvalRate, { policy: 'LEARNED' });
  assert.ok(rate > 0 && rate < 1, `approval rate ${rate}`);
  assert.ok((await value(m.policyEntropy)) > 0);
  const b = await learnedLoop();
  const key = (xs: HeatingAllocation[]) =>
    xs.map((x) => `${x.allocation_id} ${x.model_version} ${x.impressions}`);
  assert.deepEqual(key(b.allocations), key(a.allocations));
});

// ---- the state machine, on synthetic tick reports ----

/** The allocator side as the learner sees it: adoptions from control records. */
class FakeModels {
  live: LiveModel | null = null;
  controls: AllocatorControl[] = [];
  private readonly listeners: LiveListener[] = [];
  onLive(l: LiveListener): void {
    this.listeners.push(l);
  }
  /** What the allocator does when it reads the record (at once here). */
  adopt(c: AllocatorControl): void {
    this.controls.push(c);
    if (c.kind !== 'MODEL') return;
    const w = c.model_blob ? deserializeWeights(c.model_blob, allocationNet) : null;
    this.live = { seq: c.seq, policy: c.policy, version: c.model_version, since: null };
    for (const l of this.listeners) l(this.live, w);
  }
}

/** "Training" that returns its base weights under the new seq, or what `edit` makes of them. */
function fakeRunner(edit?: (w: WeightSet, kind: string) => WeightSet): TrainRunner {
  const runNow: TrainRunner['runNow'] = (job) => {
    const base = fromWeightData(job.base);
    const w = makeWeights(base, job.seq, base.arrays);
    return { weights: edit ? edit(w, job.kind) : w };
  };
  return { synchronous: true, runNow, run: async (j) => runNow(j), close: async () => {} };
}

const W = { user_satisfaction: 0.4, platform_revenue: 0.3, long_term: 0.3 };

interface Harness {
  models: FakeModels;
  learner: OnlineLearner;
  metrics: Metrics;
  events: LearnerEvent[];
  /** One tick: `rows` requests, all approved and granted; outcomes of the previous tick's grants. */
  tick(engaged: boolean): void;
}

function harness(
  o: {
    guard?: Partial<GuardConfig>;
    maxRollbacks?: number;
    edit?: (w: WeightSet, kind: string) => WeightSet;
  } = {},
): Harness {
  const models = new FakeModels();
  const metrics = newMetrics();
  const events: LearnerEvent[] = [];
  const learner = new OnlineLearner(
    {
      models,
      runner: fakeRunner(o.edit),
      control: { send: async (c) => models.adopt(c) },
      metrics,
      onEvent: (e) => events.push(e),
      now: () => 0,
    },
    {
      seed: 1,
      warmupMs: 5 * TICK_MS,
      warmupMaxRows: 1000,
      imitationTemperature: 0.03,
      threshold: 0.3,
      minBatch: 40,
      maxBatch: 200,
      join: {
        reward: { graceMs: 0, maxCost: 1, costWeight: 0.5 },
        credit: 'marginal',
        maxDenialsPerTick: 48,
      },
      guard: {
        ...DEFAULT_GUARD_CONFIG,
        minGrants: 20,
        goodGrants: 16,
        minRows: 40,
        maxApproval: 1,
        ...o.guard,
      },
      maxRollbacks: o.maxRollbacks ?? 3,
    },
  );
  let t = 1000 * TICK_MS;
  let prev: HeatingAllocation[] = [];
  const rows = 8;
  return {
    models,
    learner,
    metrics,
    events,
    tick(engaged) {
      t += TICK_MS;
      const learned = models.live?.policy === 'LEARNED';
      const requests = Array.from({ length: rows }, (_, i) => ({ content_id: `c${i}` }) as HeatingRequest);
      const allocations = requests.map(
        (r, i) =>
          ({
            allocation_id: `a${t}-${i}`,
            content_id: r.content_id,
            impressions: 10,
            cost: 0,
            valid_until: t + TICK_MS,
            reward_weights: W,
            policy: learned ? 'LEARNED' : 'RULE',
            model_version: models.live?.version ?? 'rule-v1',
          }) as HeatingAllocation,
      );
      const outcomes: AllocationOutcome[] = prev.map((a) => ({
        allocation_id: a.allocation_id,
        content_id: a.content_id,
        impressions: 10,
        clicks: engaged ? 6 : 0,
        completion_sum: engaged ? 9 : 0,
        shares: engaged ? 3 : 0,
      }));
      const features = new Float32Array(rows * ALLOCATION_FEATURE_COUNT).map((_, k) => (k % 5) / 5);
      // The decision's rows in another order than the report's requests: joined by content id.
      const contentIds = requests.map((r) => r.content_id).reverse();
      const decision: TickDecision = learned
        ? {
            policy: 'LEARNED',
            version: models.live!.version,
            contentIds,
            features,
            scores: new Float32Array(rows).fill(0.5),
            actions: new Uint8Array(rows).fill(1),
            logProbs: new Float64Array(rows).fill(Math.log(0.5)),
          }
        : {
            policy: 'RULE',
            version: 'rule-v1',
            contentIds,
            features,
            // The rule approves half the requests (scores above / below its 0.3 threshold).
            scores: Float32Array.from({ length: rows }, (_, i) => (i % 2 ? 0.6 : 0.1)),
          };
      learner.onTick({
        tick: t,
        metrics: {} as TickMetrics,
        allocations,
        outcomes,
        requests,
        totals: { impressions: 0, heated_impressions: 0, new_content_impressions: 0, new_content_clicks: 0 },
        live: models.live,
        objectives: null,
        weights: W,
        decision,
      } satisfies TickReport);
      prev = allocations;
    },
  };
}

const run = (h: Harness, n: number, engaged: boolean) => {
  for (let i = 0; i < n; i++) h.tick(engaged);
};

test('a learned version whose reward falls below the rule’s is rolled back to the rule, counted and logged', async () => {
  const h = harness();
  run(h, 7, true); // warm-up: the rule's grants engage (the baseline); warm start published
  assert.equal(h.models.live?.version, 'allocation@1');
  run(h, 6, false); // allocation@1's grants buy nothing
  const rb = h.events.find((e) => e.type === 'rollback');
  assert.deepEqual(rb && { version: rb.version, reason: rb.reason, to: rb.to }, {
    version: 'allocation@1',
    reason: 'reward_below_rule',
    to: 'the rule',
  });
  assert.equal(h.models.live?.policy, 'RULE');
  assert.ok(h.models.live!.seq > 1, 'a rollback is a new control seq');
  assert.equal(await value(h.metrics.modelRollbacks, { reason: 'reward_below_rule' }), 1);
  assert.equal(h.learner.state.phase, 'warmup', 'learning starts over from the rule');
});

test('a bad version is rolled back to the last good one, republished under a new seq', async () => {
  let updates = 0;
  // The second PPO version is "bad" only through its outcomes; its weights are marked by a bias.
  const h = harness({
    edit: (w, kind) => {
      if (kind !== 'ppo') return w;
      updates++;
      return makeWeights(
        w,
        w.seq,
        w.arrays.map((a) => (a.name === 'actor/b3' ? { ...a, values: Float32Array.of(updates / 100) } : a)),
      );
    },
  });
  run(h, 7, true);
  run(h, 8, true); // allocation@1 earns as much as the rule: it becomes good; PPO publishes allocation@2
  assert.equal(h.learner.state.lastGood, 'allocation@1');
  const v2 = h.models.live!.version;
  assert.notEqual(v2, 'allocation@1');
  run(h, 6, false);
  const rb = h.events.find((e) => e.type === 'rollback')!;
  assert.equal(rb.type === 'rollback' && rb.version, v2);
  assert.equal(h.models.live?.policy, 'LEARNED');
  const back = h.models.controls.at(-1)!;
  assert.equal(back.reason, 'rollback');
  const restored = deserializeWeights(back.model_blob!, allocationNet);
  assert.ok(restored.seq > Number(v2.split('@')[1]), 'a newer seq');
  const good = h.models.controls.find((c) => c.model_version === 'allocation@1')!;
  assert.deepEqual(
    restored.arrays.map((a) => [...a.values]),
    deserializeWeights(good.model_blob!, allocationNet).arrays.map((a) => [...a.values]),
    'the weights of allocation@1',
  );
});

test('a collapsed approval rate is rolled back; after maxRollbacks in a row learning stops on the rule', async () => {
  const h = harness({ guard: { maxApproval: 0.95 }, maxRollbacks: 1 });
  run(h, 7, true);
  run(h, 8, true); // every learned row approved: 100% > 95%
  assert.equal(await value(h.metrics.modelRollbacks, { reason: 'approval_collapse' }), 1);
  run(h, 7, true); // warm-up again, a new warm start, collapses again
  run(h, 8, true);
  assert.equal(await value(h.metrics.modelRollbacks, { reason: 'approval_collapse' }), 2);
  assert.equal(h.learner.state.phase, 'stopped');
  assert.equal(h.models.live?.policy, 'RULE');
  const published = h.events.filter((e) => e.type === 'published').length;
  run(h, 20, true);
  assert.equal(
    h.events.filter((e) => e.type === 'published').length,
    published,
    'nothing published after stopping',
  );
});

test('candidates with non-finite weights or a saturated approval are refused before publication, counted', async () => {
  const nan = harness({
    edit: (w) =>
      makeWeights(
        w,
        w.seq,
        w.arrays.map((a) => ({ ...a, values: a.values.map(() => NaN) })),
      ),
  });
  run(nan, 7, true);
  assert.equal(nan.models.controls.length, 0);
  assert.equal(await value(nan.metrics.modelsRejected, { reason: 'not_finite' }), 1);
  assert.equal(nan.models.live, null, 'the rule still decides');
  const high = harness({
    guard: { maxApproval: 0.99 },
    edit: (w) =>
      makeWeights(
        w,
        w.seq,
        w.arrays.map((a) => (a.name === 'actor/b3' ? { ...a, values: Float32Array.of(40) } : a)),
      ),
  });
  run(high, 7, true);
  assert.equal(await value(high.metrics.modelsRejected, { reason: 'approval_high' }), 1);
  assert.equal(high.models.controls.length, 0);
  run(high, 6, true); // a new warm-up, refused again: never published
  assert.equal(await value(high.metrics.modelsRejected, { reason: 'approval_high' }), 2);
});

test('ModelGuard: reward below the rule needs a margin of z standard errors; the live version is good once both windows are healthy', () => {
  const g = new ModelGuard({ ...DEFAULT_GUARD_CONFIG, minGrants: 10, goodGrants: 10, minRows: 10 });
  const grants = (policy: 'RULE' | 'LEARNED', version: string, xs: number[]) =>
    xs.map((value) => ({ policy, version, reward: value, value }));
  const noisy = (n: number, level: number) =>
    Array.from({ length: n }, (_, i) => level + (i % 2 ? 0.2 : -0.2));
  const decided = (version: string, rows: number, approvals: number) =>
    g.onDecisions({ tick: 0, policy: 'LEARNED', version, rows, approvals, entropy: 0, recordedDenials: 0 });
  g.onSettled(grants('RULE', 'rule-v1', noisy(40, 0.5)));
  decided('allocation@3', 6, 3);
  g.onSettled(grants('LEARNED', 'allocation@3', noisy(12, 0.45)));
  assert.equal(g.verdict('allocation@3').kind, 'watching', 'the approval window is not full yet');
  decided('allocation@3', 6, 3);
  // Slightly below the rule, within the noise, and half approved: the live version is good.
  assert.deepEqual(g.verdict('allocation@3'), { kind: 'good', version: 'allocation@3' });
  assert.equal(g.verdict('allocation@3').kind, 'watching', 'reported once');
  // The recent window falls clearly below the rule, whatever version decided.
  g.onSettled(grants('LEARNED', 'allocation@3', noisy(10, 0)));
  const v = g.verdict('allocation@4');
  assert.equal(v.kind === 'rollback' && v.reason, 'reward_below_rule');
  g.reset();
  assert.equal(g.verdict('allocation@5').kind, 'watching', 'a rollback starts new windows');
  decided('allocation@5', 20, 20);
  const c = g.verdict('allocation@5');
  assert.equal(c.kind === 'rollback' && c.reason, 'approval_collapse');
  assert.equal(g.checkCandidate(Float32Array.of(0.5, NaN)), 'not_finite');
  assert.equal(g.checkCandidate(Float32Array.of(0.001, 0.002)), 'approval_low');
  assert.equal(g.checkCandidate(Float32Array.of(0.999, 0.998)), 'approval_high');
  assert.equal(g.checkCandidate(Float32Array.of(0.2, 0.9)), null);
  // A rule that approves every request: a learned policy that does too is not a collapse.
  const all = new ModelGuard({ ...DEFAULT_GUARD_CONFIG, minRows: 10 });
  all.onDecisions({
    tick: 0,
    policy: 'RULE',
    version: 'rule-v1',
    rows: 50,
    approvals: 50,
    entropy: 0,
    recordedDenials: 0,
  });
  all.onDecisions({
    tick: 1,
    policy: 'LEARNED',
    version: 'allocation@1',
    rows: 20,
    approvals: 20,
    entropy: 0,
    recordedDenials: 0,
  });
  assert.equal(all.verdict('allocation@1').kind, 'watching');
  assert.equal(all.checkCandidate(Float32Array.of(0.999, 0.998)), null);
  assert.equal(all.checkCandidate(Float32Array.of(0.001, 0.002)), 'approval_low');
});

test('the learner numbers versions above every stored one (a restarted job never reuses a seq)', async () => {
  const store = new InMemoryModelStore();
  const w = makeWeights(fromWeightDataSeed(), 9, fromWeightDataSeed().arrays);
  await store.save(ALLOCATION_MODEL_NAME, 9, new Uint8Array(), 0);
  const models = new FakeModels();
  const learner = new OnlineLearner(
    { models, runner: fakeRunner(), control: { send: async (c) => models.adopt(c) }, store },
    {
      seed: 1,
      warmupMs: TICK_MS,
      warmupMaxRows: 100,
      imitationTemperature: 0.03,
      threshold: 0.3,
      minBatch: 10,
      maxBatch: 10,
      join: { reward: {}, credit: 'marginal', maxDenialsPerTick: 48 },
      guard: DEFAULT_GUARD_CONFIG,
      maxRollbacks: 3,
    },
  );
  await learner.init();
  assert.equal(versionOf(w), 'allocation@9');
  const r = (tick: number): TickReport => ({
    tick,
    metrics: {} as TickMetrics,
    allocations: [],
    outcomes: [],
    requests: [{ content_id: 'c0' } as HeatingRequest],
    totals: { impressions: 0, heated_impressions: 0, new_content_impressions: 0, new_content_clicks: 0 },
    live: null,
    objectives: null,
    weights: W,
    decision: {
      policy: 'RULE',
      version: 'rule-v1',
      contentIds: ['c0'],
      features: new Float32Array(ALLOCATION_FEATURE_COUNT),
      scores: Float32Array.of(0.6),
    },
  });
  learner.onTick(r(0));
  learner.onTick(r(2 * TICK_MS));
  assert.equal(models.controls[0]?.model_version, 'allocation@10');
});

function fromWeightDataSeed(): WeightSet {
  return makeWeights({ arch: allocationNet.arch, name: ALLOCATION_MODEL_NAME }, 0, initArrays());
}

function initArrays() {
  return allocationNet.params.map((p) => ({
    name: p.name,
    shape: [...p.shape],
    values: new Float32Array(p.shape.reduce((a, b) => a * b, 1)),
  }));
}
