// Behaviour-cloning set for the explore network's warm start. The rows the rule decided during the
// warm-up come from the first hours of a run (night: 81 rows at 2,000 users over 2 h), so they
// cover a narrow band of mind states, and a network fitted to them alone explored less than the
// rule later in the run (mean P 0.59–0.62 vs the rule's 0.70 over 3 days, measured). The rule is
// a known function of the mind state, so the set is widened: `extra` more rows, each the
// behaviour block of an observed row (cycled) with mind features drawn uniformly from [0,1]
// (seeded), labelled by the rule itself. The network then imitates the rule over the whole state
// space it will meet, not only the warm-up's.
import type { ExplorePolicy } from '../agents/scorer.js';
import { MIND_FEATURE_COUNT } from '../agents/scorer.js';
import { Rng } from '../core/rng.js';
import { EXPLORE_OBS_WIDTH } from './explore-model.js';

export interface ExploreCloneSet {
  obs: Float32Array;
  targets: Float32Array;
  rows: number;
}

export function exploreCloneSet(
  observed: readonly Float32Array[],
  observedTargets: readonly number[],
  rule: ExplorePolicy,
  extra: number,
  seed: number,
): ExploreCloneSet {
  const W = EXPLORE_OBS_WIDTH;
  const M = MIND_FEATURE_COUNT;
  const n0 = observed.length;
  const add = n0 > 0 ? Math.max(0, extra) : 0;
  const rows = n0 + add;
  const obs = new Float32Array(rows * W);
  const targets = new Float32Array(rows);
  observed.forEach((r, i) => {
    obs.set(r, i * W);
    targets[i] = observedTargets[i];
  });
  if (add === 0) return { obs, targets, rows };
  const rng = new Rng(seed).fork('explore-clone-set');
  const mind = new Float32Array(add * M);
  for (let i = 0; i < add; i++) {
    const o = (n0 + i) * W;
    obs.set(observed[i % n0], o);
    for (let k = 0; k < M; k++) obs[o + k] = mind[i * M + k] = rng.next();
  }
  const behaviour = new Float32Array(add * (W - M));
  for (let i = 0; i < add; i++) behaviour.set(obs.subarray((n0 + i) * W + M, (n0 + i + 1) * W), i * (W - M));
  targets.set(rule.exploreProbabilities(mind, behaviour, add), n0);
  return { obs, targets, rows };
}
