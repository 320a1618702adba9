// Fault injection at job level, in the manner of Kafka Streams' EOS system test: a seeded input
// log with the poison catalogue mixed in is produced partly upfront and partly while the job runs
// (with pauses in arrival); the job (`thermostat run`, a child process) is SIGKILLed at seeded
// random moments, Redis is paused and stopped right after a restart, the broker is restarted; in
// the end a verifier compares every key, every allocation id and every DLQ'd record with the
// uninterrupted run over the same log (in memory) and prints the counts.
//
// The CI variant is test/integration/fault-injection.test.ts (short); the soak is test/soak.ts
// (`npm run soak`, docs/FAULT-INJECTION.md).
import { randomBytes } from 'node:crypto';
import { Rng } from '../../core/rng.js';
import { Serde } from '../../io/serde.js';
import { DLQ_HEADERS } from '../../io/dlq.js';
import { dlqTopic, fastPartition, topologyNames } from '../../pipelines/topology.js';
import type { ContentPublished, UserInteraction } from '../../schemas/types.js';
import {
  dlqEntry,
  interactionRecord,
  makeInput,
  PARTITIONS,
  produceInput,
  publicationRecord,
  referenceRun,
  verifyClient,
  type FinalState,
  type InputOptions,
  type InputRecord,
} from './job-fixture.js';
import { JobProcess, sleep, waitQuiescent } from '../../bench/support/job-process.js';
import { uniqueName } from './kafka.js';
import { PrivateKafka } from './private-kafka.js';
import { produceScheduled, readRaw } from './raw-records.js';
import { TestRedis } from '../../bench/support/redis-server.js';
import { formatReport, verifyRun, type VerifierReport } from './verifier.js';

export interface FaultPlan {
  input: InputOptions;
  /** Share of the interactions produced before the job starts; the rest arrives while it runs. */
  upfrontShare: number;
  ratePerSec: number;
  /** Pauses in arrival, each `gapMs` long (longer than the job's idle timeout). */
  gaps: number;
  gapMs: number;
  /** SIGKILLs at seeded random moments (each followed by a restart). */
  kills: number;
  /** Redis paused (SIGSTOP) for `redisPauseMs`, then stopped for `redisDownMs`, right after a restart. */
  redisFaults: number;
  redisPauseMs: number;
  redisDownMs: number;
  /** Broker restarts (a private broker then, never the shared one). */
  brokerRestarts: number;
  /** Mix the poison catalogue (every kind of hostile record) into the log. */
  poison: boolean;
}

export interface FaultRunResult {
  report: VerifierReport;
  /** DLQ'd input records at their coordinates: expected, found (distinct), missing, extra; records incl. replays. */
  dlq: { expected: number; found: number; missing: number; extra: number; records: number };
  /** What was injected, for the printout. */
  injected: string[];
  ref: FinalState;
  text: string;
}

const serde = Serde.local();

/**
 * The poison catalogue: every kind of record real upstreams produce that must neither stop,
 * poison nor split the job. Keyed to existing users so they land among real traffic.
 */
export function poisonCatalogue(
  input: { interactions: UserInteraction[]; published: ContentPublished[] },
  rng: Rng,
): { records: InputRecord[]; kinds: string[] } {
  const base = (i: number) => input.interactions[i % input.interactions.length];
  const any = () => base(rng.int(input.interactions.length));
  const header = serde.encode('UserInteraction', base(0)).subarray(0, 5);
  const now = Date.now();
  const y2100 = Date.UTC(2100, 0, 1);
  const ui = (r: UserInteraction, o: Partial<InputRecord> = {}) => interactionRecord(r, o);
  const raw = (key: string, value: Buffer, o: Partial<InputRecord> = {}): InputRecord => ({
    topic: 'interactions',
    key,
    value,
    ...o,
  });
  const kinds: [string, InputRecord][] = [
    ['wrong magic byte', raw('p-magic', Buffer.from([1, 0, 0, 0, 1, 2, 3]))],
    ['truncated header', raw('p-trunc', Buffer.from([0, 0]))],
    ['tombstone (null value)', raw('p-null', Buffer.alloc(0), { tombstone: true })],
    ['unknown schema id', raw('p-schema', Buffer.from([0, 0, 0, 3, 231, 1, 2, 3]))],
    [
      'garbage Avro body',
      raw('p-avro', Buffer.concat([header, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])])),
    ],
    ['wrong schema for the topic', raw('p-incompat', serde.encode('ContentPublished', input.published[0]))],
    ['completion 7', ui({ ...any(), event_id: 'p-compl', completion: 7 })],
    ['negative dwell', ui({ ...any(), event_id: 'p-dwell', dwell_ms: -5 })],
    ['NaN completion', ui({ ...any(), event_id: 'p-nan', completion: Number.NaN })],
    ['empty user_id', ui({ ...any(), event_id: 'p-empty', user_id: '' }, { key: 'p-empty' })],
    ['200-byte user_id', ui({ ...any(), event_id: 'p-long', user_id: 'u'.repeat(200) })],
    ['negative event_time', ui({ ...any(), event_id: 'p-negt', event_time: -1 })],
    ['~1 MiB valid interaction', ui({ ...any(), event_id: randomBytes(780_000).toString('base64') })],
    ['~1 MiB garbage', raw('p-big', randomBytes(1_040_000))],
    ['interaction dated 2100', ui({ ...any(), event_id: 'p-2100', event_time: y2100 }, { timestamp: now })],
    [
      'publication dated 2100',
      publicationRecord(
        { ...input.published[0], content_id: 'p-c2100', published_at: y2100 },
        { timestamp: now },
      ),
    ],
    [
      'publication quality 2',
      publicationRecord({ ...input.published[1], content_id: 'p-cq', quality_score: 2 }),
    ],
    ['publication garbage', { topic: 'published', key: 'p-cg', value: Buffer.from([0, 0, 0, 0, 2, 0xff]) }],
    ['duplicate event id', ui({ ...base(7) })],
  ];
  return { records: kinds.map(([, r]) => r), kinds: kinds.map(([k]) => k) };
}

/**
 * The seeded input log: publications, interactions with the poison catalogue at seeded places,
 * and users written by producers with other partitioners (every 13th user always on the next
 * partition, every 17th with a null key two further).
 */
export function faultLog(plan: FaultPlan): { records: InputRecord[]; injected: string[] } {
  const input = makeInput(plan.input);
  const rng = new Rng(plan.input.seed ^ 0x5eed);
  const owner = (u: string) => fastPartition(u, PARTITIONS);
  const interactions = input.interactions.map((r) => {
    if (!plan.poison) return interactionRecord(r);
    const n = Number(r.user_id.slice(1));
    if (n % 13 === 0) return interactionRecord(r, { partition: (owner(r.user_id) + 1) % PARTITIONS });
    if (n % 17 === 0)
      return interactionRecord(r, { key: null, partition: (owner(r.user_id) + 2) % PARTITIONS });
    return interactionRecord(r);
  });
  const injected: string[] = [];
  if (plan.poison) {
    const { records, kinds } = poisonCatalogue(input, rng);
    records.forEach((r, i) => {
      interactions.splice(rng.int(interactions.length), 0, r);
      injected.push(kinds[i]);
    });
    injected.push('interactions of every 13th user on the next partition, of every 17th with a null key');
  }
  return { records: [...input.published.map((p) => publicationRecord(p)), ...interactions], injected };
}

/** Runs the plan against Kafka (shared, or private when the broker is restarted) and a private Redis. */
export async function runFaultPlan(
  plan: FaultPlan,
  o: { cleanup: (fn: () => unknown) => void; log?: (line: string) => void; sharedBrokers?: string },
): Promise<FaultRunResult> {
  const log = o.log ?? (() => {});
  const { records, injected } = faultLog(plan);
  const ref = await referenceRun(records);
  let kafka: PrivateKafka | null = null;
  if (plan.brokerRestarts > 0 || !o.sharedBrokers) {
    kafka = await PrivateKafka.start();
    o.cleanup(() => kafka?.dispose());
  }
  const brokers = kafka?.brokers ?? o.sharedBrokers!;
  const appId = uniqueName(`faults${plan.input.seed}`);
  const names = topologyNames(appId, `${appId}.`);
  const redis = await TestRedis.start();
  o.cleanup(() => redis.dispose());
  const client = verifyClient(redis.port);
  o.cleanup(() => client.disconnect());

  const firstInteraction = records.findIndex((r) => r.topic === 'interactions');
  const upfront = firstInteraction + Math.floor((records.length - firstInteraction) * plan.upfrontShare);
  await produceInput(brokers, names, records.slice(0, upfront));
  const rng = new Rng(plan.input.seed);
  const tail = records
    .slice(upfront)
    .map((r) => ({ ...r, topic: names[r.topic], value: r.tombstone ? null : r.value }));
  // The tail in 100 ms slices at the plan's rate, with `gaps` pauses at seeded places.
  const perSlice = Math.max(1, Math.round(plan.ratePerSec / 10));
  const gapAt = new Set(Array.from({ length: plan.gaps }, () => rng.int(Math.ceil(tail.length / perSlice))));
  const slices: { atMs: number; records: typeof tail }[] = [];
  for (let i = 0, at = 0, k = 0; i < tail.length; i += perSlice, k++) {
    if (gapAt.has(k)) at += plan.gapMs;
    slices.push({ atMs: at, records: tail.slice(i, i + perSlice) });
    at += 100;
  }
  let producing: Promise<void> | null = null;

  const spawn = await JobProcess.restarter({ appId, redis }, brokers, {
    env: {
      THERMOSTAT_COMMIT_INTERVAL_MS: '500',
      THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '300',
      THERMOSTAT_SHUTDOWN_TIMEOUT_MS: '20000',
      // Static membership: a restarted life takes its partitions back at once.
      THERMOSTAT_KAFKA_RDKAFKA: JSON.stringify({ 'group.instance.id': `${appId}-0` }),
      // Debugging a failed run: every life's output, at info level, appended to this file.
      ...(process.env.THERMOSTAT_TEST_JOB_LOG ? { THERMOSTAT_LOG_LEVEL: 'info' } : {}),
    },
    logFile: process.env.THERMOSTAT_TEST_JOB_LOG,
  });
  let job: JobProcess | null = null;
  o.cleanup(() => job?.dispose());
  const events: string[] = [];
  let redisFaults = plan.redisFaults;
  let brokerRestarts = plan.brokerRestarts;
  for (let k = 0; k < plan.kills; k++) {
    job = await spawn();
    if (k % 4 === 3)
      await sleep(200 + rng.int(1500)); // anywhere in start-up
    else {
      await job.waitStarted();
      producing ??= produceScheduled(brokers, slices);
      await sleep(300 + rng.int(2500));
      if (redisFaults > 0 && k % 2 === 1) {
        // Right after a restart: most keys not in memory yet.
        redisFaults--;
        redis.pause();
        await sleep(plan.redisPauseMs);
        redis.resume();
        await redis.stop();
        await sleep(plan.redisDownMs);
        await redis.start();
        events.push(`life ${k + 1}: Redis paused ${plan.redisPauseMs} ms then down ${plan.redisDownMs} ms`);
        await sleep(rng.int(1000));
      } else if (kafka && brokerRestarts > 0) {
        brokerRestarts--;
        await kafka.stop();
        await sleep(3000);
        await kafka.restart();
        events.push(`life ${k + 1}: broker stopped 3000 ms and restarted`);
        await sleep(rng.int(2000));
      }
    }
    const consumed = await job.recordsIn();
    await job.crash();
    events.push(`life ${k + 1}: SIGKILL after ${consumed} records`);
    log(events[events.length - 1]);
  }
  job = await spawn();
  await job.waitStarted();
  await (producing ??= produceScheduled(brokers, slices));
  await waitQuiescent(job);
  const exit = await job.terminate();
  if (exit.code !== 0) throw new Error(`final SIGTERM: exit ${exit.code}\n${job.outputTail}`);
  events.push('last life: ran to completion, SIGTERM, exit 0');

  const report = await verifyRun({ brokers, names, appId, redis: client, ref });
  const found = new Set<string>();
  let dlqRecords = 0;
  for (const role of ['interactions', 'published'] as const)
    for (const r of await readRaw(brokers, dlqTopic(names[role]), 1, `${appId}-dlq-${role}`)) {
      found.add(dlqEntry(role, r.headers));
      dlqRecords++;
    }
  // Late at the content stage: never in the uninterrupted run of this input; each one is an
  // impression missing from its content's state.
  const late = await readRaw(brokers, names.late, 1, `${appId}-late`);
  const contentLate = late.filter((r) => r.headers[DLQ_HEADERS.message]?.startsWith('content stage')).length;
  const dlq = {
    expected: ref.dlq.size,
    found: found.size,
    missing: [...ref.dlq].filter((e) => !found.has(e)).length,
    extra: [...found].filter((e) => !ref.dlq.has(e)).length,
    records: dlqRecords,
  };
  const text = [
    `input: ${records.length} records (${plan.input.users} users, ${plan.input.contents} contents), ${upfront} upfront, the rest at ${plan.ratePerSec}/s with ${plan.gaps} pauses of ${plan.gapMs} ms`,
    `injected: ${injected.join('; ')}`,
    ...events,
    formatReport(report),
    `late output: ${late.length} records (${contentLate} late at the content stage)`,
    `DLQ: ${dlq.found - dlq.extra}/${dlq.expected} poison records at their coordinates with the reference's reason (${dlq.missing} missing, ${dlq.extra} extra; ${dlq.records} records incl. replays)`,
  ].join('\n');
  return { report, dlq, injected, ref, text };
}
