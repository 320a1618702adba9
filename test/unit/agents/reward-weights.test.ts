import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RewardWeightsHolder,
  parseRewardWeightsFromText,
  validateRewardWeights,
} from '../../../agents/reward-weights.js';
import { close } from './helpers.js';

const good = { user_satisfaction: 0.3, platform_revenue: 0.5, long_term: 0.2 };

test('weights in a ```json fence inside LLM prose are extracted', () => {
  const text =
    '好的，根据618大促目标，建议如下：\n```json\n{\n "user_satisfaction": 0.3,\n "platform_revenue": 0.5,\n "long_term": 0.2\n}\n```\n以上权重仅供参考。';
  assert.deepEqual(parseRewardWeightsFromText(text), { ok: true, weights: good });
});

test('without a fence, the first balanced {...} is used, braces inside strings do not confuse it', () => {
  const text =
    'Weights: {"note": "use {braces} wisely", "user_satisfaction": 0.5, "platform_revenue": 0.25, "long_term": 0.25} and {"x": 1}';
  assert.deepEqual(parseRewardWeightsFromText(text), {
    ok: true,
    weights: { user_satisfaction: 0.5, platform_revenue: 0.25, long_term: 0.25 },
  });
});

test('text is never evaluated: code, Python literals and trailing junk are rejected', () => {
  let touched = false;
  (globalThis as Record<string, unknown>).__rw_touched = () => (touched = true);
  for (const text of [
    '```json\n{"user_satisfaction": __rw_touched(), "platform_revenue": 0.5, "long_term": 0.2}\n```',
    "{'user_satisfaction': 0.3, 'platform_revenue': 0.5, 'long_term': 0.2}",
    '```json\n{"user_satisfaction": 0.3, "platform_revenue": 0.5, "long_term": 0.2,}\n```',
    'no json here',
    '',
  ]) {
    const r = parseRewardWeightsFromText(text);
    assert.equal(r.ok, false, text);
  }
  assert.equal(touched, false);
});

test('out-of-bounds, missing, non-numeric or badly summing weights are rejected with a reason', () => {
  const cases: [unknown, RegExp][] = [
    [{ ...good, long_term: -0.1 }, /long_term/],
    [{ ...good, platform_revenue: 1.2 }, /platform_revenue/],
    [{ user_satisfaction: 0.5, platform_revenue: 0.5 }, /long_term/],
    [{ ...good, long_term: '0.2' }, /long_term/],
    [{ user_satisfaction: 0.5, platform_revenue: 0.5, long_term: 0.5 }, /sum/],
    [null, /root/],
  ];
  for (const [x, re] of cases) {
    const v = validateRewardWeights(x);
    assert.ok('error' in v && re.test(v.error), JSON.stringify(x));
  }
});

test('weights summing to 1 within the tolerance are renormalised exactly', () => {
  const v = validateRewardWeights({ user_satisfaction: 0.4, platform_revenue: 0.4, long_term: 0.21 });
  assert.ok(!('error' in v));
  close(v.user_satisfaction + v.platform_revenue + v.long_term, 1, 1e-15);
  close(v.long_term, 0.21 / 1.01);
});

test('the holder keeps the last good weights and counts rejections', () => {
  const h = new RewardWeightsHolder({ user_satisfaction: 0.4, platform_revenue: 0.4, long_term: 0.2 });
  assert.equal(h.offerText('```json\n' + JSON.stringify(good) + '\n```'), true);
  assert.deepEqual(h.weights, good);
  assert.equal(h.offerText('I think revenue matters most!'), false);
  assert.equal(h.offer({ user_satisfaction: 2, platform_revenue: 0, long_term: 0 }), false);
  assert.deepEqual(h.weights, good);
  assert.equal(h.rejected, 2);
  assert.match(h.lastRejection ?? '', /user_satisfaction/);
  assert.throws(
    () => new RewardWeightsHolder({ user_satisfaction: 1, platform_revenue: 1, long_term: 1 }),
    RangeError,
  );
});
