// The off-hot-path training loop. Scoring never waits for it: PPO runs one gradient step per
// event-loop turn (setImmediate), and new weights reach the scorer only through ModelHandle.swap(),
// which replaces one reference between batches. Each published update gets seq + 1, is checkpointed
// (write-if-newer) and exported as thermostat_model_version.
import { LOG_EVENTS, silentLogger, type Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { ExperienceBuffer } from './experience.js';
import { versionOf, type ModelHandle, type WeightSet } from './network.js';
import { PpoLearner, type PpoConfig, type PpoStats } from './ppo.js';
import { saveWeights, type ModelStore } from './model-store.js';

export interface TrainerConfig {
  /** Train once this many settled experiences are waiting. */
  minBatch: number;
  /** At most this many experiences per update (the oldest first). */
  maxBatch: number;
  /** Gradient steps run back to back before yielding to the event loop (0: never yield). */
  stepsPerTurn: number;
  ppo: Partial<PpoConfig>;
  /** Seed of the learner's minibatch shuffling (deterministic mode). */
  seed: number;
}

export const DEFAULT_TRAINER_CONFIG: TrainerConfig = {
  minBatch: 512,
  maxBatch: 4096,
  stepsPerTurn: 1,
  ppo: {},
  seed: 42,
};

export interface TrainResult {
  version: string;
  seq: number;
  stats: PpoStats;
  /** Whether the checkpoint was written (false: no store, a newer one exists, or it failed). */
  checkpointed: boolean;
}

export interface TrainerDeps {
  handle: ModelHandle;
  buffer: ExperienceBuffer;
  store?: ModelStore;
  logger?: Logger;
  metrics?: Pick<Metrics, 'modelVersion' | 'trainingSteps'>;
  /** Wall clock for created_at only (never affects weights). */
  now?: () => number;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Trainer {
  readonly cfg: TrainerConfig;
  readonly learner: PpoLearner;
  private busy: Promise<TrainResult | undefined> | null = null;
  private lastPublished: WeightSet | null = null;
  private disposed = false;
  private readonly unsubscribe: () => void;
  private readonly log: Logger;

  constructor(
    private readonly deps: TrainerDeps,
    cfg: Partial<TrainerConfig> = {},
  ) {
    this.cfg = { ...DEFAULT_TRAINER_CONFIG, ...cfg };
    this.log = deps.logger ?? silentLogger;
    this.learner = new PpoLearner(deps.handle.net, deps.handle.current.weights, this.cfg.ppo, this.cfg.seed);
    deps.metrics?.modelVersion.set(deps.handle.current.weights.seq);
    // Weights swapped in from elsewhere (a newer checkpoint) become the learner's starting point.
    this.unsubscribe = deps.handle.onSwap((m) => {
      if (m.weights !== this.lastPublished) this.learner.load(m.weights);
    });
  }

  get training(): boolean {
    return this.busy !== null;
  }

  /**
   * Starts an update when enough experiences are waiting and none is running; otherwise resolves
   * undefined. Concurrent calls share the running update.
   */
  maybeTrain(): Promise<TrainResult | undefined> {
    if (this.busy) return this.busy;
    if (this.disposed || this.deps.buffer.readyCount < this.cfg.minBatch) return Promise.resolve(undefined);
    const batch = this.deps.buffer.drain(this.cfg.maxBatch);
    this.busy = this.run(batch).finally(() => {
      this.busy = null;
    });
    return this.busy;
  }

  private async run(batch: Parameters<PpoLearner['update']>[0]): Promise<TrainResult | undefined> {
    const it = this.learner.updateSteps(batch, this.updateKey());
    let stats: PpoStats;
    let n = 0;
    for (;;) {
      if (this.disposed) {
        it.return(undefined as never); // runs the learner's cleanup (disposes the batch tensors)
        return undefined;
      }
      const r = it.next();
      if (r.done) {
        stats = r.value;
        break;
      }
      if (this.cfg.stepsPerTurn > 0 && ++n % this.cfg.stepsPerTurn === 0) await nextTurn();
    }
    return this.publish(this.learner.exportWeights(this.deps.handle.current.weights.seq + 1), stats);
  }

  /** Synchronous update for the simulator / deterministic tests: same result, no yielding. */
  async trainNow(): Promise<TrainResult | undefined> {
    if (this.disposed || this.busy || this.deps.buffer.readyCount === 0) return undefined;
    const batch = this.deps.buffer.drain(this.cfg.maxBatch);
    const stats = this.learner.update(batch, this.updateKey());
    return this.publish(this.learner.exportWeights(this.deps.handle.current.weights.seq + 1), stats);
  }

  /** The seq this update will produce: its minibatch shuffling depends on it only. */
  private updateKey(): string {
    return `${this.deps.handle.current.weights.name}@${this.deps.handle.current.weights.seq + 1}`;
  }

  private async publish(w: WeightSet, stats: PpoStats): Promise<TrainResult> {
    this.lastPublished = w;
    this.deps.handle.swap(w);
    this.deps.metrics?.trainingSteps.inc(stats.steps);
    this.deps.metrics?.modelVersion.set(w.seq);
    this.log.info(
      { event: LOG_EVENTS.modelSwapped, version: versionOf(w), ...stats },
      `model ${versionOf(w)} swapped in`,
    );
    let checkpointed = false;
    if (this.deps.store) {
      try {
        checkpointed = await saveWeights(this.deps.store, w, (this.deps.now ?? Date.now)());
      } catch (e) {
        // Training goes on; the next update retries with a newer version.
        this.log.warn(
          { event: LOG_EVENTS.checkpointFailed, version: versionOf(w), error: (e as Error).message },
          'model checkpoint failed',
        );
      }
    }
    return { version: versionOf(w), seq: w.seq, stats, checkpointed };
  }

  /** Stops a running update at its next step (it resolves undefined) and frees the learner. */
  dispose(): void {
    this.disposed = true;
    this.unsubscribe();
    if (this.busy) {
      // the running update notices `disposed` at its next step; free the learner after it stopped
      const free = (): void => this.learner.dispose();
      this.busy.then(free, free);
      return;
    }
    this.learner.dispose();
  }
}
