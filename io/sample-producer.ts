// Feeds seeded sample traffic into Kafka at a steady rate, in-process (the dev job's stand-in for
// a real event pipeline). Produces in small slices per timer tick so the event loop stays free.
import type { KafkaSink } from './kafka.js';
import type { SampleTraffic } from './sample-traffic.js';

export interface SampleProducer {
  produced(): number;
  stop(): Promise<void>;
}

export async function startSampleProducer(
  sink: KafkaSink,
  traffic: SampleTraffic,
  opts: { ratePerSec: number; corruptFraction?: number; tickMs?: number },
): Promise<SampleProducer> {
  await Promise.all(
    [traffic.objectivesRecord(), ...traffic.contentRecords()].map((r) => sink.send(r.topic, r.key, r.value)),
  );
  const tickMs = opts.tickMs ?? 50;
  const perTick = Math.max(1, Math.round((opts.ratePerSec * tickMs) / 1000));
  let count = 0;
  let failed = 0;
  const timer = setInterval(() => {
    // Backpressure: skip a tick while the broker is behind on acknowledgements.
    if (sink.inFlight() > perTick * 20) return;
    for (let i = 0; i < perTick; i++) {
      const r = traffic.next(opts.corruptFraction ?? 0);
      sink.send(r.topic, r.key, r.value).then(
        () => count++,
        () => failed++,
      );
    }
  }, tickMs);
  return {
    produced: () => count,
    async stop() {
      clearInterval(timer);
      await sink.flush().catch(() => {});
    },
  };
}
