// The learned explore policy in the user stage: one batched call per micro-batch, same result as
// scoring each user alone, and the default (rule) output unchanged.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentConfig } from '../../../agents/config.js';
import { applyExplorePolicy, exploreInputs } from '../../../agents/explore.js';
import { ruleExploreProbability } from '../../../agents/rule-explore.js';
import type { ExplorePolicy } from '../../../agents/scorer.js';
import { applyUserInteraction, newUserState, type UserAgentState } from '../../../agents/user.js';
import { selectBackend } from '../../../learn/backend.js';
import { LearnedExplorePolicy, exploreNet, initExploreWeights } from '../../../learn/explore-model.js';
import { ModelHandle } from '../../../learn/network.js';
import { ThermostatTestDriver } from '../../../pipelines/test-driver.js';
import { testSerde } from '../../support/driver.js';
import { scenario } from '../../support/scenario.js';

before(async () => {
  await selectBackend({ requested: 'cpu' });
});

const cfg = parseAgentConfig({});
const input = () =>
  scenario(11, {
    contents: 20,
    interactions: 1500,
    users: 60,
    categories: 4,
    startMs: 60_000,
    stepMs: 500,
    clickRate: 0.2,
  });

/** Users with histories of different lengths (0 to > 20 steps). */
function users(): UserAgentState[] {
  const { interactions } = input();
  const states = new Map<string, UserAgentState>();
  interactions.forEach((ev, i) => {
    let s = states.get(ev.user_id);
    if (!s) states.set(ev.user_id, (s = newUserState(ev.user_id, cfg)));
    applyUserInteraction(s, ev, i, cfg);
  });
  return [...states.values(), newUserState('fresh', cfg)];
}

/** Counts calls and rows, delegating to `inner`. */
class Counting implements ExplorePolicy {
  calls = 0;
  rows = 0;
  constructor(private readonly inner: ExplorePolicy) {}
  get policy() {
    return this.inner.policy;
  }
  get modelVersion() {
    return this.inner.modelVersion;
  }
  exploreProbabilities(mind: Float32Array, behaviour: Float32Array, rows: number): Float32Array {
    this.calls++;
    this.rows += rows;
    return this.inner.exploreProbabilities(mind, behaviour, rows);
  }
}

test('applyExplorePolicy: one call for the batch, same probabilities as scoring each user alone', () => {
  const policy = new Counting(new LearnedExplorePolicy(new ModelHandle(exploreNet, initExploreWeights(5))));
  const batch = users();
  assert.ok(batch.some((s) => s.seq.length >= 20) && batch.some((s) => s.seq.length === 0));
  const p = applyExplorePolicy(batch, policy);
  assert.equal(policy.calls, 1);
  assert.equal(policy.rows, batch.length);
  const alone = users().map((s) => applyExplorePolicy([s], policy)[0]);
  for (let i = 0; i < batch.length; i++) {
    assert.ok(Math.abs(p[i] - alone[i]) < 1e-6, `user ${i}: ${p[i]} vs ${alone[i]}`);
    assert.equal(batch[i].explore, p[i]);
  }
  // The network reads the sequence: two users with equal mind rows but different histories differ.
  const spread = Math.max(...p) - Math.min(...p);
  assert.ok(spread > 1e-4, `spread ${spread}`);
});

test('exploreInputs: mind rows and the last-20 behaviour block per user', () => {
  const batch = users();
  const { mind, behaviour } = exploreInputs(batch);
  assert.equal(mind.length, batch.length * 4);
  assert.equal(behaviour.length, batch.length * 20 * 6);
  assert.equal(mind[0], Math.fround(batch[0].exploitation));
  const last = batch.length - 1; // 'fresh': no history, all masks 0
  assert.ok(behaviour.subarray(last * 120, (last + 1) * 120).every((v) => v === 0));
});

async function run(explore: (() => ExplorePolicy) | undefined, batchSize: number) {
  const d = await ThermostatTestDriver.create({
    serde: testSerde(),
    partitions: 2,
    batchSize,
    agents: { user: { protectionMs: 1 } }, // explore_probability = the policy output (after 1 ms)
    explore,
  });
  const { contents, interactions } = input();
  await d.pipeInput('content-published', contents);
  await d.pipeInput('user-interactions', interactions);
  const states = d.allUserStates().sort((a, b) => a.user_id.localeCompare(b.user_id));
  return states;
}

test('user stage default: the rule explore probability, unchanged by the seam', async () => {
  const states = await run(undefined, 500);
  const w = cfg.user.explore;
  assert.equal(states.length, 60);
  assert.ok(states.filter((s) => !s.exploration_protected).length > 50);
  for (const s of states) {
    const want = s.exploration_protected
      ? 0
      : ruleExploreProbability(s.exploitation, s.curiosity, s.fatigue, w);
    assert.equal(s.explore_probability, want);
  }
});

test('user stage learned: batched per micro-batch, same output as one user at a time', async () => {
  const handle = new ModelHandle(exploreNet, initExploreWeights(9));
  const batched = new Counting(new LearnedExplorePolicy(handle));
  const single = new Counting(new LearnedExplorePolicy(handle));
  const a = await run(() => batched, 500);
  const b = await run(() => single, 1); // one record per micro-batch: each user scored alone
  assert.ok(
    batched.calls > 0 && batched.rows / batched.calls > 5,
    `rows per call ${batched.rows / batched.calls}`,
  );
  assert.equal(single.rows, single.calls, 'one user per call');
  assert.equal(a.length, b.length);
  const rule = await run(undefined, 500);
  let differsFromRule = 0;
  for (let i = 0; i < a.length; i++) {
    assert.equal(a[i].user_id, b[i].user_id);
    assert.ok(Math.abs(a[i].explore_probability - b[i].explore_probability) < 1e-6, a[i].user_id);
    assert.deepEqual({ ...a[i], explore_probability: 0 }, { ...rule[i], explore_probability: 0 });
    if (Math.abs(a[i].explore_probability - rule[i].explore_probability) > 1e-3) differsFromRule++;
  }
  assert.ok(differsFromRule > a.length / 2, 'the learned policy, not the rule, set explore_probability');
});
