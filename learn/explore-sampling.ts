// The explore network as a stochastic policy for PPO: per user row of a micro-batch, the network's
// logit z is perturbed, u = z + σ·ε, and sigmoid(u) is the explore probability the ranker reads.
// ε comes from a keyed draw, so a run is reproducible whatever the batching:
//   'per-decision': keyed by (seed, model version, user id, that user's decision count) — fresh
//     noise at every decision;
//   'per-user': keyed by (seed, user id) only — each user keeps one ε for the run (persistent,
//     "temporally correlated" exploration). Marginally over users u | s is still N(z(s), σ²), but a
//     user's explore level no longer jumps from one session to the next because of the noise, which
//     is exactly the day-to-day swing satisfaction_std measures (坑10: smoother exploration).
// Each decision is recorded in the ExploreDecisionLog, which closes the user's previous decision
// (reward from what was served under it).
import * as tf from '@tensorflow/tfjs';
import type { UserKeyedExplorePolicy } from '../agents/explore.js';
import { keyedUniform } from '../core/rng.js';
import type { ClosedExploreDecision, ExploreDecisionLog } from './explore-experience.js';
import { EXPLORE_OBS_WIDTH, packExploreObs } from './explore-model.js';
import { sampleGaussian } from './explore-ppo.js';
import { HandlePolicy, type ModelHandle } from './network.js';

export interface ExploreDecisionEvent {
  userId: string;
  /** Emitted explore probability sigmoid(u). */
  probability: number;
  /** The user's previous decision, when it closed with an outcome. */
  closed: ClosedExploreDecision | null;
}

export type ExploreNoise = 'per-decision' | 'per-user';

export class SampledExplorePolicy extends HandlePolicy implements UserKeyedExplorePolicy {
  private readonly counts = new Map<string, number>();

  constructor(
    handle: ModelHandle,
    private readonly log: ExploreDecisionLog,
    /** Current logσ (the learner's). */
    private readonly logStd: () => number,
    private readonly seed: number,
    private readonly noise: ExploreNoise = 'per-decision',
    /** Told of each decision (learning curves). */
    private readonly onDecision?: (e: ExploreDecisionEvent) => void,
  ) {
    super(handle);
  }

  private means(obs: Float32Array, rows: number): Float32Array {
    const m = this.readModel();
    return tf.tidy(
      () =>
        this.handle.net
          .logits(m.params, tf.tensor2d(obs, [rows, EXPLORE_OBS_WIDTH]))
          .dataSync() as Float32Array,
    );
  }

  /** Without user ids nothing can be recorded: the mean policy sigmoid(z). */
  exploreProbabilities(mind: Float32Array, behaviour: Float32Array, rows: number): Float32Array {
    if (rows === 0) return new Float32Array(0);
    const z = this.means(packExploreObs(mind, behaviour, rows), rows);
    return Float32Array.from(z, sigmoid);
  }

  exploreProbabilitiesFor(
    userIds: readonly string[],
    mind: Float32Array,
    behaviour: Float32Array,
    rows: number,
  ): Float32Array {
    if (rows === 0) return new Float32Array(0);
    if (userIds.length !== rows) throw new RangeError('explore policy: one user id per row');
    const obs = packExploreObs(mind, behaviour, rows);
    const z = this.means(obs, rows);
    const logStd = this.logStd();
    const out = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      const id = userIds[i];
      const n = this.counts.get(id) ?? 0;
      this.counts.set(id, n + 1);
      const key = this.noise === 'per-user' ? [id] : [this.modelVersion, id, n];
      const u1 = keyedUniform(this.seed, 'explore-sample', ...key, 1);
      const u2 = keyedUniform(this.seed, 'explore-sample', ...key, 2);
      const s = sampleGaussian(z[i], logStd, u1, u2);
      out[i] = sigmoid(s.action);
      const row = obs.slice(i * EXPLORE_OBS_WIDTH, (i + 1) * EXPLORE_OBS_WIDTH);
      const closed = this.log.decide(id, row, s.action, s.logProb);
      this.onDecision?.({ userId: id, probability: out[i], closed });
    }
    return out;
  }
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
