// Live stats of the running job every interval: records in/s, DLQ total, consumer lag, what the
// allocator is doing (allocations, heated share, pool left, live model version) and, with sample traffic, what its
// ranker served (allocations it can deliver, heated vs organic CTR). Rates and CTRs come from
// counters sampled by the caller, so this module holds no Kafka logic. On a terminal they are a
// text line; elsewhere the caller logs them as JSON.
import type { ServedTally } from '../io/sample-producer.js';

export interface StatsSample {
  recordsIn: number;
  dlq: number;
  lag: number;
  produced?: number;
  /** Allocations the job emitted so far. */
  allocations?: number;
  /** Allocations the sample ranker may still deliver now. */
  allocationsActive?: number;
  /** Heated share of impressions in the allocator's rolling window, 0..1. */
  heatedShare?: number;
  /** Heating impressions left in the budget period. */
  poolRemaining?: number;
  /** What the sample ranker served (cumulative). */
  served?: ServedTally;
  /** Version (seq) of the learned allocation model live (0: the rule decides). */
  model?: number;
  ready?: boolean;
}

export interface Stats extends StatsSample {
  /** Records in per second over the last interval. */
  recordsPerSec: number;
  /** Clicks / impressions over the CTR window (null: no impressions in it). */
  heatedCtr?: number | null;
  organicCtr?: number | null;
}

const pct = (x: number | null | undefined): string => (x == null ? '–' : `${(x * 100).toFixed(1)}%`);

/** The terminal line. */
export function formatStats(s: Stats): string {
  const active = s.allocationsActive !== undefined ? ` (active ${s.allocationsActive})` : '';
  return [
    `[stats] in ${s.recordsPerSec.toFixed(0)} rec/s (total ${s.recordsIn})`,
    `dlq ${s.dlq}`,
    `lag ${s.lag}`,
    s.produced !== undefined && `produced ${s.produced}`,
    s.allocations !== undefined && `allocations ${s.allocations}${active}`,
    s.heatedShare !== undefined && `heated share ${pct(s.heatedShare)}`,
    s.heatedCtr !== undefined && `ctr heated ${pct(s.heatedCtr)} organic ${pct(s.organicCtr)}`,
    s.poolRemaining !== undefined && `pool ${Math.round(s.poolRemaining)}`,
    s.model !== undefined && `model ${s.model > 0 ? `allocation@${s.model}` : 'rule'}`,
    s.ready !== undefined && `ready ${s.ready}`,
  ]
    .filter(Boolean)
    .join('  ');
}

const ctr = (clicks: number, impressions: number): number | null =>
  impressions > 0 ? clicks / impressions : null;

/**
 * Emits the stats every interval. CTRs are over the last `ctrIntervals` intervals (default 5), so a
 * line reflects what the ranker serves now, not since the start.
 */
export function startLiveStats(
  sample: () => StatsSample,
  emit: (stats: Stats) => void,
  opts: { intervalMs?: number; now?: () => number; ctrIntervals?: number } = {},
): () => void {
  const now = opts.now ?? Date.now;
  let prev = sample();
  let prevAt = now();
  // Tallies at the start of each of the last ctrIntervals intervals, oldest first.
  const past: ServedTally[] = prev.served ? [prev.served] : [];
  const timer = setInterval(() => {
    const cur = sample();
    const at = now();
    const secs = Math.max(0.001, (at - prevAt) / 1000);
    const stats: Stats = { ...cur, recordsPerSec: Math.round((cur.recordsIn - prev.recordsIn) / secs) };
    if (cur.served) {
      const from = past[0] ?? {
        heatedImpressions: 0,
        heatedClicks: 0,
        organicImpressions: 0,
        organicClicks: 0,
      };
      const s = cur.served;
      stats.heatedCtr = ctr(s.heatedClicks - from.heatedClicks, s.heatedImpressions - from.heatedImpressions);
      stats.organicCtr = ctr(
        s.organicClicks - from.organicClicks,
        s.organicImpressions - from.organicImpressions,
      );
      past.push(s);
      if (past.length > (opts.ctrIntervals ?? 5)) past.shift();
    }
    emit(stats);
    prev = cur;
    prevAt = at;
  }, opts.intervalMs ?? 2000);
  timer.unref();
  return () => clearInterval(timer);
}
