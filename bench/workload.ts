// Deterministic benchmark input: content publications and user interactions over `users` users and
// `contents` contents, pre-encoded (Avro wire format) or as plain values (the naive pipeline).
// Event time spans `spanMs` evenly over the interactions, so a fixed number of allocation ticks
// close during the run whatever its size (tick work scales with contents × ticks, not events).
import { partitionForKey } from '../core/hash.js';
import { Serde } from '../io/serde.js';
import { SampleTraffic } from '../io/sample-traffic.js';
import type { ContentPublished, UserInteraction } from '../schemas/types.js';

export interface WorkloadOptions {
  users: number;
  contents: number;
  events: number;
  seed?: number;
  startTime?: number;
  /** Event time the interactions span (default 3 minutes: three 1-minute allocation ticks close). */
  spanMs?: number;
}

export interface Workload {
  published: ContentPublished[];
  interactions: UserInteraction[];
  startTime: number;
  endTime: number;
}

export const BENCH_START = 1_700_000_000_000;

export function makeWorkload(o: WorkloadOptions): Workload {
  const startTime = o.startTime ?? BENCH_START;
  const spanMs = o.spanMs ?? 180_000;
  // SampleTraffic draws users uniformly; with events >= users most users get touched.
  const gen = new SampleTraffic(Serde.local(), {
    seed: o.seed ?? 7,
    users: o.users,
    contents: o.contents,
    startTime,
    stepMs: 1,
  });
  const published: ContentPublished[] = [];
  for (let i = 0; i < o.contents; i++) {
    published.push({
      content_id: `c${i}`,
      creator_id: `cr${i % Math.max(1, Math.floor(o.contents / 5))}`,
      category: CATEGORY_OF(gen, i),
      quality_score: Math.fround(((i * 7919) % 1000) / 1000),
      published_at: startTime,
      creator_followers: (i * 104729) % 100_000,
    });
  }
  const interactions: UserInteraction[] = new Array(o.events);
  for (let i = 0; i < o.events; i++) {
    const e = gen.nextInteraction();
    e.event_time = startTime + Math.floor((i * spanMs) / o.events);
    interactions[i] = e;
  }
  return { published, interactions, startTime, endTime: startTime + spanMs };
}

function CATEGORY_OF(gen: SampleTraffic, i: number): string {
  return (gen as unknown as { contentCategory: string[] }).contentCategory[i];
}

export interface EncodedInput {
  topic: 'interactions' | 'published';
  partition: number;
  key: string;
  value: Buffer;
}

/** Wire-encodes the workload and partitions it by key (murmur2, as the Kafka producer does). */
export function encodeWorkload(
  w: Workload,
  partitions: number,
  serde: Serde = Serde.local(),
): { published: EncodedInput[]; interactions: EncodedInput[] } {
  return {
    published: w.published.map((p) => ({
      topic: 'published' as const,
      partition: partitionForKey(p.content_id, partitions),
      key: p.content_id,
      value: serde.encode('ContentPublished', p),
    })),
    interactions: w.interactions.map((e) => ({
      topic: 'interactions' as const,
      partition: partitionForKey(e.user_id, partitions),
      key: e.user_id,
      value: serde.encode('UserInteraction', e),
    })),
  };
}
