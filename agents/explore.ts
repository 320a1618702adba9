// The user stage's explore-policy seam (SPEC §3). applyUserInteraction
// always sets `state.explore` with the rule; when a learned ExplorePolicy is configured, the user
// stage calls applyExplorePolicy ONCE per micro-batch for every user the batch changed: one
// mind-feature matrix, one behaviour tensor (last BEHAVIOUR_SEQUENCE_LENGTH steps), one forward pass
// (never a network call per interaction or per user). The policy is a pure function of a user's
// state, so the batch result equals scoring each user alone, and it only depends on the state
// after the batch (what the changelog and the ranker read).
import { RuleExplorePolicy } from './rule-explore.js';
import type { AgentConfig } from './config.js';
import {
  BEHAVIOUR_SEQUENCE_LENGTH,
  BEHAVIOUR_STEP_FEATURE_COUNT,
  MIND_FEATURE_COUNT,
  type ExplorePolicy,
} from './scorer.js';
import { behaviourFeatures, mindFeatures, type UserAgentState } from './user.js';

const STEP_BLOCK = BEHAVIOUR_SEQUENCE_LENGTH * BEHAVIOUR_STEP_FEATURE_COUNT;

/**
 * An ExplorePolicy that is also told which user each row is: a learner that records each user's
 * decision to join it with that user's next interactions (learn/explore-sampling.ts). Row i ↔
 * userIds[i]; the result must not depend on anything but the rows, the ids and the policy's state.
 */
export interface UserKeyedExplorePolicy extends ExplorePolicy {
  exploreProbabilitiesFor(
    userIds: readonly string[],
    mind: Float32Array,
    behaviour: Float32Array,
    rows: number,
  ): Float32Array;
}

const isUserKeyed = (p: ExplorePolicy): p is UserKeyedExplorePolicy =>
  typeof (p as Partial<UserKeyedExplorePolicy>).exploreProbabilitiesFor === 'function';

/** The ExplorePolicy inputs of `states`, row i ↔ states[i]. */
export function exploreInputs(states: readonly UserAgentState[]): {
  mind: Float32Array;
  behaviour: Float32Array;
} {
  const mind = new Float32Array(states.length * MIND_FEATURE_COUNT);
  const behaviour = new Float32Array(states.length * STEP_BLOCK);
  states.forEach((s, i) => {
    mindFeatures(s, mind, i * MIND_FEATURE_COUNT);
    behaviourFeatures(s, behaviour, i * STEP_BLOCK);
  });
  return { mind, behaviour };
}

/**
 * Sets `explore` (the policy output before 坑5 protection) of every state with one batched call.
 * Returns the probabilities, row i ↔ states[i].
 */
export function applyExplorePolicy(states: readonly UserAgentState[], policy: ExplorePolicy): Float32Array {
  if (states.length === 0) return new Float32Array(0);
  const { mind, behaviour } = exploreInputs(states);
  const p = isUserKeyed(policy)
    ? policy.exploreProbabilitiesFor(
        states.map((s) => s.id),
        mind,
        behaviour,
        states.length,
      )
    : policy.exploreProbabilities(mind, behaviour, states.length);
  if (p.length !== states.length) throw new RangeError('explore policy returned the wrong number of rows');
  states.forEach((s, i) => {
    const v = p[i];
    s.explore = v <= 0 ? 0 : v >= 1 ? 1 : v;
  });
  return p;
}

/**
 * The default: the rule, which applyUserInteraction already applies per interaction, so the user
 * stage makes no batched call for it (its output is unchanged by this seam).
 */
export const defaultExplorePolicy = (cfg: AgentConfig): ExplorePolicy =>
  new RuleExplorePolicy(cfg.user.explore);
