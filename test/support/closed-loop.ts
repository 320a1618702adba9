// A closed loop on the in-memory graph for learning tests: seeded sample traffic whose page
// requests are served by the demo's ranker (io/sample-ranker.ts: the public serving helper over the
// allocations the graph emits and the users' mind states), so heated impressions and their outcomes
// flow back, tick by tick, as they do from a platform's ranker.
import { SampleRanker } from '../../io/sample-ranker.js';
import { SampleTraffic } from '../../io/sample-traffic.js';
import { Serde } from '../../io/serde.js';
import type { AllocatorModelPort } from '../../pipelines/allocator-control.js';
import type { TickReport } from '../../pipelines/allocator-task.js';
import { ThermostatTestDriver } from '../../pipelines/test-driver.js';
import { prepareWriters, wireSerde } from '../../pipelines/wire-serde.js';
import { topologyNames } from '../../pipelines/topology.js';
import { ActiveAllocationsView } from '../../ranker/allocations-view.js';
import type { HeatingAllocation, UserInteraction } from '../../schemas/types.js';
import type { CheckpointStore } from '../../state/store.js';

export const TICK_MS = 60_000;
/** Tick-aligned start of event time. */
export const LOOP_T0 = 29_000_000 * TICK_MS;
/** Page requests the ranker serves at once (as the demo's producer does per slice). */
const SLICE = 100;

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
    private readonly view: ActiveAllocationsView,
    readonly ranker: SampleRanker,
    private readonly perTick: number,
  ) {}

  static async create(o: LoopOptions = {}): Promise<ClosedLoop> {
    const perTick = o.perTick ?? 300;
    const names = topologyNames('thermostat');
    const serde = Serde.local();
    await prepareWriters(names, serde);
    const traffic = new SampleTraffic(serde, {
      seed: o.seed ?? 7,
      users: o.users ?? 400,
      contents: o.contents ?? 120,
      startTime: LOOP_T0,
      stepMs: TICK_MS / perTick,
    });
    const driver = await ThermostatTestDriver.create({
      serde: wireSerde(names),
      partitions: 2,
      tickMs: TICK_MS,
      models: o.models,
      onTick: o.onTick,
      checkpoints: o.checkpoints,
      batchSize: o.batchSize,
    });
    // The ranker reads mind states where the job keeps them (here: the driver's user stage).
    const view = new ActiveAllocationsView();
    const ranker = new SampleRanker(view, async (users) => users.map((u) => driver.userState(u)));
    const decoded = (r: { value: Buffer }) => serde.decode(r.value).value as object;
    await driver.pipeInput(names.objectives, [decoded(traffic.objectivesRecord())]);
    await driver.pipeInput(names.published, traffic.contentRecords().map(decoded));
    return new ClosedLoop(driver, traffic, view, ranker, perTick);
  }

  /** Event time at the end of the last tick run. */
  get now(): number {
    return LOOP_T0 + this.tick * TICK_MS;
  }

  /** Runs `ticks` one-minute ticks: the tick's served requests, then its boundary; follows what it allocated. */
  async run(ticks: number): Promise<HeatingAllocation[]> {
    const out: HeatingAllocation[] = [];
    for (let k = 0; k < ticks; k++) {
      const recs: UserInteraction[] = [];
      for (let done = 0; done < this.perTick; done += SLICE) {
        const reqs = Array.from({ length: Math.min(SLICE, this.perTick - done) }, () =>
          this.traffic.nextRequest(),
        );
        const picks = await this.ranker.serve(reqs);
        reqs.forEach((req, i) => recs.push(this.traffic.interaction(req, picks[i])));
      }
      await this.driver.pipeInput(this.driver.names.interactions, recs);
      this.tick++;
      await this.driver.advanceEventTime(this.now);
      const fresh = this.driver.readOutput<HeatingAllocation>(this.driver.names.allocations);
      for (const a of fresh) this.view.apply(a, this.now);
      out.push(...fresh);
    }
    this.allocations.push(...out);
    return out;
  }
}
