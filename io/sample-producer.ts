// Feeds seeded sample traffic into Kafka at a steady rate, in-process (the dev job's stand-in for
// a real event pipeline). Produces in small slices per timer tick so the event loop stays free.
import rdkafka from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import type { KafkaSink } from './kafka.js';
import type { SampleTraffic } from './sample-traffic.js';
import type { Serde } from './serde.js';

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

/**
 * The latest event time already on the interactions topic (-Infinity when it is empty or absent).
 * Sample traffic runs event time faster than the wall clock, so a second run of the demo must go
 * on from there: records behind the job's watermark would all be late.
 */
export async function latestEventTime(o: {
  brokers: string;
  rdkafka?: Record<string, string | number | boolean>;
  topic: string;
  serde: Serde;
  timeoutMs?: number;
}): Promise<number> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const consumer = new rdkafka.KafkaConsumer(
    {
      'bootstrap.servers': o.brokers,
      'group.id': 'thermostat-sample-traffic', // never joined: partitions are assigned directly
      'enable.auto.commit': false,
      log_level: 0,
      ...o.rdkafka,
    } as never,
    {},
  );
  const call = <T>(fn: (cb: (err: unknown, v: T) => void) => void) =>
    new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
  await call((cb) => consumer.connect({ timeout: timeoutMs }, cb));
  try {
    const meta = await call<{ topics: { name: string; partitions: { id: number }[] }[] }>((cb) =>
      consumer.getMetadata({ topic: o.topic, timeout: timeoutMs }, cb as never),
    );
    const partitions = meta.topics.find((t) => t.name === o.topic)?.partitions ?? [];
    // The last few records of each partition: one of them may be a deliberately corrupt sample.
    const tail = 5;
    const left = new Map<number, number>(); // partition → records still to read
    const starts: { topic: string; partition: number; offset: number }[] = [];
    for (const p of partitions) {
      const w = await call<{ lowOffset: number; highOffset: number }>((cb) =>
        consumer.queryWatermarkOffsets(o.topic, p.id, timeoutMs, cb),
      );
      const offset = Math.max(w.lowOffset, w.highOffset - tail);
      if (w.highOffset <= offset) continue;
      starts.push({ topic: o.topic, partition: p.id, offset });
      left.set(p.id, w.highOffset - offset);
    }
    consumer.assign(starts);
    consumer.setDefaultConsumeTimeout(200);
    let latest = -Infinity;
    const deadline = Date.now() + timeoutMs;
    while (left.size > 0 && Date.now() < deadline) {
      for (const m of await call<Message[]>((cb) => consumer.consume(100, cb))) {
        const n = (left.get(m.partition) ?? 1) - 1;
        if (n > 0) left.set(m.partition, n);
        else left.delete(m.partition);
        try {
          const d = o.serde.decode(m.value ?? Buffer.alloc(0));
          if (d.schema === 'UserInteraction') latest = Math.max(latest, d.value.event_time);
        } catch {
          // a corrupt sample record: its neighbours carry the time
        }
      }
    }
    return latest;
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}
