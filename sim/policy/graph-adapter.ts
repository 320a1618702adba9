// The Thermostat policies' adapter to the real stream graph (all three stages, Avro serde, state
// stores, checkpoints), run in-process through ThermostatTestDriver or as the Kafka job: the
// simulator feeds it what a production job would read from Kafka and reads back what a ranker
// would read.
import type { AgentConfigInput } from '../../agents/config.js';
import type { AllocationScorer, ExplorePolicy } from '../../agents/scorer.js';
import { loadRuntimeConfig } from '../../core/config.js';
import type { AllocatorModelPort } from '../../pipelines/allocator-control.js';
import type { TickReport } from '../../pipelines/allocator-task.js';
import type { RecordSerde } from '../../pipelines/task.js';
import { ThermostatTestDriver } from '../../pipelines/test-driver.js';
import { PUBLIC_TOPICS } from '../../pipelines/topology.js';
import type {
  ContentPublished,
  HeatingAllocation,
  UserInteraction,
  UserMindState,
} from '../../schemas/types.js';
import type { PolicyContext, RegulationPolicy } from '../policy.js';
import type { GraphTransport, TransportOptions } from '../transport.js';

/** ctx.options.transport, default in memory. */
function transportOf(ctx: PolicyContext): TransportOptions {
  return (ctx.options.transport as TransportOptions | undefined) ?? { kind: 'inprocess' };
}

export interface ThermostatPolicyOptions {
  name: string;
  serde: RecordSerde;
  scorer?: () => AllocationScorer;
  /** A learned user explore policy (default: the rule). */
  explore?: () => ExplorePolicy;
  agents?: AgentConfigInput;
  partitions?: number;
  onTick?: (report: TickReport) => void;
  /** Online learning: the allocator's model port (learn/online/). */
  models?: AllocatorModelPort;
}

/**
 * Event time between the in-memory graph's checkpoints (the state is committed to the in-memory
 * store as the job does). Each checkpoint costs a pass over the dirty state, so not every
 * 15-minute tick; records are dropped as soon as read (replayable: false), not at checkpoints.
 */
const CHECKPOINT_EVERY_MS = 6 * 3_600_000;

export class ThermostatGraphPolicy implements RegulationPolicy {
  readonly name: string;
  private flagged = new Set<string>();
  private checkpointedAt = -Infinity;

  protected constructor(
    protected readonly driver: GraphTransport,
    name: string,
  ) {
    this.name = name;
  }

  /**
   * The agents config of a simulator run: the job's shipped defaults, overridden only by
   * ctx.options.agents (a budget, in the benchmarks) and then opts.agents. No simulator tuning.
   */
  static agentsFor(ctx: PolicyContext, opts: ThermostatPolicyOptions): AgentConfigInput {
    const fromCtx = (ctx.options.agents ?? {}) as Record<string, unknown>;
    const system = { ...((fromCtx.system as object) ?? {}), ...((opts.agents?.system as object) ?? {}) };
    return { ...fromCtx, ...(opts.agents ?? {}), system } as AgentConfigInput;
  }

  /** The in-memory graph (ThermostatTestDriver); the learned policy needs it (scorer and onTick run inside). */
  static async driverFor(ctx: PolicyContext, opts: ThermostatPolicyOptions): Promise<ThermostatTestDriver> {
    const transport = transportOf(ctx);
    if (transport.kind !== 'inprocess')
      throw new Error(
        `policy '${opts.name}' supports only --transport inprocess (its scorer and tick reports run inside the in-memory graph)`,
      );
    return ThermostatTestDriver.create({
      serde: opts.serde,
      partitions: opts.partitions ?? 2,
      tickMs: ctx.tickMs,
      seed: ctx.seed,
      agents: ThermostatGraphPolicy.agentsFor(ctx, opts),
      scorer: opts.scorer,
      explore: opts.explore,
      onTick: opts.onTick,
      models: opts.models,
      // What the simulator reads; every other record goes once every stage has read it.
      reads: [PUBLIC_TOPICS.allocations, PUBLIC_TOPICS.contentChangelog],
      // Internal records by reference, as a job running every stage in one process can: the same
      // outputs as the Avro hop (test/unit/runtime/local-hop), less CPU and no transient bytes.
      localHop: true,
      // The simulator never restarts the graph: nothing is kept for a replay.
      replayable: false,
    });
  }

  /**
   * The graph as ctx.options.transport says: in memory (default), or the real job on Kafka with
   * the same settings (sim/kafka-transport.ts; loaded only then, so in-memory runs never load the
   * Kafka client). The Kafka job runs the rule scorer, so a custom scorer or onTick stays in memory.
   */
  static async transportFor(ctx: PolicyContext, opts: ThermostatPolicyOptions): Promise<GraphTransport> {
    const transport = transportOf(ctx);
    if (transport.kind === 'inprocess') return ThermostatGraphPolicy.driverFor(ctx, opts);
    if (opts.scorer || opts.onTick || opts.models)
      throw new Error(
        `policy '${opts.name}' supports only --transport inprocess (custom scorer / tick reports)`,
      );
    const { KafkaGraphTransport, simAppId } = await import('../kafka-transport.js');
    const job = transport.brokers && transport.redisUrl ? undefined : loadRuntimeConfig();
    return new KafkaGraphTransport({
      brokers: transport.brokers ?? job!.kafka.brokers,
      redisUrl: transport.redisUrl ?? job!.redis.url,
      appId: simAppId(ctx.seed),
      partitions: opts.partitions ?? 2,
      tickMs: ctx.tickMs,
      seed: ctx.seed,
      agents: ThermostatGraphPolicy.agentsFor(ctx, opts),
    });
  }

  static async create(ctx: PolicyContext, opts: ThermostatPolicyOptions): Promise<ThermostatGraphPolicy> {
    return new ThermostatGraphPolicy(await ThermostatGraphPolicy.transportFor(ctx, opts), opts.name);
  }

  /** Stops the Kafka job and removes its run's topics and keys (nothing to do in memory). */
  close(): void | Promise<void> {
    return this.driver.close?.();
  }

  async onPublished(recs: ContentPublished[]): Promise<void> {
    if (recs.length > 0) await this.driver.pipeInput('content-published', recs);
  }

  async onInteractions(recs: UserInteraction[]): Promise<void> {
    if (recs.length > 0) await this.driver.pipeInput('user-interactions', recs);
  }

  async advanceTo(eventTimeMs: number): Promise<void> {
    await this.driver.advanceEventTime(eventTimeMs);
    for (const c of this.driver.readOutput<{ content_id: string; flagged_cheating: boolean }>(
      'content-state',
    )) {
      if (c.flagged_cheating) this.flagged.add(c.content_id);
    }
    if (eventTimeMs - this.checkpointedAt >= CHECKPOINT_EVERY_MS) {
      this.checkpointedAt = eventTimeMs;
      await this.driver.checkpoint?.();
    }
  }

  newAllocations(): HeatingAllocation[] {
    return this.driver.readOutput<HeatingAllocation>('heating-allocations');
  }

  mindState(userId: string): UserMindState | undefined {
    return this.driver.userState(userId);
  }

  flaggedContent(): ReadonlySet<string> {
    return this.flagged;
  }
}
