// The end-to-end run of `thermostat bench` (bench/kafka-runs.ts e2eThroughput: the job as a child
// process on the local Kafka with a private redis-server, interactions produced as fast as the
// producer goes) at a size where start-up weighs little: the quick part's 60k interactions last a
// few seconds, and in a profile of one quick run module loading and compilation took ≈ 8 % of the
// job's main-thread CPU.
// Prints one JSON line: throughput, max lag and CPU µs per interaction of job (by thread group),
// broker, Redis and producer.
//   npx tsx bench/e2e-steady.ts [interactions=400000] [users=200000] [contents=10000]
import { e2eThroughput } from './kafka-runs.js';
import { makeWorkload } from './workload.js';

const [events = 400_000, users = 200_000, contents = 10_000] = process.argv.slice(2).map(Number);
const w = makeWorkload({ users, contents, events });
const x = await e2eThroughput(w, events, 600_000, (m) => console.error(m));
console.log(
  JSON.stringify({
    events: x.events,
    events_per_s: Math.round(x.eventsPerS),
    max_lag: x.maxLag,
    cpu_us_per_event: Object.fromEntries(
      x.cpu.shares.map((s) => [s.name, { total: s.usPerEvent, ...(s.threadsUsPerEvent ?? {}) }]),
    ),
    box_cpu_us_per_event:
      x.cpu.boxCpuSeconds === null ? null : Math.round((x.cpu.boxCpuSeconds * 1e6) / events),
  }),
);
