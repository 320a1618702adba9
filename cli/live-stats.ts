// Live stats of the running job every interval: records in/s, DLQ total, consumer lag, and what
// the allocator is doing. Rates come from counters sampled by the caller, so this module holds no
// Kafka logic. On a terminal they are a text line; elsewhere the caller logs them as JSON.
export interface StatsSample {
  recordsIn: number;
  dlq: number;
  lag: number;
  produced?: number;
  allocations?: number;
  /** Heated share of impressions in the allocator's rolling window, 0..1. */
  heatedShare?: number;
  /** Version (seq) of the learned allocation model live (0: the rule decides). */
  model?: number;
  ready?: boolean;
}

export interface Stats extends StatsSample {
  /** Records in per second over the last interval. */
  recordsPerSec: number;
}

/** The terminal line. */
export function formatStats(s: Stats): string {
  return [
    `[stats] in ${s.recordsPerSec.toFixed(0)} rec/s (total ${s.recordsIn})`,
    `dlq ${s.dlq}`,
    `lag ${s.lag}`,
    s.produced !== undefined && `produced ${s.produced}`,
    s.allocations !== undefined && `allocations ${s.allocations}`,
    s.heatedShare !== undefined && `heated share ${(s.heatedShare * 100).toFixed(1)}%`,
    s.model !== undefined && `model ${s.model > 0 ? `allocation@${s.model}` : 'rule'}`,
    s.ready !== undefined && `ready ${s.ready}`,
  ]
    .filter(Boolean)
    .join('  ');
}

export function startLiveStats(
  sample: () => StatsSample,
  emit: (stats: Stats) => void,
  opts: { intervalMs?: number; now?: () => number } = {},
): () => void {
  const now = opts.now ?? Date.now;
  let prev = sample();
  let prevAt = now();
  const timer = setInterval(() => {
    const cur = sample();
    const at = now();
    const secs = Math.max(0.001, (at - prevAt) / 1000);
    emit({ ...cur, recordsPerSec: Math.round((cur.recordsIn - prev.recordsIn) / secs) });
    prev = cur;
    prevAt = at;
  }, opts.intervalMs ?? 2000);
  timer.unref();
  return () => clearInterval(timer);
}
