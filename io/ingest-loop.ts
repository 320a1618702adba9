// The input side every stage shares: poll a micro-batch, decode + validate, send poison records to
// the DLQ, hand good records on, commit. The minimal `thermostat run` uses it as is; the stream
// stages replace `onGood` and the commit policy with checkpoints.
import type { Metrics } from '../core/metrics.js';
import type { DlqWriter, GoodRecord } from './dlq.js';
import { decodeBatch } from './dlq.js';
import type { KafkaSource, SourceRecord } from './kafka.js';
import type { Serde } from './serde.js';
import type { SchemaName } from '../schemas/types.js';

export interface IngestLoopOptions {
  source: KafkaSource;
  serde: Serde;
  dlq: DlqWriter;
  metrics?: Pick<Metrics, 'recordsIn'>;
  stage: string;
  batchSize: number;
  expected?: Record<string, SchemaName>;
  onGood?: (records: GoodRecord[]) => void | Promise<void>;
  /** Commit consumed offsets at most this often (ms). */
  commitIntervalMs: number;
  now: () => number;
  onError?: (e: Error) => void;
}

export interface IngestLoop {
  /** Resolves when the loop ended (after stop()). */
  done: Promise<void>;
  stop(): Promise<void>;
  consumed(): number;
}

export function startIngestLoop(o: IngestLoopOptions): IngestLoop {
  let running = true;
  let consumed = 0;
  const next = new Map<string, { topic: string; partition: number; offset: number }>();
  let lastCommit = o.now();

  const commit = async () => {
    const offsets = [...next.values()];
    next.clear();
    lastCommit = o.now();
    await o.source.commit(offsets).catch((e) => o.onError?.(e));
  };

  const done = (async () => {
    while (running) {
      let batch: SourceRecord[];
      try {
        batch = await o.source.poll(o.batchSize, 100);
      } catch (e) {
        o.onError?.(e as Error);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (batch.length) {
        await o.serde.prefetch(batch.map((r) => r.value)).catch((e) => o.onError?.(e));
        const { good, bad } = decodeBatch(batch, o.serde, { expected: o.expected });
        // Offsets are committed only past records that reached the DLQ: retry until they do.
        for (let attempt = 0; ; attempt++) {
          try {
            await o.dlq.write(bad);
            break;
          } catch (e) {
            o.onError?.(e as Error);
            await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
          }
        }
        if (good.length) await o.onGood?.(good);
        for (const r of batch) {
          next.set(`${r.topic}:${r.partition}`, { topic: r.topic, partition: r.partition, offset: r.offset + 1 });
          o.metrics?.recordsIn.inc({ topic: r.topic, stage: o.stage });
        }
        consumed += batch.length;
      }
      if (next.size && o.now() - lastCommit >= o.commitIntervalMs) await commit();
    }
    if (next.size) await commit();
  })();

  return {
    done,
    consumed: () => consumed,
    async stop() {
      running = false;
      await done;
    },
  };
}
