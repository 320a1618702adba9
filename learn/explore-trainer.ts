// Off-hot-path training of the shared explore network: the caller (the simulator policy, at tick
// boundaries) calls trainNow(); when the decision log holds ≥ minBatch rewarded decisions, one
// Gaussian PPO update runs over up to maxBatch of them, and the result is swapped into the
// ModelHandle the hot path scores with (seq + 1). Update keys are the seq being produced, so the
// same seed and the same data give the same weights.
import type { ExploreDecisionLog } from './explore-experience.js';
import { GaussianPpoLearner, type GaussianPpoConfig, type GaussianPpoStats } from './explore-ppo.js';
import type { ModelHandle } from './network.js';

export interface ExploreTrainerConfig {
  minBatch: number;
  maxBatch: number;
  ppo: Partial<GaussianPpoConfig>;
  seed: number;
}

export class ExploreTrainer {
  private learner: GaussianPpoLearner | null = null;
  updates = 0;

  constructor(
    private readonly handle: ModelHandle,
    private readonly log: ExploreDecisionLog,
    readonly cfg: ExploreTrainerConfig,
  ) {}

  /**
   * The learner starts from the handle's weights at the first call (after the behaviour-cloning
   * warm start, so PPO fine-tunes the cloned policy).
   */
  private get ppo(): GaussianPpoLearner {
    if (!this.learner)
      this.learner = new GaussianPpoLearner(
        this.handle.net,
        this.handle.current.weights,
        this.cfg.ppo,
        this.cfg.seed,
      );
    return this.learner;
  }

  /** logσ the sampler uses (the learner's, or its initial value before the first update). */
  logStd(): number {
    return this.ppo.logStd;
  }

  trainNow(): GaussianPpoStats | null {
    if (this.log.readyCount < this.cfg.minBatch) return null;
    const batch = this.log.take(this.cfg.maxBatch);
    const seq = this.handle.current.weights.seq + 1;
    const stats = this.ppo.update(batch, `explore-${seq}`);
    this.handle.swap(this.ppo.exportWeights(seq));
    this.updates++;
    return stats;
  }

  dispose(): void {
    this.learner?.dispose();
  }
}
