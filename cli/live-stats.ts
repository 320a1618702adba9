// Prints one line of live stats every interval: records in/s, DLQ total, consumer lag. Rates are
// computed from counters sampled by the caller, so this module holds no Kafka logic.
export interface StatsSample {
  recordsIn: number;
  dlq: number;
  lag: number;
  produced?: number;
  /** Anything else worth a glance (allocations, heated share...). */
  extra?: string;
}

export function startLiveStats(
  sample: () => StatsSample,
  opts: { intervalMs?: number; write?: (line: string) => void; now?: () => number } = {},
): () => void {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const now = opts.now ?? Date.now;
  let prev = sample();
  let prevAt = now();
  const timer = setInterval(() => {
    const cur = sample();
    const at = now();
    const secs = Math.max(0.001, (at - prevAt) / 1000);
    const rate = (cur.recordsIn - prev.recordsIn) / secs;
    write(
      `[stats] in ${rate.toFixed(0)} rec/s (total ${cur.recordsIn})  dlq ${cur.dlq}  lag ${cur.lag}` +
        (cur.produced !== undefined ? `  produced ${cur.produced}` : '') +
        (cur.extra ? `  ${cur.extra}` : ''),
    );
    prev = cur;
    prevAt = at;
  }, opts.intervalMs ?? 2000);
  timer.unref();
  return () => clearInterval(timer);
}
