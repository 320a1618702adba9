// Latency to the serving copy at chosen rates, for chosen `commitMinIntervalMs` values, runs
// alternating so that load on a shared box hits every value alike: e2eLatency (kafka-runs.ts) per
// (rate, value), the job children started with THERMOSTAT_COMMIT_MIN_INTERVAL_MS=<value> (the
// rest of THERMOSTAT_* from this environment). Prints one JSON object per run, then a summary line.
//
//   npx tsx bench/serving-latency.ts [--rates 2000,6000] [--seconds 5] [--min-intervals 100,0] [--runs 2]
import { parseArgs } from 'node:util';
import { e2eLatency } from './kafka-runs.js';
import { makeWorkload } from './workload.js';

const { values: a } = parseArgs({
  options: {
    rates: { type: 'string', default: '2000,6000' },
    seconds: { type: 'string', default: '5' },
    'min-intervals': { type: 'string', default: '100,0' },
    runs: { type: 'string', default: '2' },
  },
});
const list = (s: string) => s.split(',').map(Number);
const rates = list(a.rates);
const values = list(a['min-intervals']);
const seconds = Number(a.seconds);
const log = (m: string) => process.stderr.write(`${m}\n`);

// The quick bench's workload: 100,000 users and 10,000 contents, interactions cycled.
const w = makeWorkload({ users: 100_000, contents: 10_000, events: 100_000 });
const rows: Record<string, unknown>[] = [];
for (let run = 0; run < Number(a.runs); run++)
  for (const rate of rates)
    for (const minIntervalMs of run % 2 === 0 ? values : [...values].reverse()) {
      const x = await e2eLatency(w, rate, seconds, log, {
        env: { THERMOSTAT_COMMIT_MIN_INTERVAL_MS: String(minIntervalMs) },
      });
      const row = {
        run,
        rate,
        minIntervalMs,
        at: new Date().toISOString(),
        servingP50: x.p50,
        servingP99: x.p99,
        servingMax: x.max,
        lowerBound: x.lowerBound,
        topicP50: x.contentEvents.p50,
        topicP99: x.contentEvents.p99,
        servingAfterTopicP50: x.servingAfterTopicMs.p50,
        userCheckpoints: x.checkpoints,
        redisCmdsPerEvent: Number(x.redisCmdsPerEvent.toFixed(4)),
        benchLoopDelayP99: x.benchLoopDelayMs.p99,
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
console.log(JSON.stringify({ rows }));
