// The Thermostat policies in the simulator: the real stream graph (all three stages, Avro serde,
// state stores, checkpoints) run in-process through ThermostatTestDriver. The simulator feeds it
// what a production job would read from Kafka and reads back what a ranker would read.
import type { AgentConfigInput } from '../agents/config.js';
import type { AllocationScorer } from '../agents/scorer.js';
import type { TickReport } from '../pipelines/allocator-task.js';
import type { RecordSerde } from '../pipelines/task-runner.js';
import { ThermostatTestDriver } from '../pipelines/test-driver.js';
import type { ContentPublished, HeatingAllocation, UserInteraction, UserMindState } from '../schemas/types.js';
import type { PolicyContext, RegulationPolicy } from './policy.js';

export interface ThermostatPolicyOptions {
  name: string;
  serde: RecordSerde;
  scorer?: () => AllocationScorer;
  agents?: AgentConfigInput;
  partitions?: number;
  onTick?: (report: TickReport) => void;
}

export class ThermostatGraphPolicy implements RegulationPolicy {
  readonly name: string;
  private flagged = new Set<string>();

  private constructor(
    private readonly driver: ThermostatTestDriver,
    name: string,
  ) {
    this.name = name;
  }

  static async create(ctx: PolicyContext, opts: ThermostatPolicyOptions): Promise<ThermostatGraphPolicy> {
    const adjacency: Record<string, string[]> = {};
    for (const [c, adj] of ctx.adjacency) adjacency[c] = [...adj];
    const agents = { ...(opts.agents ?? {}), system: { adjacency, ...((opts.agents?.system as object) ?? {}) } } as AgentConfigInput;
    const driver = await ThermostatTestDriver.create({
      serde: opts.serde,
      partitions: opts.partitions ?? 2,
      tickMs: ctx.tickMs,
      seed: ctx.seed,
      agents,
      scorer: opts.scorer,
      onTick: opts.onTick,
    });
    return new ThermostatGraphPolicy(driver, opts.name);
  }

  async onPublished(recs: ContentPublished[]): Promise<void> {
    if (recs.length > 0) await this.driver.pipeInput('content-published', recs);
  }

  async onInteractions(recs: UserInteraction[]): Promise<void> {
    if (recs.length > 0) await this.driver.pipeInput('user-interactions', recs);
  }

  async advanceTo(eventTimeMs: number): Promise<void> {
    await this.driver.advanceEventTime(eventTimeMs);
    for (const c of this.driver.readOutput<{ content_id: string; flagged_cheating: boolean }>('content-state')) {
      if (c.flagged_cheating) this.flagged.add(c.content_id);
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
