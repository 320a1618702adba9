// Produces the tail of a job test's input at a fixed rate while the test disturbs a dependency
// (Redis paused, broker restarted): the job stays busy for the whole disturbance with a bounded
// input, instead of a backlog sized to outlast it (which made a 30 s pause cost ~1M records).
// Records go out in input order (one producer, FIFO), so each partition holds the same sequence as
// when everything is produced upfront, and the reference run stays valid.
import { KafkaSink } from '../../io/kafka.js';
import type { TopologyNames } from '../../pipelines/topology.js';
import { wireSerde } from '../../pipelines/wire-serde.js';
import type { UserInteraction } from '../../schemas/types.js';
import { sleep } from '../../bench/support/job-process.js';

export interface PacedOptions {
  brokers: string;
  names: TopologyNames;
  interactions: readonly UserInteraction[];
  /** Records per second. */
  ratePerSec: number;
  /** One slice per `sliceMs` (keep well under the job's watermark idle timeout). */
  sliceMs?: number;
}

export class PacedProducer {
  /** Resolves when every record is acknowledged (rejects on a delivery failure). */
  readonly done: Promise<void>;
  private sentCount = 0;

  private constructor(private readonly o: PacedOptions) {
    this.done = this.run();
    this.done.catch(() => {}); // a test that failed earlier never awaits it: no unhandled rejection
  }

  static start(o: PacedOptions): PacedProducer {
    return new PacedProducer(o);
  }

  /** Records handed to the producer so far. */
  get sent(): number {
    return this.sentCount;
  }

  private async run(): Promise<void> {
    const { brokers, names, interactions, ratePerSec } = this.o;
    const sliceMs = this.o.sliceMs ?? 100;
    const perSlice = Math.max(1, Math.round((ratePerSec * sliceMs) / 1000));
    const serde = wireSerde(names);
    // Generous delivery timeout: during a broker restart the records wait in librdkafka's queue.
    const sink = new KafkaSink({
      brokers,
      clientId: 'it-paced-input',
      rdkafka: { 'message.timeout.ms': 120_000 },
    });
    await sink.connect();
    // A handler on every send at once: a rejection seen only at the end would be unhandled.
    let failure: unknown = null;
    try {
      const start = Date.now();
      for (let i = 0, slice = 0; i < interactions.length; slice++) {
        for (const end = Math.min(interactions.length, i + perSlice); i < end; i++) {
          const r = interactions[i];
          sink
            .send(names.interactions, r.user_id, serde.encode('UserInteraction', r))
            .catch((e: unknown) => (failure ??= e));
        }
        this.sentCount = i;
        // Against the start time, not per slice: a slow slice does not stretch the schedule.
        await sleep(Math.max(0, start + (slice + 1) * sliceMs - Date.now()));
      }
      await sink.flush(120_000);
      for (const end = Date.now() + 120_000; sink.inFlight() > 0 && Date.now() < end;) await sleep(20);
      if (failure !== null) throw failure;
    } finally {
      await sink.disconnect();
    }
  }
}
