import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_AGENT_CONFIG as cfg, parseAgentConfig } from '../../../agents/config.js';
import {
  applyUserInteraction,
  behaviourFeatures,
  exploreProbability,
  interestBreadth,
  isProtected,
  mindFeatures,
  newUserState,
  toUserMindState,
  type UserAgentState,
} from '../../../agents/user.js';
import { RuleExplorePolicy, ruleExploreProbability } from '../../../agents/rule-explore.js';
import {
  BEHAVIOUR_SEQUENCE_LENGTH,
  BEHAVIOUR_STEP_FEATURE_COUNT,
  MIND_FEATURE_COUNT,
} from '../../../agents/scorer.js';
import { ConfigError } from '../../../core/errors.js';
import type { UserInteraction } from '../../../schemas/types.js';
import { DAY, HOUR, T0, close, interaction } from './helpers.js';

let offset = 0;
function feed(s: UserAgentState, evs: Partial<UserInteraction>[]): UserAgentState {
  for (const e of evs) applyUserInteraction(s, interaction(e), offset++, cfg);
  return s;
}
const fresh = () => newUserState('u1', cfg);

test('config: every agent constant has the seed default and a bad value names its key', () => {
  assert.equal(cfg.user.satisfactionStart, 0.6);
  assert.equal(cfg.user.curiosityStart, 0.5);
  assert.equal(cfg.user.fatigueStart, 0.2);
  assert.equal(cfg.user.exploitationStart, 0.7);
  assert.equal(cfg.user.protectionMs, 3 * DAY);
  assert.equal(cfg.user.sequenceLength, 20);
  assert.equal(cfg.content.initialBudget, 100);
  assert.equal(cfg.content.maxRequest, 5000);
  assert.equal(cfg.content.budgetGrowth, 50);
  assert.equal(cfg.system.heatingCap, 0.2);
  assert.deepEqual(cfg.system.defaultWeights, {
    user_satisfaction: 0.4,
    platform_revenue: 0.4,
    long_term: 0.2,
  });
  assert.equal(parseAgentConfig({ user: { curiosityStep: 0.2 } }).user.curiosityStep, 0.2);
  assert.throws(
    () => parseAgentConfig({ system: { heatingCap: 1.5 } }),
    (e: unknown) => e instanceof ConfigError && e.key === 'system.heatingCap',
  );
  assert.throws(
    () => parseAgentConfig({ system: { tiers: [{ name: 'a', minQuality: 0, share: 0.5 }] } }),
    ConfigError,
  );
});

test('satisfaction is an EWMA of +1 on click and −0.5 otherwise, from 0.6', () => {
  const s = fresh();
  feed(s, [{ click: true }]);
  close(s.satisfaction, 0.64);
  feed(s, [{ click: false }]);
  close(s.satisfaction, 0.9 * 0.64 - 0.05);
});

test('curiosity rises by 0.1 only on a clicked new content, capped at 1', () => {
  const s = fresh();
  feed(s, [
    { click: false, is_new_content: true },
    { click: true, is_new_content: false },
  ]);
  close(s.curiosity, 0.5);
  feed(s, [{ click: true, is_new_content: true }]);
  close(s.curiosity, 0.6);
  feed(
    s,
    Array.from({ length: 10 }, () => ({ click: true, is_new_content: true })),
  );
  assert.equal(s.curiosity, 1);
});

test('curiosity decays back toward its start with its half-life, exactly however the gap is split', () => {
  const h = cfg.user.curiosityHalfLifeMs;
  const a = feed(fresh(), [{ click: true, is_new_content: true, event_time: T0 }, { event_time: T0 + h }]);
  close(a.curiosity, 0.55);
  const b = feed(fresh(), [
    { click: true, is_new_content: true, event_time: T0 },
    { event_time: T0 + h / 2 },
    { event_time: T0 + h },
  ]);
  close(b.curiosity, 0.55, 1e-12);
  const c = feed(fresh(), [
    { click: true, is_new_content: true, event_time: T0 },
    { event_time: T0 + 40 * h },
  ]);
  close(c.curiosity, 0.5, 1e-9);
});

test('fatigue rises by 0.2 on the third same-category interaction in a row and drops on a category change', () => {
  const s = feed(fresh(), [{ category: 'tech' }, { category: 'tech' }]);
  close(s.fatigue, 0.2);
  feed(s, [{ category: 'tech' }]);
  close(s.fatigue, 0.4);
  feed(s, [{ category: 'tech' }]);
  close(s.fatigue, 0.6);
  feed(s, [{ category: 'food' }]);
  close(s.fatigue, 0.2 + 0.4 * 0.5);
});

test('fatigue decays toward its start with a short half-life', () => {
  const s = feed(fresh(), [{ category: 'a' }, { category: 'a' }, { category: 'a' }]);
  close(s.fatigue, 0.4);
  feed(s, [{ category: 'a', event_time: T0 + cfg.user.fatigueHalfLifeMs }]);
  // decayed to 0.3 first, then the 4th same-category interaction adds 0.2
  close(s.fatigue, 0.5);
});

test('exploitation falls by 0.1 per interaction while satisfaction < 0.5, never below 0', () => {
  const s = feed(fresh(), [{ click: false }]);
  close(s.satisfaction, 0.49);
  close(s.exploitation, 0.6);
  feed(
    s,
    Array.from({ length: 12 }, () => ({ click: false })),
  );
  assert.equal(s.exploitation, 0);
});

test('exploitation recovers toward its start while the user is satisfied', () => {
  const s = feed(fresh(), [{ click: false }, ...Array.from({ length: 3 }, () => ({ click: true }))]);
  assert.ok(s.satisfaction >= 0.5);
  close(s.exploitation, 0.6);
  feed(s, [{ click: true, event_time: T0 + cfg.user.exploitationRecoveryHalfLifeMs }]);
  close(s.exploitation, 0.65);
});

test('a user in day 2 is never explored; in day 4 the policy decides', () => {
  const reg = T0 - 1.5 * DAY;
  const s = feed(fresh(), [{ user_registered_at: reg, click: true }]);
  assert.equal(isProtected(s, cfg), true);
  assert.equal(exploreProbability(s, cfg), 0);
  assert.equal(toUserMindState(s, cfg).explore_probability, 0);
  assert.equal(toUserMindState(s, cfg).exploration_protected, true);
  feed(s, [{ event_time: reg + 3 * DAY + 1 }]);
  assert.equal(isProtected(s, cfg), false);
  assert.ok(exploreProbability(s, cfg) > 0);
  close(
    exploreProbability(s, cfg),
    ruleExploreProbability(s.exploitation, s.curiosity, s.fatigue, cfg.user.explore),
  );
});

test('without a registration time, protection runs from the first time the user is seen', () => {
  const s = feed(fresh(), [{ event_time: T0 + 10 * DAY }, { event_time: T0 + 12 * DAY }]);
  assert.equal(isProtected(s, cfg), true);
  feed(s, [{ event_time: T0 + 13 * DAY + 1 }]);
  assert.equal(isProtected(s, cfg), false);
});

test('rule explore policy: p = 0.5·(1 − exploitation) + 0.3·curiosity + 0.2·fatigue, batched alike', () => {
  close(ruleExploreProbability(0.7, 0.5, 0.2, cfg.user.explore), 0.34);
  close(ruleExploreProbability(0, 1, 1, cfg.user.explore), 1);
  const mind = new Float32Array([0.7, 0.5, 0.2, 0.6, 0, 1, 1, 0]);
  const p = new RuleExplorePolicy(cfg.user.explore).exploreProbabilities(
    mind,
    new Float32Array(2 * 20 * 6),
    2,
  );
  close(p[0], 0.34, 1e-6);
  close(p[1], 1, 1e-6);
});

test('out-of-order and equal timestamps give no negative gap, no NaN, and never move time back', () => {
  const s = feed(fresh(), [
    { event_time: T0 + HOUR, click: true, is_new_content: true },
    { event_time: T0 },
    { event_time: T0 },
    { event_time: T0 + HOUR },
  ]);
  assert.equal(s.t, T0 + HOUR);
  for (const v of [s.curiosity, s.fatigue, s.exploitation, s.satisfaction, s.explore])
    assert.ok(Number.isFinite(v) && v >= 0 && v <= 1);
  close(s.curiosity, 0.6); // zero gaps: no decay at all
});

test('the behaviour sequence keeps only the last 20 interactions (坑1) and feeds the encoder layout', () => {
  const s = fresh();
  feed(
    s,
    Array.from({ length: 100 }, (_, i) => ({ event_time: T0 + i, click: i % 2 === 0 })),
  );
  assert.equal(s.seq.length, 20);
  assert.equal(s.ids.length, 20);
  const t = fresh();
  feed(t, [{ click: true, completion: 0.75, is_new_content: true }, { heated: true }]);
  const out = new Float32Array(1 + BEHAVIOUR_SEQUENCE_LENGTH * BEHAVIOUR_STEP_FEATURE_COUNT).fill(9);
  behaviourFeatures(t, out, 1);
  assert.equal(out[0], 9);
  const W = BEHAVIOUR_STEP_FEATURE_COUNT;
  for (let i = 1; i < 1 + 18 * W; i++) assert.equal(out[i], 0, 'left padding');
  const a = 1 + 18 * W;
  assert.deepEqual([out[a + 1], out[a + 2], out[a + 3], out[a + 4], out[a + 5]], [1, 0.75, 1, 0, 1]);
  const b = a + W;
  assert.deepEqual([out[b + 1], out[b + 2], out[b + 3], out[b + 4], out[b + 5]], [0, 0, 0, 1, 1]);
  assert.ok(out[a] > 0 && out[a] <= 1 && out[a] === out[b], 'same category code in [0,1]');
  const m = new Float32Array(MIND_FEATURE_COUNT);
  mindFeatures(t, m, 0);
  assert.deepEqual(Array.from(m), [t.exploitation, t.curiosity, t.fatigue, t.satisfaction].map(Math.fround));
});

test('a duplicate event id within the last 20 is ignored; a replayed offset is ignored', () => {
  const s = fresh();
  const ev = interaction({ click: true });
  assert.deepEqual(applyUserInteraction(s, ev, 10, cfg), { applied: true, suspectClicker: false });
  const before = JSON.stringify(s);
  assert.deepEqual(applyUserInteraction(s, ev, 11, cfg), { applied: false, reason: 'duplicate' });
  assert.deepEqual(applyUserInteraction(s, interaction(), 10, cfg), { applied: false, reason: 'replay' });
  assert.equal(JSON.stringify(s), before);
  assert.equal(toUserMindState(s, cfg).version, 10);
});

test('interest breadth counts engaged categories in the sliding window only', () => {
  const s = feed(fresh(), [
    { category: 'a', click: true, completion: 0.9, event_time: T0 },
    { category: 'b', click: true, completion: 0.1, shared: true, event_time: T0 + 1 },
    { category: 'c', click: true, completion: 0.1, event_time: T0 + 2 }, // not engaged
    { category: 'd', click: false, event_time: T0 + 3 },
  ]);
  assert.equal(interestBreadth(s, cfg), 2);
  feed(s, [{ category: 'e', click: true, completion: 1, event_time: T0 + 7 * DAY }]);
  assert.equal(toUserMindState(s, cfg).interest_breadth, 2); // b and e; a left the window
  assert.equal(s.engaged.length, 4); // only b and e are kept
});

test('toUserMindState maps every field of the Avro record', () => {
  const s = feed(fresh(), [{ click: true, event_time: T0 + 5 * DAY, user_registered_at: T0 }]);
  const m = toUserMindState(s, cfg);
  assert.deepEqual(
    Object.keys(m).sort(),
    [
      'curiosity',
      'exploitation',
      'explore_probability',
      'exploration_protected',
      'fatigue',
      'interest_breadth',
      'satisfaction',
      'updated_at',
      'user_id',
      'version',
    ].sort(),
  );
  assert.equal(m.user_id, 'u1');
  assert.equal(m.updated_at, T0 + 5 * DAY);
  assert.equal(m.exploration_protected, false);
});
