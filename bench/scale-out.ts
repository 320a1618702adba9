// Scale-out on one box: 1, 2 and 3 job instances in one consumer group per stage on 12 input
// partitions, against the local Kafka (replication factor 1) and a private redis-server. Per
// instance count: end-to-end throughput with the sampled consumer lag (bench/kafka-runs.ts,
// e2eThroughput), and latency at a fixed rate (e2eLatency: produce to the user's serving copy in
// Redis). Every instance count starts fresh jobs on fresh topics.
import { e2eLatency, e2eThroughput } from './kafka-runs.js';
import type { Workload } from './workload.js';

export interface ScaleOutSizes {
  instances: readonly number[];
  partitions: number;
  /** Interactions of the throughput run. */
  events: number;
  /** Rate (interactions/s) and length (s) of the latency run. */
  rate: number;
  seconds: number;
}

export interface ScaleOutRow {
  instances: number;
  partitions: number;
  events: number;
  events_per_s: number;
  /** Highest consumer lag (records, summed over instances) sampled while the throughput run went. */
  max_lag: number;
  latency_rate: number;
  p50_ms: number;
  p99_ms: number;
  /** Sampled interactions at latency_rate seen in the serving copy, of those measured; fewer: the percentiles are lower bounds. */
  received: number;
  sent: number;
}

export async function scaleOut(
  w: Workload,
  sz: ScaleOutSizes,
  timeoutMs: number,
  log: (m: string) => void,
): Promise<ScaleOutRow[]> {
  const rows: ScaleOutRow[] = [];
  for (const instances of sz.instances) {
    const shape = { instances, partitions: sz.partitions };
    log(`scale-out: ${instances} instance(s) on ${sz.partitions} partitions`);
    const t = await e2eThroughput(w, sz.events, timeoutMs, log, shape);
    const l = await e2eLatency(w, sz.rate, sz.seconds, log, shape);
    const row: ScaleOutRow = {
      instances,
      partitions: sz.partitions,
      events: t.events,
      events_per_s: Math.round(t.eventsPerS),
      max_lag: t.maxLag,
      latency_rate: l.rate,
      p50_ms: l.p50,
      p99_ms: l.p99,
      received: l.seen,
      sent: l.measured,
    };
    log(`scale-out: ${JSON.stringify(row)}`);
    rows.push(row);
  }
  return rows;
}
