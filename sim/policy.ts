// The policy seam: what the simulator needs from a regulation policy (Thermostat on the real
// graph, or a baseline). The engine drives every policy the same way, once per event-time tick:
//
//   advanceTo(tickStart) → newAllocations() → (ranker serves the tick's pages, reading
//   mindState(userId)) → onPublished / onInteractions (the tick's records, merged by event time)
//
// At the end of each tick, the tick's publications and the interactions with event_time below the
// tick's end are delivered merged in event-time order (a publication before interactions at the
// same time; interactions sorted by (event_time, event_id)), in as many onPublished /
// onInteractions calls as that takes; later interactions wait for the next tick. So a policy sees
// one non-decreasing event-time stream across both topics, and a content's publication before
// any interaction with it. The pre-existing catalog comes in one onPublished call before the first
// tick. Methods may return promises: the engine awaits them, so a Kafka-backed policy fits the
// same seam. mindState() is on the serving hot path and must be synchronous.
import type {
  ContentPublished,
  HeatingAllocation,
  UserInteraction,
  UserMindState,
} from '../schemas/types.js';
import { keyedUniform } from '../core/rng.js';
import { hash64Hex } from '../core/hash.js';
import { DEFAULT_AGENT_CONFIG } from '../agents/config.js';
import type { WorldConfig } from './config.js';
import type { SlotHeater } from './ranker.js';
import type { ServingConfig } from '../serving/heating-server.js';

export interface RegulationPolicy {
  readonly name: string;
  onPublished(recs: ContentPublished[]): void | Promise<void>;
  onInteractions(recs: UserInteraction[]): void | Promise<void>;
  /** Event time has reached eventTimeMs (a tick boundary): fire ticks, windows, decays. */
  advanceTo(eventTimeMs: number): void | Promise<void>;
  /** Allocations emitted since the last call (the `heating-allocations` topic). */
  newAllocations(): HeatingAllocation[] | Promise<HeatingAllocation[]>;
  /** Serving copy of a user's mind state, or undefined (→ the ranker never explores). */
  mindState(userId: string): UserMindState | undefined;
  /** Content currently flagged as cheating (ContentState.flagged_cheating). */
  flaggedContent(): ReadonlySet<string> | Promise<ReadonlySet<string>>;
  /** Optional teardown (drivers, consumers). */
  close?(): void | Promise<void>;
  /** Learning curves (learned policies only): one point per simulated day. */
  learningCurve?(): LearningPoint[];
  /** Baseline heaters without allocations: the ranker fills slots with fresh items itself. */
  readonly slotHeater?: SlotHeater;
  /** Serving-helper settings of this policy's ranker (a policy without mind states serves heat to everyone). */
  readonly serving?: Partial<ServingConfig>;
}

/** One day of a learned policy's training (HTML report, JSON `learning.<policy>`). */
export interface LearningPoint {
  day: number;
  /** Mean reward of the experiences settled that day (approved allocations and denials). */
  reward: number;
  /** Mean reward of the approved (heated) allocations settled that day. */
  approvedReward: number;
  /** Mean Bernoulli entropy (nats) of the policy over the requests it scored that day. */
  entropy: number;
  /** Sampled approvals / requests scored that day. */
  approvalRate: number;
  /** PPO updates published that day, and the model version at the end of the day. */
  updates: number;
  modelVersion: string;
}

/** What a policy factory gets: the run's seed, clock layout and the public taxonomy. */
export interface PolicyContext {
  seed: number;
  startMs: number;
  tickMs: number;
  days: number;
  users: number;
  categories: readonly string[];
  adjacency: ReadonlyMap<string, readonly string[]>;
  world: Readonly<WorldConfig>;
  /** Options from the CLI / caller, e.g. manual heating knobs. */
  options: Readonly<Record<string, unknown>>;
}

/** A policy that regulates nothing through the graph: no allocations, no mind state, nothing flagged. */
abstract class PassivePolicy implements RegulationPolicy {
  abstract readonly name: string;
  onPublished(): void {}
  onInteractions(): void {}
  advanceTo(): void {}
  newAllocations(): HeatingAllocation[] {
    return [];
  }
  mindState(): UserMindState | undefined {
    return undefined;
  }
  flaggedContent(): ReadonlySet<string> {
    return new Set();
  }
}

/** Popularity ranking only: no heating, no mind state (no heated slot is ever shown), no anti-cheat. */
export class PopularityPolicy extends PassivePolicy {
  readonly name = 'popularity';
}

/**
 * A heater a platform could write in an afternoon (SPEC §7): no allocations, no mind state, no
 * anti-cheat; the ranker puts a fresh item (published less than a day ago) in each slot with
 * probability `share`: picked at random (k = 1: operators' manual heating, the uniform heater) or
 * the best published quality score of k random fresh items (the quality-greedy heater).
 */
export class SlotHeaterPolicy extends PassivePolicy {
  constructor(
    readonly name: string,
    readonly slotHeater: SlotHeater,
  ) {
    super();
  }
}

export interface ManualHeatingOptions {
  /** Share of new content the operators pick (uniformly at random) to heat. */
  share: number;
  /** Heated impressions granted to each picked content. */
  impressionsPerItem: number;
  /**
   * Price of one heated impression in traffic coins (heating_cost = Σ delivered · price). null: the
   * content agent's bid for a new content, per mille, as Thermostat's allocations are priced —
   * quality·bidBase·(1 + defaultExpectedCtr·bidCtrMultiplier) / costPerImpressions — so the two
   * heating_cost figures are in the same unit.
   */
  costPerImpression: number | null;
  /** How long a manual allocation stays valid. */
  validMs: number;
}

export function defaultManualOptions(cfg: WorldConfig): ManualHeatingOptions {
  return {
    share: 0.3,
    impressionsPerItem: Math.max(50, Math.round(cfg.users * 0.02)),
    costPerImpression: null,
    validMs: 86_400_000,
  };
}

/**
 * Manual heating by allocations ('manual-items'): at every tick, operators pick a fixed share of the content
 * published since the last tick, at random and without looking at quality or audience, and heat
 * each with a fixed impression budget for everyone (empty target). No mind state, no anti-cheat.
 */
export class ManualHeatingPolicy implements RegulationPolicy {
  readonly name = 'manual-items';
  /** No mind states: every request may get heat, without a per-user cap or pacing. */
  readonly serving: Partial<ServingConfig> = {
    defaultExploreProbability: 1,
    perUserCap: Number.MAX_SAFE_INTEGER,
    paceAhead: 1,
  };
  private queue: ContentPublished[] = [];
  private out: HeatingAllocation[] = [];
  constructor(
    private readonly seed: number,
    readonly opts: ManualHeatingOptions,
  ) {}
  onPublished(recs: ContentPublished[]): void {
    this.queue.push(...recs);
  }
  onInteractions(): void {}
  advanceTo(t: number): void {
    const keep: ContentPublished[] = [];
    for (const c of this.queue) {
      if (c.published_at >= t) {
        keep.push(c);
        continue;
      }
      // Operators only look at fresh content (published within the last validMs).
      if (t - c.published_at > this.opts.validMs) continue;
      if (keyedUniform(this.seed, 'manual', c.content_id) >= this.opts.share) continue;
      const impressions = this.opts.impressionsPerItem;
      const a = DEFAULT_AGENT_CONFIG;
      // Bid per mille, as the content agent bids for new content (no ctr yet: the default ctr).
      const bid =
        this.opts.costPerImpression !== null
          ? this.opts.costPerImpression * a.system.costPerImpressions
          : c.quality_score *
            a.content.bidBase *
            (1 + a.content.defaultExpectedCtr * a.content.bidCtrMultiplier);
      this.out.push({
        allocation_id: hash64Hex(`manual:${c.content_id}@${t}`),
        content_id: c.content_id,
        creator_id: c.creator_id,
        category: c.category,
        valid_from: t,
        valid_until: t + this.opts.validMs,
        impressions,
        bid_price: bid,
        cost: (bid * impressions) / a.system.costPerImpressions,
        score: 1,
        target: { categories: [], min_curiosity: 0 },
        policy: 'RULE',
        model_version: 'manual',
        reward_weights: { user_satisfaction: 0, platform_revenue: 0, long_term: 0 },
        emitted_at: t,
      });
    }
    this.queue = keep;
  }
  newAllocations(): HeatingAllocation[] {
    const o = this.out;
    this.out = [];
    return o;
  }
  mindState(): UserMindState | undefined {
    return undefined;
  }
  flaggedContent(): ReadonlySet<string> {
    return new Set();
  }
}
