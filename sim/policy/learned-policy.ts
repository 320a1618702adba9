// 'thermostat-learned': Thermostat on the real graph as a thin client of the job's online learner
// (learn/online/): the same allocator model port, reward join (the allocator's own outcome
// records), PPO learner, guard and control records on the allocator's input log as `thermostat
// run` with learning on. Only the training runs in-thread, published inside the tick that
// triggered it, so the same seed gives the same numbers. With explore: 'learned' | 'ppo' the user
// stage's explore network is also trained (learn/online/explore.ts; simulator only, it did not pay).
import { parseAgentConfig } from '../../agents/config.js';
import { RuleExplorePolicy } from '../../agents/rule-explore.js';
import { isEngaged } from '../../agents/user.js';
import { ExploreLearning } from '../../learn/online/explore.js';
import { createOnlineLearning, type LearnerEvent, type OnlineLearning } from '../../learn/online/index.js';
import type { RecordSerde } from '../../pipelines/task.js';
import type { ThermostatTestDriver } from '../../pipelines/test-driver.js';
import type { UserInteraction } from '../../schemas/types.js';
import type { LearnedDayPoint } from '../metrics.js';
import type { PolicyContext } from '../policy.js';
import { LearnedDayMetrics } from './day-metrics.js';
import { ThermostatGraphPolicy } from './graph-adapter.js';
import {
  DEFAULT_EXPLORE_PPO,
  DEFAULT_LEARNED_OPTIONS,
  learnerConfig,
  type LearnedPolicyOptions,
} from './learned-options.js';

export class LearnedThermostatPolicy extends ThermostatGraphPolicy {
  private readonly userCfg = parseAgentConfig({}).user;
  /** Event time of the boundary being processed (explore decisions are made inside advanceTo). */
  private now = 0;

  private constructor(
    driver: ThermostatTestDriver,
    name: string,
    readonly learning: OnlineLearning,
    readonly explore: ExploreLearning | null,
    private readonly metrics: LearnedDayMetrics,
    private readonly ctx: PolicyContext,
  ) {
    super(driver, name);
  }

  static async createLearned(
    ctx: PolicyContext,
    name: string,
    serde: RecordSerde,
    over: Partial<LearnedPolicyOptions> = {},
  ): Promise<LearnedThermostatPolicy> {
    const opts = { ...DEFAULT_LEARNED_OPTIONS, ...over };
    const agents = parseAgentConfig(ThermostatGraphPolicy.agentsFor(ctx, { name, serde }));
    const metrics = new LearnedDayMetrics(ctx.startMs, ctx.days);
    let driver: ThermostatTestDriver | null = null;
    let self: LearnedThermostatPolicy | null = null;
    const learning = await createOnlineLearning({
      config: learnerConfig(ctx.seed, opts),
      agents,
      mode: 'simulation',
      // Control records go to the allocator's input topic of the in-memory graph, like the job's.
      control: { send: (c) => driver!.controlSink().send(c) },
      onEvent: (e) => metrics.learnerEvent(e),
    });
    learning.learner.activateFrom(ctx.startMs);
    const explore =
      opts.explore === 'rule'
        ? null
        : new ExploreLearning(
            {
              mode: opts.explore,
              rule: new RuleExplorePolicy(agents.user.explore),
              seed: ctx.seed,
              warmupMs: opts.exploreWarmupMs,
              cloneExtra: opts.exploreCloneExtra,
              reward: opts.exploreReward,
              ppo: { ...DEFAULT_EXPLORE_PPO, ...opts.explorePpo },
              minBatch: opts.exploreMinBatch,
              maxBatch: opts.exploreMaxBatch,
              noise: opts.exploreNoise,
            },
            (e) => metrics.exploreDecision(self!.now, e),
          );
    driver = await ThermostatGraphPolicy.driverFor(ctx, {
      name,
      serde,
      models: learning.models,
      onTick: learning.onTick,
      explore: explore ? () => explore.policy : undefined,
    });
    self = new LearnedThermostatPolicy(driver, name, learning, explore, metrics, ctx);
    return self;
  }

  /** Every learner event (published versions, rollbacks, rejections), for reports and tests. */
  get events(): readonly LearnerEvent[] {
    return this.metrics.events;
  }

  override async onInteractions(recs: UserInteraction[]): Promise<void> {
    if (this.explore)
      for (const r of recs)
        if (r.event_time >= this.ctx.startMs)
          this.explore.observe({
            userId: r.user_id,
            category: r.category,
            isNewContent: r.is_new_content,
            engaged: isEngaged(r, this.userCfg),
            dwellMs: r.dwell_ms,
          });
    await super.onInteractions(recs);
  }

  /** Tick boundary: the explore warm start, the graph (ticks, learning inside them), explore PPO. */
  override async advanceTo(eventTimeMs: number): Promise<void> {
    this.explore?.beforeBoundary(eventTimeMs, this.ctx.startMs);
    this.now = eventTimeMs;
    await super.advanceTo(eventTimeMs);
    if (this.explore && !this.explore.warmingUp) {
      const stats = this.explore.afterBoundary();
      this.metrics.exploreBoundary(eventTimeMs, stats !== null, this.explore.std());
    }
  }

  learningCurve(): LearnedDayPoint[] {
    return this.metrics.curve(this.explore?.trainer ? this.explore.handle.version : null);
  }

  override async close(): Promise<void> {
    this.explore?.dispose();
    await this.learning.close();
    await super.close();
  }
}
