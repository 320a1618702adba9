// The explore warm start's clone set (learn/explore-clone.ts): observed rule decisions plus
// rule-labelled rows over uniformly drawn mind states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIND_FEATURE_COUNT as M } from '../../../agents/scorer.js';
import { RuleExplorePolicy, ruleExploreProbability } from '../../../agents/rule-explore.js';
import { exploreCloneSet } from '../../../learn/explore-clone.js';
import { EXPLORE_OBS_WIDTH as W } from '../../../learn/explore-model.js';
import { randomRows } from './helpers.js';

const weights = { exploitation: 0.5, curiosity: 0.3, fatigue: 0.2 };
const rule = new RuleExplorePolicy(weights);

test('clone set: observed rows first, then rule-labelled rows with uniform minds and observed behaviour', () => {
  const rows = [0, 1, 2].map((i) => randomRows(10 + i, 1, W));
  const set = exploreCloneSet(rows, [0.1, 0.2, 0.3], rule, 7, 4);
  assert.equal(set.rows, 10);
  assert.deepEqual(Array.from(set.obs.subarray(0, W)), Array.from(rows[0]));
  assert.deepEqual(
    Array.from(set.targets.subarray(0, 3)).map((x) => +x.toFixed(6)),
    [0.1, 0.2, 0.3],
  );
  for (let i = 3; i < 10; i++) {
    const o = set.obs.subarray(i * W, (i + 1) * W);
    const src = rows[(i - 3) % 3];
    assert.deepEqual(Array.from(o.subarray(M)), Array.from(src.subarray(M)), 'behaviour of an observed row');
    for (let k = 0; k < M; k++) assert.ok(o[k] >= 0 && o[k] < 1);
    assert.ok(Math.abs(set.targets[i] - ruleExploreProbability(o[0], o[1], o[2], weights)) < 1e-6);
  }
  // The drawn minds cover the range (not the observed ones) and the set is seeded.
  assert.notDeepEqual(Array.from(set.obs.subarray(3 * W, 3 * W + M)), Array.from(rows[0].subarray(0, M)));
  assert.deepEqual(exploreCloneSet(rows, [0.1, 0.2, 0.3], rule, 7, 4), set);
  assert.equal(exploreCloneSet([], [], rule, 7, 4).rows, 0, 'nothing observed: nothing to clone');
});
