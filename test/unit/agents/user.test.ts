import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_AGENT_CONFIG as cfg, parseAgentConfig } from '../../../agents/config.js';
import {
  applyUserInteraction,
  baselineClickRate,
  behaviourFeatures,
  heatedSkipStreak,
  referenceRate,
  relativeReward,
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
    () => parseAgentConfig({ user: { noClickReward: 0.5 } }),
    (e: unknown) => e instanceof ConfigError && e.key === 'user.noClickReward',
  );
});

test('rewards: the seed’s +1 / −0.5 at its reference rate 1/3, rescaled to the user’s click rate so they average 0 there', () => {
  const u = cfg.user;
  close(referenceRate(u), 1 / 3);
  close(relativeReward(true, 1 / 3, u), 1);
  close(relativeReward(false, 1 / 3, u), -0.5);
  for (const b of [0.01, 0.05, 0.13, 0.4, 0.8]) {
    const mean = b * relativeReward(true, b, u) + (1 - b) * relativeReward(false, b, u);
    close(mean, 0, 1e-12);
    const variance = b * relativeReward(true, b, u) ** 2 + (1 - b) * relativeReward(false, b, u) ** 2;
    close(variance, 0.5, 1e-12); // the seed's spread at any rate
  }
  // The user's rate: clicks over the behaviour sequence, with one pseudo-impression at 1/3.
  close(baselineClickRate(fresh(), u), 1 / 3);
  const s = feed(fresh(), [{ click: true }, { click: false }, { click: false }, { click: false }]);
  close(baselineClickRate(s, u), (1 + 1 / 3) / 5);
});

test('satisfaction is an EWMA of start + reward from 0.6: a click lifts it, a skip lowers it', () => {
  const s = fresh();
  feed(s, [{ click: true }]); // first interaction: rate 1/3, reward +1
  close(s.satisfaction, 0.9 * 0.6 + 0.1 * 1.6);
  const before = s.satisfaction;
  const b = baselineClickRate(s, cfg.user);
  feed(s, [{ click: false }]);
  close(s.satisfaction, 0.9 * before + 0.1 * (0.6 + relativeReward(false, b, cfg.user)));
});

test('curiosity moves only on new content: toward start + reward, by curiosityStep', () => {
  const s = fresh();
  feed(s, [{ click: true, is_new_content: false }]);
  close(s.curiosity, 0.5);
  feed(s, [{ click: false, is_new_content: true }]);
  assert.ok(s.curiosity < 0.5, 'skipping new content lowers it');
  const c = s.curiosity;
  const b = baselineClickRate(s, cfg.user);
  feed(s, [{ click: true, is_new_content: true }]);
  close(s.curiosity, c + 0.1 * (0.5 + relativeReward(true, b, cfg.user) - c));
  // Clicking new content while skipping the rest: curious, relative to the user's own rate.
  feed(
    s,
    Array.from({ length: 40 }, (_, i) => ({ click: i % 2 === 0, is_new_content: i % 2 === 0 })),
  );
  assert.ok(s.curiosity <= 1 && s.curiosity > 0.8, String(s.curiosity));
  // Clicking everything: new content is no more attractive to this user than the rest.
  feed(
    s,
    Array.from({ length: 60 }, () => ({ click: true, is_new_content: true })),
  );
  assert.ok(s.curiosity > 0.5 && s.curiosity < 0.7, String(s.curiosity));
});

test('curiosity decays back toward its start with its half-life, exactly however the gap is split', () => {
  const h = cfg.user.curiosityHalfLifeMs;
  const first = feed(fresh(), [{ click: true, is_new_content: true, event_time: T0 }]).curiosity;
  const a = feed(fresh(), [{ click: true, is_new_content: true, event_time: T0 }, { event_time: T0 + h }]);
  close(a.curiosity, 0.5 + (first - 0.5) / 2);
  const b = feed(fresh(), [
    { click: true, is_new_content: true, event_time: T0 },
    { event_time: T0 + h / 2 },
    { event_time: T0 + h },
  ]);
  close(b.curiosity, a.curiosity, 1e-12);
  const c = feed(fresh(), [
    { click: true, is_new_content: true, event_time: T0 },
    { event_time: T0 + 40 * h },
  ]);
  close(c.curiosity, 0.5, 1e-9);
});

test('fatigue rises in a same-category run the user skips, rests when they click, drops on a category change', () => {
  const s = feed(fresh(), [{ category: 'tech' }, { category: 'tech' }]);
  close(s.fatigue, 0.2);
  feed(s, [{ category: 'tech' }]);
  assert.ok(s.fatigue > 0.2, 'third skip in a row tires');
  const tired = s.fatigue;
  feed(s, [{ category: 'tech' }]);
  assert.ok(s.fatigue > tired);
  const before = s.fatigue;
  feed(s, [{ category: 'tech', click: true }]);
  assert.ok(s.fatigue < before, 'a click in the run rests');
  const f = s.fatigue;
  feed(s, [{ category: 'food' }]);
  close(s.fatigue, f - (f - 0.2) * 0.5);
});

test('fatigue decays toward its start with a short half-life', () => {
  const s = feed(fresh(), [{ category: 'a' }, { category: 'a' }, { category: 'a' }]);
  const f = s.fatigue;
  const b = baselineClickRate(s, cfg.user);
  feed(s, [{ category: 'a', event_time: T0 + cfg.user.fatigueHalfLifeMs }]);
  const decayed = 0.2 + (f - 0.2) / 2;
  close(s.fatigue, decayed + 0.2 * (0.2 - relativeReward(false, b, cfg.user) - decayed));
});

test('exploitation moves a step toward 0 while satisfaction < 0.5 and toward 0.7 while satisfied', () => {
  // A user who usually clicks every other item, then skips: below their own rate, dissatisfied.
  const s = feed(fresh(), [
    ...Array.from({ length: 10 }, (_, i) => ({ click: i % 2 === 0 })),
    ...Array.from({ length: 4 }, () => ({ click: false })),
  ]);
  assert.ok(s.satisfaction < 0.5, String(s.satisfaction));
  const e = s.exploitation;
  feed(s, [{ click: false }]);
  close(s.exploitation, 0.9 * e);
  const t = feed(fresh(), [{ click: true }]);
  assert.ok(t.satisfaction >= 0.5);
  close(t.exploitation, 0.7);
  t.exploitation = 0.3;
  feed(t, [{ click: true }]);
  close(t.exploitation, 0.3 + 0.1 * (0.7 - 0.3));
});

test('exploitation recovers toward its start while the user is satisfied (during the gap)', () => {
  const s = feed(fresh(), [{ click: true }]);
  s.exploitation = 0.3;
  feed(s, [{ click: true, event_time: T0 + cfg.user.exploitationRecoveryHalfLifeMs }]);
  close(s.exploitation, 0.5 + 0.1 * (0.7 - 0.5));
});

test('a user who keeps skipping heated items is served a lower explore probability (halved per skip beyond 2)', () => {
  const s = feed(fresh(), [{ event_time: T0 + 4 * DAY, user_registered_at: T0 }]);
  const p = exploreProbability(s, cfg);
  assert.ok(p > 0);
  feed(s, [{ heated: true }, { heated: true }]);
  assert.equal(heatedSkipStreak(s), 2);
  close(exploreProbability(s, cfg), s.explore);
  feed(s, [{ heated: true }, { heated: false }, { heated: true }]);
  assert.equal(heatedSkipStreak(s), 4);
  close(exploreProbability(s, cfg), s.explore / 4);
  feed(s, [{ heated: true, click: true }]);
  assert.equal(heatedSkipStreak(s), 0);
  close(exploreProbability(s, cfg), s.explore);
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
  close(s.curiosity, 0.5 + 0.1 * 1); // zero gaps: no decay at all (first click at the reference rate: reward 1)
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
