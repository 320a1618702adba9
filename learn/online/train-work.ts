// One unit of training for the online learner, as plain data (so it can cross a thread): a PPO
// update of the allocation network from a base version and a batch of settled experiences, or the
// behaviour-cloning warm start from the rule's rows. TrainWork runs it; the same code runs in the
// training thread (the job) and in-thread (the simulator, tests), so both produce the same weights.
import { allocationNet } from '../allocation-model.js';
import { imitate } from '../imitation.js';
import { makeWeights, type NamedArray, type WeightSet } from '../network.js';
import { PpoLearner, type Experience, type PpoConfig, type PpoStats } from '../ppo.js';

/** A WeightSet as structured-clone data. */
export interface WeightData {
  arch: string;
  name: string;
  seq: number;
  arrays: NamedArray[];
}

export interface PpoJob {
  kind: 'ppo';
  base: WeightData;
  /** rows × obsWidth observations, row-major. */
  obs: Float32Array;
  actions: Uint8Array;
  logProbs: Float64Array;
  rewards: Float64Array;
  /** Seq of the version this update produces (also its minibatch-shuffle key). */
  seq: number;
}

export interface ImitationJob {
  kind: 'imitate';
  base: WeightData;
  obs: Float32Array;
  /** Target P(approve) per row. */
  targets: Float32Array;
  seq: number;
  seed: number;
}

export type TrainJob = PpoJob | ImitationJob;

export interface TrainOutcome {
  weights: WeightSet;
  /** PPO statistics (ppo jobs). */
  ppo?: PpoStats;
  /** Cross-entropy before / after (imitation jobs). */
  imitation?: { lossBefore: number; lossAfter: number };
}

export const weightData = (w: WeightSet): WeightData => ({
  arch: w.arch,
  name: w.name,
  seq: w.seq,
  arrays: w.arrays.map((a) => ({ name: a.name, shape: [...a.shape], values: a.values })),
});

export const fromWeightData = (d: WeightData): WeightSet => makeWeights(d, d.seq, d.arrays);

/** Packs settled experiences into a PPO job. */
export function ppoJob(base: WeightSet, batch: readonly Experience[], seq: number): PpoJob {
  const W = allocationNet.obsWidth;
  const obs = new Float32Array(batch.length * W);
  const actions = new Uint8Array(batch.length);
  const logProbs = new Float64Array(batch.length);
  const rewards = new Float64Array(batch.length);
  batch.forEach((e, i) => {
    obs.set(e.obs.subarray(0, W), i * W);
    actions[i] = e.action;
    logProbs[i] = e.logProb;
    rewards[i] = e.reward;
  });
  return { kind: 'ppo', base: weightData(base), obs, actions, logProbs, rewards, seq };
}

/** Runs jobs with one PPO learner kept across updates (fresh Adam moments per update by default). */
export class TrainWork {
  private learner: PpoLearner | null = null;

  constructor(
    private readonly ppo: Partial<PpoConfig>,
    private readonly seed: number,
  ) {}

  run(job: TrainJob): TrainOutcome {
    const base = fromWeightData(job.base);
    if (job.kind === 'imitate') {
      const rows = job.targets.length;
      const r = imitate(allocationNet, base, job.obs, job.targets, rows, job.seq, { seed: job.seed });
      return { weights: r.weights, imitation: { lossBefore: r.lossBefore, lossAfter: r.lossAfter } };
    }
    if (!this.learner) this.learner = new PpoLearner(allocationNet, base, this.ppo, this.seed);
    else this.learner.load(base); // an update is a function of (base, batch, seed, seq)
    const W = allocationNet.obsWidth;
    const batch: Experience[] = [];
    for (let i = 0; i < job.actions.length; i++)
      batch.push({
        obs: job.obs.subarray(i * W, (i + 1) * W),
        action: job.actions[i] as 0 | 1,
        logProb: job.logProbs[i],
        reward: job.rewards[i],
      });
    const stats = this.learner.update(batch, `${base.name}@${job.seq}`);
    return { weights: this.learner.exportWeights(job.seq), ppo: stats };
  }

  dispose(): void {
    this.learner?.dispose();
    this.learner = null;
  }
}
