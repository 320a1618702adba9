// The Kafka job's checkpoint rounds with the real KafkaJob, tasks, caches, write-behind and
// in-memory checkpoint store; only the Kafka consumer/producer are in-memory fakes. The commit
// interval is an hour, so every checkpoint before stop() comes from the dirty-entry bound (config
// state.maxDirtyBeforeCheckpoint): a task whose caches pass it starts a round at once, so one
// atomic checkpoint stays small. Also: a producer flush that fails while the broker is away is
// retried with the same cut (nothing drained is dropped), and a lost output stops the process.
// The job's clock and timers are one VirtualTime: polls, backoffs and the idle timeout pass in
// virtual time, so no test sleeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../../../core/log.js';
import { createMetrics, type Metrics } from '../../../../core/metrics.js';
import { sleepOn, VirtualTime } from '../../../../core/timers.js';
import {
  busyCheckpointDue,
  earlyCheckpointDue,
  INTERACTIONS_PER_CHECKPOINT_CALL,
} from '../../../../runtime/kafka/checkpoint-coordinator.js';
import { KafkaJob } from '../../../../runtime/kafka/job.js';
import type {
  SinkPort,
  SourceOptions,
  SourcePort,
  TopicPartitionOffset,
} from '../../../../runtime/kafka/ports.js';
import type { GraphSettings } from '../../../../pipelines/task-factory.js';
import type { RawRecord } from '../../../../runtime/task-runner.js';
import { SOURCE_TOPIC, sourceId, topologyNames } from '../../../../pipelines/topology.js';
import { rekeyMarkerHeaders } from '../../../../pipelines/rekey.js';
import { wireSerde } from '../../../../pipelines/wire-serde.js';
import { MemoryCheckpointStore } from '../../../../state/memory-checkpoint.js';
import { WriteBehind } from '../../../../state/write-behind.js';
import { parseAgentConfig } from '../../../../agents/config.js';
import type { AllocatorInput } from '../../../../schemas/types.js';
import { createDriver, interaction, publication, singlePartitionSettings } from '../../../support/driver.js';
import { drive, runUntil, settle } from '../../../support/virtual-time.js';

const names = topologyNames('thermostat');
const serde = wireSerde(names);
const BATCH = 25;

/** A consumer of one partition per topic, handing out `records` (user stage only) in batches. */
class FakeSource implements SourcePort {
  readonly commits: TopicPartitionOffset[][] = [];
  private next = 0;
  private paused = false;
  private eofSent = false;
  /** Set by a test: the broker's answer for the partition end (a rejection = unreachable). */
  endOffset?: (tp: { topic: string; partition: number }) => Promise<number>;
  private readonly wait: (ms: number) => Promise<void>;
  /** Set by a test: hand out only records whose timestamp has come (a producer at their rate). */
  paced = false;
  constructor(
    protected readonly o: SourceOptions,
    private readonly records: RawRecord[],
    private readonly time: VirtualTime,
  ) {
    this.wait = sleepOn(time);
  }
  /** Partition 0 of every topic: this consumer's whole assignment. */
  protected get partitions(): { topic: string; partition: number }[] {
    return this.o.topics.map((topic) => ({ topic, partition: 0 }));
  }
  async connect(): Promise<void> {
    await this.o.onAssign(this.partitions);
  }
  /** The group takes the assignment back (`lost`: it was given away while this member was frozen). */
  revoke(lost = false): Promise<void> {
    return this.o.onRevoke(this.partitions, lost);
  }
  polls = 0;
  async poll(max: number): Promise<RawRecord[]> {
    this.polls++;
    if (this.paused && this.next < this.records.length) {
      this.pausedPolls++;
      await this.wait(5);
      return [];
    }
    let end = Math.min(this.records.length, this.next + max);
    if (this.paced) {
      const now = this.time.now();
      for (let i = this.next; i < end; i++)
        if (this.records[i].timestamp > now) {
          end = i;
          break;
        }
    }
    const out = this.records.slice(this.next, end);
    this.next += out.length;
    // At its end (once per partition), like librdkafka's partition EOF event.
    if (out.length === 0 && this.drained && !this.eofSent)
      for (const topic of this.o.topics) {
        this.eofSent = true;
        this.o.onEof?.({ topic, partition: 0 }, topic === names.interactions ? this.records.length : 0);
      }
    if (out.length === 0) await this.wait(5);
    return out;
  }
  get drained(): boolean {
    return this.next >= this.records.length;
  }
  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    this.commits.push([...offsets]);
  }
  lag(): number {
    return this.records.length - this.next;
  }
  pause(tps: readonly unknown[]): void {
    if (tps.length > 0) this.paused = true;
  }
  resume(tps: readonly unknown[]): void {
    if (tps.length > 0) this.paused = false;
  }
  /** Polls answered while paused with records left (consumption held back). */
  pausedPolls = 0;
  async disconnect(): Promise<void> {}
}

/**
 * A consumer whose group answers its rejoin while the instance stops: the assignment is served
 * during `disconnect`, as librdkafka serves it inside the leaving consumer's last polls.
 */
class RejoinWhileLeavingSource extends FakeSource {
  override async disconnect(): Promise<void> {
    await this.o.onAssign(this.partitions);
  }
}

/** An interaction of user `u<offset>` at `offset` of user-interactions partition 0. */
function interactionAt(offset: number, eventTime: number, timestamp: number): RawRecord {
  const r = interaction({ user_id: `u${offset}`, content_id: 'c1', event_time: eventTime });
  return {
    topic: names.interactions,
    partition: 0,
    offset,
    key: r.user_id,
    value: serde.encode('UserInteraction', r),
    timestamp,
  };
}

/** Interactions of `users` distinct users from event time `t0` on, one per millisecond. */
const userRecords = (users: number, t0: number): RawRecord[] =>
  Array.from({ length: users }, (_, i) => interactionAt(i, t0 + i, t0 + i));

/**
 * A KafkaJob over fake consumers on virtual time, with a one-hour commit interval. The stage reading
 * `topic` (default: the user stage) reads `records` through a FakeSource, or through
 * `makeUserSource`; `userSource` is that consumer once the job has started. The others read nothing.
 */
function fakeJob<S extends SourcePort = FakeSource>(o: {
  clock: VirtualTime;
  records?: RawRecord[];
  makeUserSource?: (so: SourceOptions) => S;
  topic?: string;
  settings?: GraphSettings;
  store: MemoryCheckpointStore;
  writeBehind: WriteBehind;
  sink: SinkPort;
  idleTimeoutMs: number;
  maxDirtyBeforeCheckpoint?: number;
  commitIntervalMs?: number;
  commitMinIntervalMs?: number;
  metrics?: Metrics;
  onFatal?: (e: Error) => void;
  endOffset?: FakeSource['endOffset'];
}): { job: KafkaJob; userSource: () => S } {
  const settings = o.settings ?? singlePartitionSettings(names);
  const makeUserSource =
    o.makeUserSource ??
    ((so: SourceOptions) => {
      const source = new FakeSource(so, o.records ?? [], o.clock);
      source.endOffset = o.endOffset;
      return source as unknown as S;
    });
  let userSource: S | undefined;
  const job = new KafkaJob({
    settings,
    agents: settings.agents,
    serde,
    store: o.store,
    writeBehind: o.writeBehind,
    createSource: (so) => {
      if (!so.topics.includes(o.topic ?? names.interactions)) return new FakeSource(so, [], o.clock);
      userSource = makeUserSource(so);
      return userSource;
    },
    sink: o.sink,
    clock: o.clock,
    timers: o.clock,
    metrics: o.metrics ?? createMetrics(),
    log: createLogger('silent'),
    appId: 'thermostat',
    batchSize: BATCH,
    commitIntervalMs: o.commitIntervalMs ?? 3_600_000,
    commitMinIntervalMs: o.commitMinIntervalMs,
    idleTimeoutMs: o.idleTimeoutMs,
    maxDirtyBeforeCheckpoint: o.maxDirtyBeforeCheckpoint,
    onFatal: o.onFatal,
  });
  return { job, userSource: () => userSource! };
}

const okSink: SinkPort = { send() {}, flush: async () => {}, disconnect: async () => {} };

/**
 * fakeJob on a fresh clock at `t0` and memory store, wired as in runtime/kafka/run-job.ts: offsets
 * go to Kafka only once their checkpoint is durable.
 */
function durableJob(
  t0: number,
  o: Omit<Parameters<typeof fakeJob<FakeSource>>[0], 'clock' | 'store' | 'writeBehind'>,
) {
  const store = new MemoryCheckpointStore();
  const clock = new VirtualTime(t0);
  let job: KafkaJob | null = null;
  const writeBehind = new WriteBehind({
    store,
    maxQueuedEntries: 1_000_000,
    clock,
    onDurable: (task, offsets) => void job?.onDurable(task, offsets),
  });
  const made = fakeJob<FakeSource>({ ...o, clock, store, writeBehind });
  job = made.job;
  return { ...made, store, clock, writeBehind };
}

async function run(users: number, maxDirty: number, sink: SinkPort = okSink, onFatal?: (e: Error) => void) {
  const t0 = 28_333_334 * 60_000;
  const records = userRecords(users, t0);
  let fatal = false;
  const made = durableJob(t0, {
    records,
    sink,
    idleTimeoutMs: 3_600_000,
    maxDirtyBeforeCheckpoint: maxDirty,
    onFatal:
      onFatal &&
      ((e) => {
        fatal = true;
        onFatal(e);
      }),
  });
  const { job, store, clock, writeBehind } = made;
  await job.start();
  const userSource = made.userSource();
  await runUntil(clock, () => userSource.drained || fatal);
  // The round in flight, if any (flush retries included), then its Redis commit.
  await drive(clock, job.roundSettled());
  await drive(clock, writeBehind.flush());
  const early = job.earlyCheckpoints;
  const commitsBeforeStop = writeBehind.stats().commits;
  /** Users Redis (here: memory) holds for the user task. */
  const storedUsers = async () =>
    (
      await store.load(
        { stage: 'user', partition: 0 },
        'user',
        records.map((r) => r.key!),
      )
    ).size;
  // Before the final checkpoint of stop(), then after it.
  const durableUsers = await storedUsers();
  await drive(clock, job.stop());
  const finalUsers = await storedUsers();
  return {
    early,
    commitsBeforeStop,
    durableUsers,
    finalUsers,
    offsetCommits: userSource.commits.length,
    pausedPolls: userSource.pausedPolls,
  };
}

test('a task over state.maxDirtyBeforeCheckpoint dirty entries checkpoints before the commit interval', async () => {
  const r = await run(400, 50);
  // 400 distinct users, 25 per batch: the bound (more than 50) is passed every third batch (75
  // dirty), so 16 batches start 5 rounds.
  assert.equal(r.early, Math.floor(400 / 75), `early rounds: ${r.early}`);
  assert.ok(r.commitsBeforeStop >= r.early, `commits ${r.commitsBeforeStop} vs early rounds ${r.early}`);
  // Everything up to the last early round is durable without any interval-driven checkpoint.
  assert.ok(r.durableUsers >= 400 - 75, `users durable before stop: ${r.durableUsers}`);
  assert.ok(r.offsetCommits >= 1, 'offsets committed after the early checkpoints were durable');
});

test('below the bound nothing is checkpointed before the commit interval', async () => {
  const r = await run(400, 1000);
  assert.equal(r.early, 0);
  assert.equal(r.commitsBeforeStop, 0);
  assert.equal(r.durableUsers, 0);
});

test('checkpoint rounds: a task with nothing new sends no commit; new input is written; an idle task still writes every 10 s', async () => {
  const t0 = 28_333_334 * 60_000;
  const records = userRecords(60, t0);
  const made = durableJob(t0, { records, sink: okSink, idleTimeoutMs: 3_600_000 });
  const { job, store, clock, writeBehind } = made;
  await job.start();
  const userSource = made.userSource();
  await runUntil(clock, () => userSource.drained);
  const user = { stage: 'user', partition: 0 };
  const written = () => store.inspect(user)?.checkpoints ?? 0;
  const round = async () => {
    await drive(clock, job.checkpointAll());
    await drive(clock, writeBehind.flush());
  };
  await round();
  assert.equal(written(), 1, 'the round after the input writes the user task');
  const tasks = writeBehind.stats().tasks;
  const commits = writeBehind.stats().commits;
  for (let i = 0; i < 3; i++) await round();
  assert.equal(writeBehind.stats().commits, commits, 'idle rounds send no commit for any task');
  assert.equal(writeBehind.stats().skipped, 3 * tasks);
  assert.equal(written(), 1);
  const offsetCommits = userSource.commits.length;

  records.push(interactionAt(60, t0 + 60, t0 + 60));
  await runUntil(clock, () => userSource.drained);
  await round();
  assert.equal(written(), 2, 'a new record is written at the next round');
  assert.ok(userSource.commits.length > offsetCommits, 'and its offset committed after it');

  await round();
  assert.equal(written(), 2);
  clock.advance(10_000);
  await round();
  assert.equal(written(), 3, 'an unchanged task writes again once its last commit is 10 s old');
  await drive(clock, job.stop());
});

test('earlyCheckpointDue: over the bound, not while a round runs or after a stall', () => {
  const base = { max: 100, roundRunning: false, held: false };
  assert.equal(earlyCheckpointDue({ ...base, dirtyPerTask: [10, 101, 0] }), true);
  assert.equal(earlyCheckpointDue({ ...base, dirtyPerTask: [100, 100] }), false); // bound is inclusive
  assert.equal(earlyCheckpointDue({ ...base, dirtyPerTask: [] }), false);
  assert.equal(earlyCheckpointDue({ ...base, roundRunning: true, dirtyPerTask: [500] }), false);
  assert.equal(earlyCheckpointDue({ ...base, held: true, dirtyPerTask: [500] }), false);
});

test('busyCheckpointDue: after the minimum interval, once the interactions pay for the tasks written', () => {
  const base = { sinceLastRoundMs: 100, minIntervalMs: 100, roundRunning: false, held: false };
  const per = INTERACTIONS_PER_CHECKPOINT_CALL;
  assert.equal(per, 100); // 0.01 Redis calls per interaction at most
  assert.equal(busyCheckpointDue({ ...base, interactions: 13 * per, tasksToWrite: 13 }), true);
  assert.equal(busyCheckpointDue({ ...base, interactions: 13 * per - 1, tasksToWrite: 13 }), false);
  assert.equal(busyCheckpointDue({ ...base, interactions: 2 * per, tasksToWrite: 1 }), true);
  assert.equal(busyCheckpointDue({ ...base, interactions: 0, tasksToWrite: 0 }), false); // nothing to write
  const due = { interactions: 10 * per, tasksToWrite: 2 };
  assert.equal(busyCheckpointDue({ ...base, ...due, sinceLastRoundMs: 99 }), false); // too soon
  assert.equal(busyCheckpointDue({ ...base, ...due, minIntervalMs: 0, sinceLastRoundMs: 5000 }), false); // off
  assert.equal(busyCheckpointDue({ ...base, ...due, roundRunning: true }), false);
  assert.equal(busyCheckpointDue({ ...base, ...due, held: true }), false);
});

/** Rounds started per trigger (thermostat_checkpoint_rounds_total). */
async function roundsByTrigger(metrics: Metrics): Promise<Record<string, number>> {
  const out: Record<string, number> = { interval: 0, dirty: 0, busy: 0 };
  for (const v of (await metrics.checkpointRounds.get()).values) out[String(v.labels.trigger)] = v.value;
  return out;
}

/**
 * `users` interactions of distinct users produced at `perMs` per millisecond (a record's timestamp
 * is when the paced source hands it out), under the given commit interval and minimum interval.
 * The fake job owns three tasks (user, content, allocator), so a busy round needs 300 interactions.
 * Returns the rounds per trigger and how many users Redis held once the last record was consumed.
 */
async function pacedRun(o: {
  users: number;
  perMs: number;
  commitIntervalMs: number;
  minIntervalMs: number;
  /** The i-th record at `t` (default: an interaction of user `u<i>`). */
  record?: (i: number, t: number) => RawRecord;
}) {
  const t0 = 28_333_334 * 60_000;
  const at = (i: number) => t0 + Math.floor(i / o.perMs);
  const make = o.record ?? ((i: number, t: number) => interactionAt(i, t, t));
  const records = Array.from({ length: o.users }, (_, i) => make(i, at(i)));
  const metrics = createMetrics();
  const made = durableJob(t0, {
    records,
    sink: okSink,
    idleTimeoutMs: 3_600_000,
    commitIntervalMs: o.commitIntervalMs,
    commitMinIntervalMs: o.minIntervalMs,
    metrics,
  });
  const { job, store, clock, writeBehind } = made;
  await job.start();
  const userSource = made.userSource();
  userSource.paced = true;
  await runUntil(clock, () => userSource.drained);
  const elapsedMs = clock.now() - t0;
  await drive(clock, job.roundSettled());
  await drive(clock, writeBehind.flush());
  const keys = records.map((r) => r.key!);
  const durableUsers = (await store.load({ stage: 'user', partition: 0 }, 'user', keys)).size;
  const rounds = await roundsByTrigger(metrics);
  const busy = job.busyCheckpoints;
  await drive(clock, job.stop());
  return { rounds, busy, durableUsers, elapsedMs };
}

test('under load, busy rounds follow the minimum interval and replace the interval rounds', async () => {
  // 3,000 interactions at 4,000/s: 300 arrive within 75 ms, so the 100 ms minimum interval sets
  // the pace; the one-second timer restarts from each busy round and never fires.
  const r = await pacedRun({ users: 3000, perMs: 4, commitIntervalMs: 1000, minIntervalMs: 100 });
  assert.ok(r.elapsedMs >= 749, `ran ${r.elapsedMs} ms of virtual time`);
  assert.equal(r.rounds.interval, 0, `rounds ${JSON.stringify(r.rounds)}`);
  assert.equal(r.rounds.busy, r.busy);
  // One per ≈ 100 ms (a poll every 5 ms with nothing new: a round starts ≤ 5 ms late).
  assert.ok(r.busy >= 6 && r.busy <= 7, `busy rounds ${r.busy}`);
  // What Redis holds lags the input by about one minimum interval.
  assert.ok(r.durableUsers >= 3000 - 4 * 110, `users durable when the last was consumed: ${r.durableUsers}`);
});

test('a busy round waits until the interactions pay for every task it could write', async () => {
  // 1,500 interactions at 1,000/s: 100 interactions per task for 3 tasks take 300 ms.
  const r = await pacedRun({ users: 1500, perMs: 1, commitIntervalMs: 1000, minIntervalMs: 100 });
  assert.ok(r.busy >= 4 && r.busy <= 5, `busy rounds ${r.busy}`);
  assert.equal(r.rounds.interval, 0, `rounds ${JSON.stringify(r.rounds)}`);
  assert.ok(r.durableUsers >= 1500 - 310, `users durable when the last was consumed: ${r.durableUsers}`);
});

test('at a low rate the interval rules: no busy round, so no more Redis calls', async () => {
  // 200 interactions at 50/s (4 s): 300 would take 6 s, so the 1 s timer comes first.
  const r = await pacedRun({ users: 200, perMs: 0.05, commitIntervalMs: 1000, minIntervalMs: 100 });
  assert.equal(r.busy, 0);
  assert.ok(r.rounds.interval >= 3 && r.rounds.interval <= 4, `rounds ${JSON.stringify(r.rounds)}`);
});

test('only interactions count: re-key markers reaching the user stage start no busy round', async () => {
  // The first busy test's rate, but header-only markers on the re-key topic (every user task
  // sends them to every re-key partition): no interaction, so nothing pays for a round.
  const marker = (i: number, t: number): RawRecord => ({
    topic: names.userRekey,
    partition: 0,
    offset: i,
    key: null,
    value: null,
    timestamp: t,
    headers: rekeyMarkerHeaders(0, t - 1000, false, null),
  });
  const r = await pacedRun({
    users: 3000,
    perMs: 4,
    commitIntervalMs: 1000,
    minIntervalMs: 100,
    record: marker,
  });
  assert.equal(r.busy, 0);
  assert.deepEqual(r.rounds, { interval: 0, dirty: 0, busy: 0 });
});

test('commitMinIntervalMs 0: rounds only at the interval, whatever the rate', async () => {
  // The first busy test's input: over in 750 ms, before the first 1 s round.
  const r = await pacedRun({ users: 3000, perMs: 4, commitIntervalMs: 1000, minIntervalMs: 0 });
  assert.equal(r.busy, 0);
  assert.deepEqual(r.rounds, { interval: 0, dirty: 0, busy: 0 });
  assert.equal(r.durableUsers, 0);
});

test('a producer flush failing while the broker is away is retried with the same cut: nothing drained is lost', async () => {
  let flushes = 0;
  // Two flush timeouts (records still queued in librdkafka), then the broker is back.
  const sink: SinkPort = {
    send() {},
    flush: async () => {
      if (++flushes <= 2) throw new Error('flush timed out');
    },
    disconnect: async () => {},
  };
  const r = await run(400, 50, sink);
  assert.ok(flushes >= 3, `flushes: ${flushes}`);
  // Each user is written once: a dropped cut would leave its users out of every later checkpoint.
  assert.equal(r.finalUsers, 400);
  assert.ok(r.pausedPolls > 0, 'consumption paused while the flush was failing');
  assert.ok(r.durableUsers >= 400 - 75, `users durable before stop: ${r.durableUsers}`);
});

test('a lost output (outputLost) stops the job before any checkpoint covers it', async () => {
  const fatal = Object.assign(
    (e: Error) => {
      fatal.calls++;
      fatal.errors.push(e.message);
    },
    { calls: 0, errors: [] as string[] },
  );
  const sink: SinkPort = {
    send() {},
    flush: async () => {
      throw Object.assign(new Error('delivery to thermostat-user-mind-state failed: Message timed out'), {
        outputLost: true,
      });
    },
    disconnect: async () => {},
  };
  const r = await run(400, 50, sink, fatal);
  assert.equal(fatal.calls, 1);
  assert.match(fatal.errors[0], /delivery .* failed/);
  assert.equal(r.commitsBeforeStop, 0, 'no checkpoint reached the store');
  assert.equal(r.finalUsers, 0, 'stop() after a fatal error writes nothing either');
  assert.equal(r.offsetCommits, 0);
});

/** Idle markers (marker.idle = true) the user stage sent down content-events, by source. */
function idleMarkers(sent: { topic: string; value: Buffer }[]): Map<number, number> {
  const bySource = new Map<number, number>();
  for (const r of sent) {
    if (r.topic !== names.contentEvents) continue;
    const ev = serde.decode(names.contentEvents, r.value) as {
      source: number;
      marker?: { idle: boolean } | null;
    };
    if (ev.marker?.idle) bySource.set(ev.source, (bySource.get(ev.source) ?? 0) + 1);
  }
  return bySource;
}

const total = (bySource: Map<number, number>): number => [...bySource.values()].reduce((a, b) => a + b, 0);

/**
 * A one-partition job (idle timeout 2 s) on virtual time whose user stage reads through the source
 * `makeUserSource` or `records` gives; `sent` collects what it produced.
 */
function idleJob<S extends SourcePort = FakeSource>(o: {
  records?: RawRecord[];
  makeUserSource?: (so: SourceOptions, clock: VirtualTime) => S;
  endOffset?: FakeSource['endOffset'];
}) {
  const sent: { topic: string; value: Buffer }[] = [];
  const sink: SinkPort = {
    send: (topic, _key, value) => void sent.push({ topic, value }),
    flush: async () => {},
    disconnect: async () => {},
  };
  const clock = new VirtualTime(28_333_334 * 60_000);
  const store = new MemoryCheckpointStore();
  const made = fakeJob<S>({
    clock,
    records: o.records,
    makeUserSource: o.makeUserSource && ((so) => o.makeUserSource!(so, clock)),
    store,
    writeBehind: new WriteBehind({ store, maxQueuedEntries: 1_000_000, clock }),
    sink,
    idleTimeoutMs: 2000,
    endOffset: o.endOffset,
  });
  return { ...made, clock, sent };
}

async function idleRun(endOffset?: FakeSource['endOffset']) {
  const { job, userSource, clock, sent } = idleJob({
    records: userRecords(10, 28_333_334 * 60_000),
    endOffset,
  });
  await job.start();
  // Advances the clock, then lets the user stage poll (and find nothing) a few more times.
  const step = async (ms: number) => {
    clock.advance(ms);
    const target = userSource().polls + 3;
    await runUntil(clock, () => userSource().polls >= target);
  };
  await step(0);
  const before = total(idleMarkers(sent));
  await step(2500); // past the idle timeout
  const after = total(idleMarkers(sent));
  await drive(clock, job.stop());
  return { before, after };
}

test('idleness: a partition at its end past the idle timeout is declared idle once the broker confirms the end', async () => {
  const r = await idleRun(async (tp) => (tp.topic === names.interactions ? 10 : 0));
  assert.equal(r.before, 0);
  assert.equal(r.after, 2, 'both input partitions (interactions, published) idle');
});

test('idleness: not while the broker cannot confirm the end (outage), nor while records are still coming', async () => {
  const down = await idleRun(async () => {
    throw new Error('Local: Broker transport failure');
  });
  assert.equal(down.after, 0, 'unreachable broker: nothing declared idle');
  const more = await idleRun(async () => 25); // the log grew past what was read
  assert.equal(more.after, 0, 'records beyond the end seen: not idle');
});

test('idleness without endOffset (no broker to ask): EOF + idle timeout, as before', async () => {
  const r = await idleRun(undefined);
  assert.equal(r.after, 2);
});

/**
 * A user-stage consumer under steady traffic: every poll waits `stepMs` of virtual time and hands
 * out the next interaction, so no poll ever comes back empty, while content-published (a catalogue
 * produced once) sits at its end from the start.
 */
class StreamingSource implements SourcePort {
  polls = 0;
  private next = 0;
  private readonly wait: (ms: number) => Promise<void>;
  constructor(
    private readonly o: SourceOptions,
    private readonly clock: VirtualTime,
    private readonly stepMs: number,
  ) {
    this.wait = sleepOn(clock);
  }
  async connect(): Promise<void> {
    await this.o.onAssign(this.o.topics.map((topic) => ({ topic, partition: 0 })));
  }
  async poll(): Promise<RawRecord[]> {
    if (this.polls++ === 0) this.o.onEof?.({ topic: names.published, partition: 0 }, 0);
    await this.wait(this.stepMs);
    const t = this.clock.now();
    return [interactionAt(this.next++, t, t)];
  }
  async commit(): Promise<void> {}
  lag(): number {
    return 0;
  }
  async endOffset(tp: { topic: string; partition: number }): Promise<number> {
    return tp.topic === names.interactions ? this.next : 0;
  }
  pause(): void {}
  resume(): void {}
  async disconnect(): Promise<void> {}
}

test('idleness: a quiet partition is declared idle while the consumer gets records of its other partitions in every poll', async () => {
  const { job, userSource, clock, sent } = idleJob({
    makeUserSource: (so, time) => new StreamingSource(so, time, 100),
  });
  await job.start();
  // 40 polls of 100 ms each: twice the idle timeout, every poll with a record.
  await runUntil(clock, () => userSource().polls >= 40);
  await drive(clock, job.stop());
  // Only content-published is idle (its watermark then no longer holds the content stage);
  // user-interactions, with a record in every poll, stays active.
  assert.deepEqual([...idleMarkers(sent)], [[sourceId(SOURCE_TOPIC.published, 0), 1]]);
});

test('a catch-up of many ticks closes in backlog steps between polls, with the in-memory tick records', async () => {
  const MIN = 60_000;
  const T = 100 * 60 * MIN; // the first interaction
  const agents = { content: { maxHeatingAgeMs: 60 * MIN } };
  // The reference, and the content-events records the content stage reads: the in-memory driver
  // on a catalogue published over the 10 hours before the first interaction.
  const d = await createDriver({ partitions: 1, tickMs: MIN, seed: 1, agents });
  const catalogue = Array.from({ length: 20 }, (_, i) =>
    publication({ content_id: `c${i}`, published_at: T - 600 * MIN + i * 30 * MIN }),
  );
  await d.pipeInput('content-published', catalogue);
  await d.pipeInput('user-interactions', [interaction({ user_id: 'u1', content_id: 'c19', event_time: T })]);
  await d.advanceEventTime(T + 2 * MIN);
  const ticks = (inputs: AllocatorInput[]) =>
    inputs.map((i) => `${i.tick}/${i.chunk}/${i.chunks}: ${i.requests.map((q) => q.content_id).join(',')}`);
  const expected = ticks(d.readOutput<AllocatorInput>(d.names.allocatorInput));
  assert.ok(expected.length > 500, `ticks of the history: ${expected.length}`);
  const events: RawRecord[] = d.broker
    .all(names.contentEvents)
    .map((r) => ({ ...r, topic: names.contentEvents }));

  const sent: Buffer[] = [];
  const sink: SinkPort = {
    send: (topic, _key, value) => void (topic === names.allocatorInput && sent.push(value)),
    flush: async () => {},
    disconnect: async () => {},
  };
  const clock = new VirtualTime(T);
  const store = new MemoryCheckpointStore();
  // Steps of 30 ticks + requests: the job must run ≈ 30 of them after the last record it polls.
  const { job } = fakeJob({
    clock,
    records: events,
    topic: names.contentEvents,
    settings: singlePartitionSettings(names, { agents: parseAgentConfig(agents), contentStepWork: 30 }),
    store,
    writeBehind: new WriteBehind({ store, maxQueuedEntries: 1_000_000, clock }),
    sink,
    idleTimeoutMs: 3_600_000,
  });
  await job.start();
  await runUntil(clock, () => sent.length >= expected.length);
  await drive(clock, job.stop());
  assert.deepEqual(ticks(sent.map((b) => serde.decode(names.allocatorInput, b) as AllocatorInput)), expected);
});

test('an instance that lost its partitions acquires none while it stops: the next owner is not fenced', async () => {
  const t0 = 28_333_334 * 60_000;
  const records = userRecords(30, t0);
  const store = new MemoryCheckpointStore();
  const clock = new VirtualTime(t0);
  const writeBehind = new WriteBehind({ store, maxQueuedEntries: 1_000_000, clock });
  const made = fakeJob({
    clock,
    records,
    makeUserSource: (so) => new RejoinWhileLeavingSource(so, records, clock),
    store,
    writeBehind,
    sink: okSink,
    idleTimeoutMs: 3_600_000,
  });
  await made.job.start();
  const source = made.userSource();
  await runUntil(clock, () => source.drained);
  // While this instance was frozen, another member was given the task and acquired it.
  const user = { stage: 'user', partition: 0 };
  const { epoch } = await store.acquire(user);
  await source.revoke(true); // frozen past its session: on resume the assignment is reported lost
  await drive(clock, made.job.stop());
  assert.equal(store.inspect(user)?.epoch, epoch, 'the stopping instance bumped no epoch');
  const r = await store.commit(user, { epoch, seq: 1, entries: [], meta: Buffer.from('next owner') });
  assert.equal(r.duplicate, false, "the next owner's checkpoint is applied");
});

/**
 * A checkpoint round cuts the user task after 20 records (draining their users from the cache) and
 * waits for the producer; 20 more records are applied; the group then revokes the partition and
 * the revocation checkpoints the task and gives it up. `commitHeld`: the revocation's Redis commit
 * is still in flight when the round's producer flush ends. Returns what the next owner restores.
 */
async function revokeDuringRound(commitHeld: boolean): Promise<{ next: number; users: number }> {
  const t0 = 28_333_334 * 60_000;
  const all = userRecords(40, t0);
  const records = all.slice(0, 20);
  const store = new MemoryCheckpointStore();
  let releaseCommits = () => {};
  const commitsHeld = new Promise<void>((r) => (releaseCommits = r));
  if (!commitHeld) releaseCommits();
  const commit = store.commit.bind(store);
  store.commit = async (task, req) => {
    await commitsHeld;
    return commit(task, req);
  };
  const clock = new VirtualTime(t0);
  const writeBehind = new WriteBehind({ store, maxQueuedEntries: 1_000_000, clock });
  // The first producer flush (the round's) ends when the test says so; later ones at once.
  let endFirstFlush = () => {};
  const firstFlush = new Promise<void>((r) => (endFirstFlush = r));
  let flushes = 0;
  const sink: SinkPort = {
    send() {},
    flush: () => (++flushes === 1 ? firstFlush : Promise.resolve()),
    disconnect: async () => {},
  };
  const made = fakeJob({ clock, records, store, writeBehind, sink, idleTimeoutMs: 3_600_000 });
  await made.job.start();
  const source = made.userSource();
  await runUntil(clock, () => source.drained);
  const round = made.job.checkpointAll();
  await runUntil(clock, () => flushes === 1);
  records.push(...all.slice(20));
  await runUntil(clock, () => source.drained);
  const revoked = source.revoke();
  await settle();
  endFirstFlush();
  await settle();
  releaseCommits();
  await drive(clock, Promise.all([round, revoked]));
  await drive(clock, writeBehind.flush());
  const user = { stage: 'user', partition: 0 };
  const stored = await store.load(
    user,
    'user',
    all.map((r) => r.key!),
  );
  const meta = JSON.parse(store.inspect(user)!.meta!.toString()) as { ui: { next: number } };
  await drive(clock, made.job.stop());
  return { next: meta.ui.next, users: stored.size };
}

test('a revocation while a checkpoint round waits for the producer: the round is written first, so nothing it drained is lost', async () => {
  // Before, the revocation's cut was written first and the round, finding the task given up,
  // skipped its own: positions after all 40 records, without the first 20 users.
  assert.deepEqual(await revokeDuringRound(false), { next: 40, users: 40 });
});

test('a revocation while a checkpoint round waits for the producer: the stored positions are those of the later cut', async () => {
  // Before, the round's older cut was handed over after the revocation's, whose commit was in
  // flight: Redis ended with the state after 40 records and the positions after 20 (the next
  // owner applies 20 records twice: a content task counts them twice).
  assert.deepEqual(await revokeDuringRound(true), { next: 40, users: 40 });
});
