// The online learner: trains the allocation network from the allocator's own tick reports and
// publishes each new version as a MODEL control record on the allocator's input log (with the
// weights in it), after writing it to the model store. The same class runs in the Kafka job (PPO in
// a worker thread, published whenever it finishes) and in the simulator (in-thread, published
// inside the tick that triggered it); only the TrainRunner differs.
//
// Life cycle:
//   warm-up   the rule decides; its rows and scores are kept; after `warmupMs` of event time the
//             network is fitted to the rule's decisions (behaviour cloning) → version 1 (warm_start)
//   learning  the live version decides (sampled); settled experiences → PPO update → next version
//             (ppo_update). A new version is trained only once the previous one is live.
//   guard     a candidate that fails the checks is not published; a live version the guard
//             condemns is rolled back: the last good version is republished under a new seq
//             (rollback), or the rule if none was good yet (then a new warm-up). After
//             `maxRollbacks` rollbacks in a row the learner stops and the rule decides.
// Determinism: what the allocator uses at a tick is decided by the control records' positions in
// its input log (pipelines/allocator-control.ts), never by when training finishes.
import { RuleScorer } from '../../agents/rule-scorer.js';
import { LOG_EVENTS, silentLogger, type Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import { ALLOCATION_FEATURE_COUNT } from '../../agents/scorer.js';
import type { AllocatorControlSink, LiveModel } from '../../pipelines/allocator-control.js';
import type { TickReport } from '../../pipelines/allocator-task.js';
import type { AllocatorControl } from '../../schemas/types.js';
import { ALLOCATION_MODEL_NAME, initAllocationWeights } from '../allocation-model.js';
import { jsScore, packMlp3 } from '../fast-scorer.js';
import type { ModelStore } from '../model-store.js';
import { makeWeights, serializeWeights, validateWeights, versionOf, type WeightSet } from '../network.js';
import { allocationNet } from '../allocation-model.js';
import type { PpoStats } from '../ppo.js';
import type { OnlineAllocatorModels } from './allocator-models.js';
import { ModelGuard, RowWindow, type GuardConfig, type RejectReason, type RollbackReason } from './guard.js';
import { RewardJoin, type RewardJoinConfig, type SettledGrant, type TickDecisions } from './reward-join.js';
import type { TrainRunner } from './train-runner.js';
import { ppoJob, weightData, type TrainJob, type TrainOutcome } from './train-work.js';

export interface OnlineLearnerConfig {
  seed: number;
  /** Event time the rule decides (and is imitated) before the warm start. */
  warmupMs: number;
  /** Rule rows kept for the warm start, at most. */
  warmupMaxRows: number;
  /** Warm start target = sigmoid((rule score − threshold)/τ): the rule's decision, softened. */
  imitationTemperature: number;
  /** agents.system.scoreThreshold. */
  threshold: number;
  /** Train once this many settled experiences wait; at most maxBatch per update. */
  minBatch: number;
  maxBatch: number;
  join: Omit<RewardJoinConfig, 'seed' | 'threshold'>;
  guard: GuardConfig;
  /** Rollbacks in a row after which learning stops (the rule decides). */
  maxRollbacks: number;
}

export type PublishReason = 'warm_start' | 'ppo_update' | 'rollback';

/** What the learner did, for the simulator's learning curves and tests. */
export type LearnerEvent =
  | { type: 'decisions'; d: TickDecisions }
  | { type: 'settled'; tick: number; grants: SettledGrant[] }
  | { type: 'published'; tick: number; version: string; reason: PublishReason; ppo?: PpoStats }
  | { type: 'rejected'; tick: number; reason: RejectReason | 'publish_failed' | 'train_failed' }
  | { type: 'rollback'; tick: number; version: string; reason: RollbackReason; to: string };

export interface OnlineLearnerDeps {
  /** Live-model changes of the allocator's models (each tick's decision comes in its TickReport). */
  models: Pick<OnlineAllocatorModels, 'onLive'>;
  runner: TrainRunner;
  control: AllocatorControlSink;
  store?: ModelStore;
  log?: Logger;
  metrics?: Pick<
    Metrics,
    | 'trainingSteps'
    | 'modelsPublished'
    | 'modelsRejected'
    | 'modelRollbacks'
    | 'learnerExperiences'
    | 'learnerMeanReward'
    | 'approvalRate'
    | 'policyEntropy'
  >;
  /** Wall clock for issued_at / created_at only. */
  now?: () => number;
  onEvent?: (e: LearnerEvent) => void;
}

type Phase = 'warmup' | 'learning' | 'stopped';

const HOLDOUT_ROWS = 1024;
const RULE_VERSION = new RuleScorer().modelVersion;

export class OnlineLearner {
  readonly join: RewardJoin;
  readonly guard: ModelGuard;
  private phase: Phase = 'warmup';
  private warmRows: Float32Array[] = [];
  private warmScores: number[] = [];
  private warmFrom: number | null = null;
  private live: LiveModel | null = null;
  private liveWeights: WeightSet | null = null;
  private lastGood: WeightSet | null = null;
  private readonly known = new Map<string, WeightSet>();
  /** Issued and not yet seen live. */
  private issued: { seq: number; weights: WeightSet | null } | null = null;
  private nextSeq = 1;
  private busy = false;
  private lastTick = -Infinity;
  private activeFrom = -Infinity;
  private rollbacksInARow = 0;
  private readonly recent: Float32Array[] = [];
  private readonly rates = { RULE: new RowWindow(500), LEARNED: new RowWindow(500) };
  private readonly rewards = { RULE: [] as number[], LEARNED: [] as number[] };
  private readonly log: Logger;
  private readonly now: () => number;
  /** Updates published (any reason). */
  published = 0;

  constructor(
    private readonly deps: OnlineLearnerDeps,
    readonly cfg: OnlineLearnerConfig,
  ) {
    this.join = new RewardJoin({ ...cfg.join, seed: cfg.seed, threshold: cfg.threshold });
    this.guard = new ModelGuard(cfg.guard);
    this.log = deps.log ?? silentLogger;
    this.now = deps.now ?? Date.now;
    deps.models.onLive((live, weights) => this.onLive(live, weights));
  }

  /** Numbers new versions above every stored one (a restarted job never reuses a seq). */
  async init(): Promise<void> {
    const latest = await this.deps.store?.load(ALLOCATION_MODEL_NAME).catch(() => undefined);
    if (latest) this.nextSeq = Math.max(this.nextSeq, latest.seq + 1);
  }

  /** Ticks before `t` are scored by the rule and ignored (the simulator's pre-run catalog). */
  activateFrom(t: number): void {
    this.activeFrom = t;
  }

  get state(): { phase: Phase; live: string | null; lastGood: string | null; training: boolean } {
    return {
      phase: this.phase,
      live: this.live?.version ?? null,
      lastGood: this.lastGood ? versionOf(this.lastGood) : null,
      training: this.busy,
    };
  }

  private onLive(live: LiveModel | null, weights: WeightSet | null): void {
    this.live = live;
    this.liveWeights = weights;
    if (live) this.nextSeq = Math.max(this.nextSeq, live.seq + 1);
    if (this.issued && live?.seq === this.issued.seq) this.issued = null;
    if (live?.policy === 'LEARNED' && weights) {
      if (this.phase === 'warmup') this.phase = 'learning';
      this.remember(weights);
    } else if (this.phase === 'learning') this.restartWarmup();
  }

  /** Weights of the recent versions (a version judged good later becomes the rollback target). */
  private remember(w: WeightSet): void {
    this.known.set(versionOf(w), w);
    if (this.known.size > 16) this.known.delete(this.known.keys().next().value!);
  }

  private restartWarmup(): void {
    this.phase = 'warmup';
    this.warmRows = [];
    this.warmScores = [];
    this.warmFrom = null;
  }

  /** The allocator ran a tick (GraphSettings.onTick). Cheap: training runs elsewhere or later. */
  onTick(r: TickReport): void {
    // A tick replayed in this process (a partition re-assigned) was learned from already.
    if (r.tick <= this.lastTick || r.tick < this.activeFrom) return;
    this.lastTick = r.tick;
    const d = this.join.record(r);
    if (d && r.decision) {
      this.onDecisions(d);
      this.keepRecent(r.decision.features, d.rows);
      if (this.phase === 'warmup' && d.policy === 'RULE')
        this.keepWarmRows(r.decision.features, r.decision.scores);
    }
    this.join.observe(r);
    const grants = this.join.settle(r.tick);
    this.onSettled(r.tick, grants);
    this.step(r.tick);
  }

  private onDecisions(d: TickDecisions): void {
    const m = this.deps.metrics;
    this.guard.onDecisions(d);
    m?.approvalRate.set({ policy: d.policy }, this.rates[d.policy].add(d.rows, d.approvals));
    if (d.policy === 'LEARNED' && d.rows > 0) m?.policyEntropy.set(d.entropy / d.rows);
    this.deps.onEvent?.({ type: 'decisions', d });
  }

  private onSettled(tick: number, grants: SettledGrant[]): void {
    const m = this.deps.metrics;
    this.guard.onSettled(grants);
    for (const g of grants) {
      const xs = this.rewards[g.policy];
      xs.push(g.value);
      if (xs.length > 200) xs.shift();
    }
    for (const p of ['RULE', 'LEARNED'] as const) {
      const xs = this.rewards[p];
      if (xs.length > 0) m?.learnerMeanReward.set({ policy: p }, xs.reduce((a, b) => a + b, 0) / xs.length);
    }
    if (grants.length > 0) this.deps.onEvent?.({ type: 'settled', tick, grants });
  }

  private keepRecent(features: Float32Array, rows: number): void {
    const W = ALLOCATION_FEATURE_COUNT;
    for (let i = 0; i < rows; i++) {
      this.recent.push(features.slice(i * W, (i + 1) * W));
      if (this.recent.length > HOLDOUT_ROWS) this.recent.shift();
    }
  }

  private keepWarmRows(features: Float32Array, scores: Float32Array): void {
    const W = ALLOCATION_FEATURE_COUNT;
    for (let i = 0; i < scores.length && this.warmScores.length < this.cfg.warmupMaxRows; i++) {
      this.warmRows.push(features.slice(i * W, (i + 1) * W));
      this.warmScores.push(scores[i]);
    }
  }

  /** What to do after a tick: judge the live version, then train when there is reason to. */
  private step(tick: number): void {
    if (this.phase === 'stopped' || this.busy || this.issued) return;
    if (this.phase === 'learning' && this.live?.policy === 'LEARNED') {
      const v = this.guard.verdict(this.live.version);
      if (v.kind === 'rollback') return this.rollback(tick, v.reason, v.detail);
      const good = v.kind === 'good' ? this.known.get(v.version) : undefined;
      if (good && (!this.lastGood || good.seq > this.lastGood.seq)) {
        this.lastGood = good;
        this.rollbacksInARow = 0;
      }
      if (this.join.buffer.readyCount >= this.cfg.minBatch) {
        const batch = this.join.buffer.drain(this.cfg.maxBatch);
        this.deps.metrics?.learnerExperiences.inc(batch.length);
        this.train(tick, ppoJob(this.liveWeights!, batch, this.nextSeq++), 'ppo_update');
      }
      return;
    }
    if (this.phase !== 'warmup' || this.live?.policy === 'LEARNED') return;
    this.warmFrom ??= tick;
    if (tick - this.warmFrom < this.cfg.warmupMs || this.warmScores.length === 0) return;
    this.train(tick, this.imitationJob(), 'warm_start');
  }

  private imitationJob(): TrainJob {
    const W = ALLOCATION_FEATURE_COUNT;
    const obs = new Float32Array(this.warmRows.length * W);
    this.warmRows.forEach((r, i) => obs.set(r, i * W));
    // The rule's DECISION softened around its threshold (fitting the raw score would approve a
    // 0.35-score request 35% of the time and a denied 0.25-score one 25% of the time).
    const tau = this.cfg.imitationTemperature;
    const thr = this.cfg.threshold;
    const targets = Float32Array.from(this.warmScores, (s) => 1 / (1 + Math.exp(-(s - thr) / tau)));
    const base = this.liveWeights ?? initAllocationWeights(this.cfg.seed);
    return {
      kind: 'imitate',
      base: weightData(base),
      obs,
      targets,
      seq: this.nextSeq++,
      seed: this.cfg.seed,
    };
  }

  private train(tick: number, job: TrainJob, reason: PublishReason): void {
    const runner = this.deps.runner;
    if (runner.synchronous && runner.runNow) {
      void this.finish(tick, runner.runNow(job), reason);
      return;
    }
    this.busy = true;
    runner
      .run(job)
      .then((o) => this.finish(tick, o, reason))
      .catch((e: unknown) => this.reject(tick, 'train_failed', (e as Error).message))
      .finally(() => {
        this.busy = false;
      });
  }

  /** Checks a trained version and publishes it (synchronously up to the control record's send). */
  private finish(tick: number, o: TrainOutcome, reason: PublishReason): Promise<void> {
    if (o.ppo) this.deps.metrics?.trainingSteps.inc(o.ppo.steps);
    if (reason === 'warm_start') this.restartWarmup(); // the rows were used; a failed clone waits for new ones
    const why = this.check(o.weights);
    if (why) {
      this.reject(tick, why, `candidate ${versionOf(o.weights)}`);
      return Promise.resolve();
    }
    return this.publish(tick, o.weights, reason, o.ppo);
  }

  private check(w: WeightSet): RejectReason | null {
    try {
      validateWeights(allocationNet, w);
    } catch {
      return 'not_finite';
    }
    const W = ALLOCATION_FEATURE_COUNT;
    const rows = this.recent.length;
    const obs = new Float32Array(rows * W);
    this.recent.forEach((r, i) => obs.set(r, i * W));
    return this.guard.checkCandidate(jsScore(packMlp3(w), obs, rows));
  }

  private reject(
    tick: number,
    reason: RejectReason | 'publish_failed' | 'train_failed',
    detail: string,
  ): void {
    this.deps.metrics?.modelsRejected.inc({ reason });
    this.log.warn({ event: LOG_EVENTS.modelRejected, reason, detail }, `model version refused (${reason})`);
    this.deps.onEvent?.({ type: 'rejected', tick, reason });
  }

  /**
   * Model store first (a restore after the allocator adopted it loads it from there), then the
   * control record. In-thread (simulator) the record goes first, inside the tick, and the store
   * write follows: the publication point must not depend on I/O.
   */
  private async publish(tick: number, w: WeightSet, reason: PublishReason, ppo?: PpoStats): Promise<void> {
    const control = this.modelControl(w.seq, w, reason);
    this.issued = { seq: w.seq, weights: w };
    const save = (): Promise<boolean> =>
      this.deps.store?.save(w.name, w.seq, control.model_blob!, this.now()) ?? Promise.resolve(true);
    try {
      if (this.deps.runner.synchronous) {
        void this.deps.control.send(control);
        void save().catch((e: unknown) => this.log.warn({ err: e }, 'model store write failed'));
      } else {
        if (!(await save())) throw new Error(`the store holds a newer version than ${versionOf(w)}`);
        await this.deps.control.send(control);
      }
    } catch (e) {
      this.issued = null;
      this.reject(tick, 'publish_failed', (e as Error).message);
      return;
    }
    this.published++;
    this.deps.metrics?.modelsPublished.inc({ reason });
    this.log.info(
      { event: LOG_EVENTS.modelPublished, version: versionOf(w), reason, tick, ...ppo },
      `model ${versionOf(w)} published (${reason})`,
    );
    this.deps.onEvent?.({ type: 'published', tick, version: versionOf(w), reason, ppo });
  }

  private modelControl(seq: number, w: WeightSet | null, reason: string): AllocatorControl {
    return {
      kind: 'MODEL',
      seq,
      policy: w ? 'LEARNED' : 'RULE',
      model_version: w ? versionOf(w) : RULE_VERSION,
      model_blob: w ? Buffer.from(serializeWeights(w)) : null,
      reward_weights: null,
      reason,
      issued_at: this.now(),
    };
  }

  /** The last good version under a new seq, or the rule; training data of the bad one is dropped. */
  private rollback(tick: number, reason: RollbackReason, detail: string): void {
    const from = this.live?.version ?? '?';
    this.deps.metrics?.modelRollbacks.inc({ reason });
    this.join.buffer.drain();
    this.guard.reset();
    const stop = ++this.rollbacksInARow > this.cfg.maxRollbacks;
    // The last good version, unless it is the one failing now.
    const good = this.lastGood && versionOf(this.lastGood) !== from ? this.lastGood : null;
    const target = stop || !good ? null : makeWeights(good, this.nextSeq++, good.arrays);
    const to = target ? `${versionOf(target)} (= ${versionOf(good!)})` : 'the rule';
    this.log.warn(
      { event: LOG_EVENTS.modelRollback, version: from, reason, detail, to, stopped: stop },
      `model ${from} rolled back to ${to} (${reason}: ${detail})${stop ? '; learning stops' : ''}`,
    );
    this.deps.onEvent?.({ type: 'rollback', tick, version: from, reason, to });
    if (stop) this.phase = 'stopped';
    if (target) {
      void this.publish(tick, target, 'rollback');
      return;
    }
    const seq = this.nextSeq++;
    this.issued = { seq, weights: null };
    void this.deps.control.send(this.modelControl(seq, null, `rollback:${reason}`)).catch((e: unknown) => {
      this.issued = null;
      this.reject(tick, 'publish_failed', (e as Error).message);
    });
  }
}
