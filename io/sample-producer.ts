// Feeds seeded sample traffic into Kafka at a steady rate, in-process (the dev job's stand-in for
// a real event pipeline). Produces in small slices per timer tick so the event loop stays free.
// With a ranker, each slice's page requests are served first (heated items in place of organic
// ones), so the records carry what the ranker showed, as a platform reports its impressions.
import rdkafka from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import type { UserInteraction } from '../schemas/types.js';
import type { KafkaSink } from './kafka.js';
import type { SampleRanker } from './sample-ranker.js';
import type { HeatedItem, SampleTraffic } from './sample-traffic.js';
import type { Serde } from './serde.js';

/** Impressions and clicks delivered to Kafka, heated and organic apart. */
export interface ServedTally {
  heatedImpressions: number;
  heatedClicks: number;
  organicImpressions: number;
  organicClicks: number;
}

export interface SampleProducer {
  produced(): number;
  served(): ServedTally;
  stop(): Promise<void>;
}

export async function startSampleProducer(
  sink: KafkaSink,
  traffic: SampleTraffic,
  opts: { ratePerSec: number; corruptFraction?: number; tickMs?: number; ranker?: SampleRanker },
): Promise<SampleProducer> {
  await Promise.all(
    [traffic.objectivesRecord(), ...traffic.contentRecords()].map((r) => sink.send(r.topic, r.key, r.value)),
  );
  const tickMs = opts.tickMs ?? 50;
  const perTick = Math.max(1, Math.round((opts.ratePerSec * tickMs) / 1000));
  const tally: ServedTally = {
    heatedImpressions: 0,
    heatedClicks: 0,
    organicImpressions: 0,
    organicClicks: 0,
  };
  let count = 0;
  let failed = 0;
  const send = (topic: string, key: string | null, value: Buffer, v?: UserInteraction) =>
    sink.send(topic, key, value).then(
      () => {
        count++;
        if (!v) return;
        if (v.heated) {
          tally.heatedImpressions++;
          if (v.click) tally.heatedClicks++;
        } else {
          tally.organicImpressions++;
          if (v.click) tally.organicClicks++;
        }
      },
      () => failed++,
    );

  const slice = async () => {
    const events = Array.from({ length: perTick }, () => traffic.nextEvent(opts.corruptFraction ?? 0));
    const requests = events.flatMap((e) => (e.request ? [e.request] : []));
    // A ranker failure serves the organic items (the page still renders).
    const picks: (HeatedItem | null)[] =
      opts.ranker && requests.length > 0 ? await opts.ranker.serve(requests).catch(() => []) : [];
    let k = 0;
    for (const e of events) {
      if (e.record) {
        void send(e.record.topic, e.record.key, e.record.value);
        continue;
      }
      const v = traffic.interaction(e.request, picks[k++]);
      const r = traffic.interactionRecord(v);
      void send(r.topic, r.key, r.value, v);
    }
  };

  // One slice at a time (serving awaits Redis), every tickMs.
  let stopping = false;
  let wake = () => {};
  const loop = (async () => {
    while (!stopping) {
      const started = Date.now();
      // Backpressure: skip a tick while the broker is behind on acknowledgements.
      if (sink.inFlight() <= perTick * 20) await slice();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, tickMs - (Date.now() - started)));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  return {
    produced: () => count,
    served: () => ({ ...tally }),
    async stop() {
      stopping = true;
      wake();
      await loop;
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
