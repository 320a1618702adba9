// A closed loop on the in-memory graph for learning tests: seeded sample traffic whose heated slot
// serves the allocations the graph emits (io/sample-serving.ts), so heated impressions and their
// outcomes flow back, tick by tick, as they do from a platform's ranker.
import { HeatedServing } from '../../io/sample-serving.js';
import { SampleTraffic } from '../../io/sample-traffic.js';
import { Serde } from '../../io/serde.js';
import type { AllocatorModelPort } from '../../pipelines/allocator-control.js';
import type { TickReport } from '../../pipelines/allocator-task.js';
import { ThermostatTestDriver } from '../../pipelines/test-driver.js';
import { wireSerde } from '../../pipelines/wire-serde.js';
import { topologyNames } from '../../pipelines/topology.js';
import type { HeatingAllocation } from '../../schemas/types.js';
import type { CheckpointStore } from '../../state/store.js';

export const TICK_MS = 60_000;
/** Tick-aligned start of event time. */
export const LOOP_T0 = 29_000_000 * TICK_MS;

export interface LoopOptions {
  seed?: number;
  users?: number;
  contents?: number;
  /** Interactions per one-minute tick. */
  perTick?: number;
  models?: AllocatorModelPort;
  onTick?: (r: TickReport) => void;
  checkpoints?: CheckpointStore;
  batchSize?: number;
}

export class ClosedLoop {
  readonly allocations: HeatingAllocation[] = [];
  private tick = 0;

  private constructor(
    readonly driver: ThermostatTestDriver,
    private readonly traffic: SampleTraffic,
    readonly serving: HeatedServing,
    private readonly perTick: number,
  ) {}

  static async create(o: LoopOptions = {}): Promise<ClosedLoop> {
    const perTick = o.perTick ?? 300;
    const serving = new HeatedServing();
    const traffic = new SampleTraffic(Serde.local(), {
      seed: o.seed ?? 7,
      users: o.users ?? 400,
      contents: o.contents ?? 120,
      startTime: LOOP_T0,
      stepMs: TICK_MS / perTick,
      serving: { slots: serving, share: 0.15 },
    });
    const driver = await ThermostatTestDriver.create({
      serde: wireSerde(topologyNames('thermostat')),
      partitions: 2,
      tickMs: TICK_MS,
      models: o.models,
      onTick: o.onTick,
      checkpoints: o.checkpoints,
      batchSize: o.batchSize,
    });
    const loop = new ClosedLoop(driver, traffic, serving, perTick);
    await driver.pipeInput(driver.names.objectives, [traffic.objectivesValue()]);
    await driver.pipeInput(driver.names.published, traffic.contentValues());
    return loop;
  }

  /** Event time at the end of the last tick run. */
  get now(): number {
    return LOOP_T0 + this.tick * TICK_MS;
  }

  /** Runs `ticks` one-minute ticks: the tick's interactions, then its boundary; serves what it allocated. */
  async run(ticks: number): Promise<HeatingAllocation[]> {
    const out: HeatingAllocation[] = [];
    for (let k = 0; k < ticks; k++) {
      const recs = [];
      for (let i = 0; i < this.perTick; i++) recs.push(this.traffic.nextInteraction());
      await this.driver.pipeInput(this.driver.names.interactions, recs);
      this.tick++;
      await this.driver.advanceEventTime(this.now);
      const fresh = this.driver.readOutput<HeatingAllocation>(this.driver.names.allocations);
      this.serving.add(fresh);
      out.push(...fresh);
    }
    this.allocations.push(...out);
    return out;
  }
}
