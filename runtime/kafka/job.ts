// The graph on Kafka: one consumer group per stage (like Kafka Streams' sub-topologies), tasks
// created on partition assignment (epoch acquired → state restored → consumer positioned at the
// checkpointed offsets) and checkpointed on revocation. Each commit interval:
//   1. every task's changelog is flushed (latest version per changed key) and a snapshot is cut —
//      synchronously, so state, metadata and positions describe the same instant;
//   2. the producer is flushed: every output caused by the snapshot's input is durable in Kafka;
//   3. the snapshot is handed to write-behind (one atomic, fenced Redis call per task);
//   4. once Redis confirms, the source offsets are committed to Kafka (for lag monitoring only:
//      restore always seeks to the offsets stored with the state).
// Kafka offsets therefore never run ahead of Redis state, and after kill -9 the job resumes from
// the last checkpoint and re-emits the same outputs with the same ids.
import type { AgentConfig } from '../../agents/config.js';
import type { Clock } from '../../core/clock.js';
import { retry } from '../../core/retry.js';
import { sleepOn, systemTimers, type Timers } from '../../core/timers.js';
import { LOG_EVENTS, type Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { CheckpointStore, SourceOffset } from '../../state/store.js';
import { recordCacheGauges } from '../../state/versioned-cache.js';
import type { WriteBehind } from '../../state/write-behind.js';
import { IdleSources } from '../idle-sources.js';
import { createTask, type GraphSettings, type OwnedTask } from '../../pipelines/task-factory.js';
import { hasBacklog, runBacklogStep } from '../backlog.js';
import { parkedRecords, sideOutputs, TaskRunner, type RawRecord, type RecordSerde } from '../task-runner.js';
import type { OutRecord, TaskId } from '../../pipelines/task.js';
import { consumerGroup, tpKey, type StageName } from '../../pipelines/topology.js';

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: number;
}

/** What the job needs from a Kafka consumer (io/kafka provides it). */
export interface SourcePort {
  connect(): Promise<void>;
  /** Up to `max` records, waiting at most `timeoutMs`. */
  poll(max: number, timeoutMs: number): Promise<RawRecord[]>;
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /** Records behind the partition ends, summed over this consumer's assignment. */
  lag(): number;
  /**
   * The partition's end offset, asked of the broker (a round trip); rejects when the broker does
   * not answer. Confirms idleness (`markIdle`); optional: without it, idleness is EOF + time only.
   */
  endOffset?(tp: { topic: string; partition: number }): Promise<number>;
  pause(tps: readonly { topic: string; partition: number }[]): void;
  resume(tps: readonly { topic: string; partition: number }[]): void;
  disconnect(): Promise<void>;
}

export interface SourceOptions {
  groupId: string;
  topics: string[];
  /** Returns where to start reading each assigned partition. */
  onAssign(tps: { topic: string; partition: number }[]): Promise<TopicPartitionOffset[]>;
  /** `lost`: the group already gave the partitions to another member: drop, do not write. */
  onRevoke(tps: { topic: string; partition: number }[], lost?: boolean): Promise<void>;
  /** The consumer reached the end of a partition; `end` is the next offset to be written. */
  onEof?(tp: { topic: string; partition: number }, end: number): void;
}

/** What the job needs from a Kafka producer. */
export interface SinkPort {
  send(
    topic: string,
    key: string | null,
    value: Buffer,
    opts?: { partition?: number; headers?: Record<string, string> },
  ): void;
  /**
   * Resolves once every record sent so far is acknowledged. Rejects with an error whose
   * `outputLost` is true when a record was given up (io/kafka.ts DeliveryError); any other
   * rejection (a timeout while the broker is away) leaves the records queued for delivery.
   */
  flush(): Promise<void>;
  disconnect(): Promise<void>;
}

/** Backoff of a batch whose state load failed (Redis down, paused or slow). */
const BATCH_BACKOFF = { initialMs: 100, maxMs: 2000 };
/** Backoff of a producer flush that failed (broker unreachable): the same cut is retried. */
const FLUSH_BACKOFF = { initialMs: 500, maxMs: 5000 };
/** Wait after a failed poll. */
const POLL_RETRY_MS = 200;

/** A record the producer gave up on: the outputs of the current cut cannot all reach Kafka. */
const isOutputLost = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && (e as { outputLost?: unknown }).outputLost === true;

export interface KafkaJobDeps {
  settings: GraphSettings;
  agents: AgentConfig;
  serde: RecordSerde;
  store: CheckpointStore;
  writeBehind: WriteBehind;
  createSource(opts: SourceOptions): SourcePort;
  sink: SinkPort;
  clock: Clock;
  /** The commit interval, retry backoffs and poll pauses (default real timers); tests use virtual time. */
  timers?: Timers;
  metrics: Metrics;
  log: Logger;
  appId: string;
  batchSize: number;
  commitIntervalMs: number;
  idleTimeoutMs: number;
  /**
   * Config state.maxDirtyBeforeCheckpoint: a task whose caches hold more dirty entries than this
   * triggers a checkpoint round before the commit interval ends (default 20 000).
   */
  maxDirtyBeforeCheckpoint?: number;
  /**
   * Config redis.maxParkedRecords: a task holding more records than this back while Redis cannot
   * load state pauses its stage's fetching (default 50 000).
   */
  maxParkedRecords?: number;
  /**
   * An output was lost (the producer gave up on a record): the in-memory state is past outputs
   * that will never be written, so this process must not checkpoint again. The only safe way on
   * is a restart from the last durable checkpoint, whose replay re-emits the same records with
   * the same ids. Default: log and exit the process (code 70); the orchestrator restarts it.
   */
  onFatal?: (err: Error) => void;
}

/** Default of `maxDirtyBeforeCheckpoint` (core/config.ts state.maxDirtyBeforeCheckpoint). */
export const DEFAULT_MAX_DIRTY_BEFORE_CHECKPOINT = 20_000;
/** Default of `maxParkedRecords` (core/config.ts redis.maxParkedRecords). */
export const DEFAULT_MAX_PARKED_RECORDS = 50_000;

/**
 * Whether a checkpoint round should start now, before the commit interval ends: some task has more
 * dirty entries than the bound. A catch-up burst (tens of thousands of records per second) could
 * otherwise put ~150k entries in one task's checkpoint, whose final atomic apply outlasts the 2 s
 * Redis command timeout: it times out, is retried merged with the next one, which is larger still.
 * Never while a round is running, nor while the process is held after a stall (see `start`).
 */
export function earlyCheckpointDue(o: {
  dirtyPerTask: Iterable<number>;
  max: number;
  roundRunning: boolean;
  held: boolean;
}): boolean {
  if (o.roundRunning || o.held) return false;
  for (const d of o.dirtyPerTask) if (d > o.max) return true;
  return false;
}

interface StageWorker {
  stage: StageName;
  source: SourcePort;
  tasks: Map<number, OwnedTask>;
  /** Partitions at their end, and which are declared idle. */
  idle: IdleSources;
  paused: boolean;
  /** The group gave this member its first assignment (possibly empty) and its tasks are restored. */
  joined: boolean;
}

/** A topic partition's key in the maps below. */
const tpOf = (t: { topic: string; partition: number }): string => tpKey(t.topic, t.partition);

export class KafkaJob {
  private readonly workers: StageWorker[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private commitTimer: unknown = null;
  private checkpointing: Promise<void> | null = null;
  private readonly runner: TaskRunner;
  private assignedCount = 0;
  private readonly offsetCommits = new Set<Promise<void>>();
  /** Durable offsets not yet committed, per stage consumer, and the consumers committing now. */
  private readonly pendingCommits = new Map<StageWorker, Map<string, TopicPartitionOffset>>();
  private readonly committing = new Set<StageWorker>();
  private restoring = 0;
  /** Wall time of the last commit-timer round, and until when early rounds are held after a stall. */
  private lastRoundAt: number;
  private holdUntil = 0;
  private earlyRounds = 0;
  /** A producer flush failed and is being retried: consumption pauses until it succeeds. */
  private outputStalled = false;
  private fatalError: Error | null = null;
  private readonly timers: Timers;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: KafkaJobDeps) {
    const { sink } = deps;
    this.timers = deps.timers ?? systemTimers;
    this.sleep = sleepOn(this.timers);
    this.lastRoundAt = deps.clock.now();
    this.runner = new TaskRunner(
      deps.serde,
      {
        send: (r: OutRecord, bytes: Buffer) =>
          sink.send(r.topic, r.key, bytes, { partition: r.partition, headers: r.headers }),
        ...sideOutputs({
          lateTopic: deps.settings.names.late,
          maxPayloadBytes: deps.settings.maxRecordBytes,
          now: () => deps.clock.now(),
          write: (topic, key, value, headers) => sink.send(topic, key, value, { headers }),
        }),
      },
      deps.metrics,
    );
  }

  /**
   * Ready once every stage's consumer has joined its group and restored what it was given. A
   * member given no partition of a stage is ready too: with several instances only one holds the
   * allocator's single partition, and the others must still count as ready (rolling updates).
   */
  get ready(): boolean {
    return this.notReadyReason() === null;
  }

  /** Why the job is not ready yet (the stages still joining or restoring), or null once it is. */
  notReadyReason(): string | null {
    if (!this.running) return 'not started';
    const joining = this.workers.filter((w) => !w.joined).map((w) => w.stage);
    if (joining.length > 0) return `stages not yet joined to their consumer groups: ${joining.join(', ')}`;
    if (this.restoring > 0) return 'restoring the state of newly assigned partitions';
    return null;
  }

  get partitionsAssigned(): number {
    return this.assignedCount;
  }

  async start(): Promise<void> {
    const n = this.deps.settings.names;
    const stages: { stage: StageName; topics: string[] }[] = [
      { stage: 'user', topics: [n.interactions, n.published, n.userRekey] },
      { stage: 'content', topics: [n.contentEvents] },
      { stage: 'allocator', topics: [n.allocatorInput, n.objectives] },
    ];
    this.running = true;
    for (const { stage, topics } of stages) {
      const worker: StageWorker = {
        stage,
        source: this.deps.createSource({
          groupId: consumerGroup(this.deps.appId, stage),
          topics,
          onAssign: (tps) => this.onAssign(worker, tps),
          onRevoke: (tps, lost) => this.onRevoke(worker, tps, lost ?? false),
          onEof: (tp, end) => worker.idle.reachedEnd(tp.topic, tp.partition, end),
        }),
        tasks: new Map(),
        idle: new IdleSources(this.deps.clock, this.deps.idleTimeoutMs),
        paused: false,
        joined: false,
      };
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((w) => w.source.connect()));
    this.loops = this.workers.map((w) => this.loop(w));
    this.lastRoundAt = this.deps.clock.now();
    this.commitTimer = this.timers.setInterval(() => {
      // A process frozen (SIGSTOP, VM pause, long GC) longer than a few intervals may have lost its
      // partitions meanwhile without knowing yet: skip one round so the consumers can learn it
      // (lost assignment → dropped tasks) before this instance writes changelogs or checkpoints.
      const now = this.deps.clock.now();
      const gap = now - this.lastRoundAt;
      this.lastRoundAt = now;
      if (gap > this.stallLimitMs) {
        // Early (dirty-bound) rounds wait too, until the next regular round.
        this.holdUntil = now + this.deps.commitIntervalMs;
        this.deps.log.warn(
          { stalledMs: gap },
          'process stalled: skipping one checkpoint round until group membership is confirmed',
        );
        return;
      }
      void this.checkpointAll().catch((e) => this.deps.log.error({ err: e }, LOG_EVENTS.checkpointFailed));
    }, this.deps.commitIntervalMs);
    this.deps.log.info({ event: LOG_EVENTS.started }, 'thermostat job started');
  }

  private get stallLimitMs(): number {
    return Math.max(3 * this.deps.commitIntervalMs, 3000);
  }

  /** Early checkpoint rounds started by the dirty bound so far (tests, logs). */
  get earlyCheckpoints(): number {
    return this.earlyRounds;
  }

  /** After a batch: starts a checkpoint round at once if a task passed the dirty-entry bound. */
  private maybeCheckpointEarly(): void {
    const now = this.deps.clock.now();
    const due = earlyCheckpointDue({
      dirtyPerTask: this.dirtyPerTask(),
      max: this.deps.maxDirtyBeforeCheckpoint ?? DEFAULT_MAX_DIRTY_BEFORE_CHECKPOINT,
      roundRunning: this.checkpointing !== null,
      // A frozen process must not write before the timer confirmed it is not a zombie.
      held: now < this.holdUntil || now - this.lastRoundAt > this.stallLimitMs,
    });
    if (!due) return;
    this.earlyRounds++;
    this.deps.log.debug({ earlyRounds: this.earlyRounds }, 'dirty entries over the bound: early checkpoint');
    void this.checkpointAll().catch((e) => this.deps.log.error({ err: e }, LOG_EVENTS.checkpointFailed));
  }

  private *dirtyPerTask(): Generator<number> {
    for (const w of this.workers)
      for (const t of w.tasks.values()) {
        if (parkedRecords(t) > 0) continue; // no cut until its parked records are applied
        let n = 0;
        for (const c of t.caches) n += c.stats().dirty;
        yield n;
      }
  }

  /** The allocator stage's single task is partition 0 of its topics; other stages: one task per partition index. */
  private taskPartition(worker: StageWorker, tp: { topic: string; partition: number }): number {
    return worker.stage === 'allocator' ? 0 : tp.partition;
  }

  private async onAssign(
    worker: StageWorker,
    tps: { topic: string; partition: number }[],
  ): Promise<TopicPartitionOffset[]> {
    this.restoring++;
    try {
      const indices = [...new Set(tps.map((tp) => this.taskPartition(worker, tp)))].sort((a, b) => a - b);
      for (const p of indices) {
        if (worker.tasks.has(p)) continue;
        const id: TaskId = { stage: worker.stage, partition: p };
        const owned = await createTask(id, this.deps.settings, this.deps.store, (t) =>
          this.deps.writeBehind.acquire(t),
        );
        worker.tasks.set(p, owned);
        // Before any of its records is fetched: the previous owner's idleness is not taken over.
        this.runner.resumed(owned);
      }
      this.assignedCount += tps.length;
      this.deps.metrics.assignedPartitions.set({ stage: worker.stage }, worker.tasks.size);
      this.deps.log.info(
        { event: LOG_EVENTS.partitionsAssigned, stage: worker.stage, partitions: tps.map(tpOf) },
        'partitions assigned',
      );
      const wanted = new Set(tps.map(tpOf));
      const out: TopicPartitionOffset[] = [];
      for (const p of indices) {
        for (const pos of worker.tasks.get(p)!.task.positions()) if (wanted.has(tpOf(pos))) out.push(pos);
      }
      worker.joined = true;
      return out;
    } finally {
      this.restoring--;
    }
  }

  private async onRevoke(
    worker: StageWorker,
    tps: { topic: string; partition: number }[],
    lost: boolean,
  ): Promise<void> {
    const indices = [...new Set(tps.map((tp) => this.taskPartition(worker, tp)))];
    const revoked = indices.map((p) => worker.tasks.get(p)).filter((t): t is OwnedTask => t !== undefined);
    // A lost assignment belongs to another member already: no checkpoint and no changelog (a
    // zombie's stale changelog records would land after the new owner's). The new owner replays
    // from the last durable checkpoint.
    if (!lost) {
      await this.checkpointTasks(revoked).catch((e) =>
        this.deps.log.warn({ err: e, stage: worker.stage }, 'checkpoint on revoke failed'),
      );
      await Promise.all(revoked.map((t) => this.deps.writeBehind.flush(t.task.id).catch(() => undefined)));
    } else
      this.deps.log.warn(
        { stage: worker.stage, partitions: tps.map(tpOf) },
        'partitions lost (session expired): dropped without checkpoint',
      );
    for (const t of revoked) {
      this.deps.writeBehind.release(t.task.id);
      worker.tasks.delete(t.task.id.partition);
    }
    for (const tp of tps) worker.idle.forget(tp.topic, tp.partition);
    this.assignedCount -= tps.length;
    this.deps.metrics.assignedPartitions.set({ stage: worker.stage }, worker.tasks.size);
    this.deps.log.info(
      { event: LOG_EVENTS.partitionsRevoked, stage: worker.stage, partitions: tps.map(tpOf) },
      'partitions revoked',
    );
  }

  private async loop(worker: StageWorker): Promise<void> {
    const { metrics, batchSize } = this.deps;
    while (this.running) {
      this.applyBackpressure(worker);
      let records: RawRecord[];
      try {
        // Paused partitions return nothing, but polling goes on: it serves rebalances and keeps
        // the member in its group (a consumer that stops polling is evicted after max.poll.interval.ms).
        records = await worker.source.poll(batchSize, 100);
      } catch (e) {
        this.deps.log.warn({ err: e, stage: worker.stage }, 'poll failed; retrying');
        await this.sleep(POLL_RETRY_MS);
        continue;
      }
      if (!this.running) break;
      const started = performance.now();
      const ran = records.length > 0 ? await this.runPolled(worker, records) : undefined;
      // After every poll, with records or without: parked batches whose state has loaded, one
      // backlog step, and idleness (under steady traffic every poll brings records of some
      // partition, and a quiet one, a catalogue topic published once, must still turn idle).
      await this.resumeParked(worker, ran);
      await this.runBacklogs(worker);
      if (ran)
        metrics.processingLatency.observe({ stage: worker.stage }, (performance.now() - started) / 1000);
      await this.markIdle(worker);
      if (!ran && worker.paused) await this.sleep(50);
    }
  }

  /** Runs a poll's records through their tasks; the tasks that got a batch, by partition. */
  private async runPolled(
    worker: StageWorker,
    records: RawRecord[],
  ): Promise<Map<number, [string, RawRecord[]][]>> {
    const { metrics } = this.deps;
    // Group by partition, keeping each partition's offset order.
    const groups = new Map<string, RawRecord[]>();
    for (const r of records) {
      const k = tpOf(r);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = []));
      g.push(r);
    }
    // Tasks run their batches concurrently, each task's own batches in order: a batch's state
    // load (a Redis round trip for keys not resident) then overlaps with the other tasks' CPU
    // work instead of being awaited once per partition in turn. Tasks share no state; each
    // task's outputs keep their order (the content stage orders its input canonically anyway).
    const byTask = new Map<number, [string, RawRecord[]][]>();
    for (const [k, batch] of groups) {
      const p = this.taskPartition(worker, batch[0]);
      let list = byTask.get(p);
      if (!list) byTask.set(p, (list = []));
      list.push([k, batch]);
    }
    const runTask = async (list: [string, RawRecord[]][]): Promise<void> => {
      for (const [, batch] of list) {
        const owned = worker.tasks.get(this.taskPartition(worker, batch[0]));
        if (!owned) continue; // revoked while the batch was in flight: the next owner reprocesses it
        const { topic, partition } = batch[0];
        if (worker.idle.received(topic, partition, batch[batch.length - 1].offset + 1))
          this.runner.setIdle(owned, topic, partition, false);
        if (!(await this.runBatchRetrying(worker, owned, batch))) continue;
        this.maybeCheckpointEarly();
        const lag = this.deps.clock.now() - batch[batch.length - 1].timestamp;
        if (lag >= 0) metrics.eventLatency.observe({ stage: worker.stage }, lag / 1000);
      }
    };
    if (byTask.size === 1) await runTask(byTask.values().next().value!);
    else await Promise.all([...byTask.values()].map(runTask));
    return byTask;
  }

  /**
   * Runs one partition's batch. A retriable failure (the cache could not load the batch's keys:
   * Redis down, paused or slow) happens before the task processed anything, so the same batch is
   * run again after a backoff: the job waits for Redis instead of crashing (a rejection escaping
   * this loop ended the process). Gives up (false) when the job stops or the task was revoked or
   * fenced meanwhile: the next owner re-reads the batch from its checkpoint. A retried batch with
   * poison records sends them to the DLQ again (same bytes and source coordinates).
   */
  private async runBatchRetrying(
    worker: StageWorker,
    owned: OwnedTask,
    batch: RawRecord[],
  ): Promise<boolean> {
    const done = await retry(
      async () => {
        await this.runner.run(owned, batch[0].topic, batch[0].partition, batch);
        return true;
      },
      {
        backoff: BATCH_BACKOFF,
        onRetry: (e, attempt) =>
          this.deps.log.warn(
            { err: e, stage: worker.stage, partition: owned.task.id.partition, attempt },
            'batch failed (state load); retrying',
          ),
        stop: () => !this.running || worker.tasks.get(owned.task.id.partition) !== owned,
        wait: this.sleep,
      },
    );
    return done === true;
  }

  /**
   * A slow Redis (checkpoint queue over its bound) pauses fetching on every assigned partition;
   * the records stay in Kafka and memory stays bounded. Re-applied each round while paused, so
   * partitions assigned meanwhile are paused too.
   */
  private applyBackpressure(worker: StageWorker): void {
    const want = this.deps.writeBehind.backpressure() || this.outputStalled || this.overParked(worker);
    if (!want && !worker.paused) return;
    const tps = [...worker.tasks.values()].flatMap((t) =>
      t.task.positions().map((p) => ({ topic: p.topic, partition: p.partition })),
    );
    try {
      if (want) worker.source.pause(tps);
      else worker.source.resume(tps);
    } catch (e) {
      this.deps.log.warn(
        { err: e, stage: worker.stage },
        'pause/resume failed (rebalance in progress?); retrying next round',
      );
      return;
    }
    if (want === worker.paused) return;
    worker.paused = want;
    this.deps.log.warn(
      { stage: worker.stage, paused: want },
      want ? 'checkpoint queue full: pausing consumption' : 'checkpoint queue drained: resuming',
    );
  }

  /** Some task of the stage holds more records back than redis.maxParkedRecords (Redis cannot load state). */
  private overParked(worker: StageWorker): boolean {
    const max = this.deps.maxParkedRecords ?? DEFAULT_MAX_PARKED_RECORDS;
    let total = 0;
    let over = false;
    for (const t of worker.tasks.values()) {
      const n = parkedRecords(t);
      total += n;
      if (n > max) over = true;
    }
    this.deps.metrics.parkedRecords.set({ stage: worker.stage }, total);
    return over;
  }

  /** Records held back by tasks of every stage while Redis cannot load state. */
  parkedRecords(): number {
    let n = 0;
    for (const w of this.workers) for (const t of w.tasks.values()) n += parkedRecords(t);
    return n;
  }

  /**
   * Retries the parked work of tasks that got no batch this round (`skip`: the tasks that did;
   * feeding them already retried): applied as soon as a state load succeeds.
   */
  private async resumeParked(worker: StageWorker, skip?: ReadonlyMap<number, unknown>): Promise<void> {
    for (const [p, owned] of worker.tasks) {
      if (skip?.has(p) || parkedRecords(owned) === 0) continue;
      await this.runner
        .resumeHeld(owned)
        .catch((e) =>
          this.deps.log.warn({ err: e, stage: worker.stage, partition: p }, 'resuming parked records failed'),
        );
    }
  }

  /** One backlog step of each task that has one (a long catch-up of ticks, closed in steps). */
  private async runBacklogs(worker: StageWorker): Promise<void> {
    for (const [p, owned] of worker.tasks) {
      if (!hasBacklog(owned)) continue;
      const current = () => this.running && worker.tasks.get(p) === owned;
      await runBacklogStep(owned, this.runner.collector(worker.stage), current).catch((e) =>
        this.deps.log.warn({ err: e, stage: worker.stage, partition: p }, 'backlog step failed'),
      );
    }
  }

  /**
   * Declares partitions idle that sat at their end for the idle timeout, whatever the stage's other
   * partitions are doing (called after every poll). "At its end" is only true
   * while the broker says so: during a broker outage or restart every partition looks idle (no
   * records arrive), and records produced meanwhile would be late once it is back. So the end is
   * confirmed with the broker first; if it does not answer, the idle clock restarts.
   */
  private async markIdle(worker: StageWorker): Promise<void> {
    if (worker.stage !== 'user') return;
    for (const st of worker.idle.entries()) {
      if (!worker.idle.due(st)) continue;
      const { topic, partition } = st;
      const owned = worker.tasks.get(partition);
      if (!owned) continue;
      if (worker.source.endOffset) {
        const end = await worker.source.endOffset({ topic, partition }).catch(() => null);
        // Revoked, woken up or moved on while the broker was asked: nothing to declare.
        if (!worker.idle.current(st) || worker.tasks.get(partition) !== owned) continue;
        if (end === null || end > st.end) {
          worker.idle.restart(st); // unreachable, or records are coming: not idle yet
          continue;
        }
      }
      st.idle = true;
      this.runner.setIdle(owned, topic, partition, true);
    }
  }

  /**
   * A heartbeat from the embedding process (the simulator's clock, as ThermostatTestDriver's
   * advanceEventTime): no input record with event time below `t` follows, so every stage-1 task
   * of this instance moves its watermark to `t` (records at exactly `t` are still applied by
   * every stage) and sends its markers (audience included) down content-events; resolves once
   * they are in Kafka. The input contract has no heartbeat record, and idleness never releases
   * past what the sources promised, so this is how a closed-loop caller closes the last ticks.
   * Call it only once stage 1 has consumed its input (committed offsets at the ends): a record
   * below `t` still unread would then be late.
   */
  async advanceEventTime(t: number): Promise<void> {
    for (const w of this.workers) for (const owned of w.tasks.values()) this.runner.punctuate(owned, t);
    await this.deps.sink.flush();
  }

  /** Settles when the checkpoint round in flight (if any) has handed its cut to write-behind. */
  async roundSettled(): Promise<void> {
    await this.checkpointing?.catch(() => undefined);
  }

  /** One checkpoint round over every task (at most one round at a time). */
  async checkpointAll(): Promise<void> {
    for (const w of this.workers) this.deps.metrics.consumerLag.set({ stage: w.stage }, w.source.lag());
    recordCacheGauges(
      this.deps.metrics,
      this.workers.flatMap((w) => [...w.tasks.values()].flatMap((t) => t.caches)),
    );
    if (this.checkpointing) return this.checkpointing;
    const tasks = this.workers.flatMap((w) => [...w.tasks.values()]);
    this.checkpointing = this.checkpointTasks(tasks).finally(() => {
      this.checkpointing = null;
    });
    return this.checkpointing;
  }

  private async checkpointTasks(all: OwnedTask[]): Promise<void> {
    // A task with parked records is past outputs it has not sent: no cut until they are applied
    // (Redis, which parked them, could not take the checkpoint anyway). A revoked one is dropped
    // without; its next owner replays from the last checkpoint.
    const tasks = all.filter((t) => parkedRecords(t) === 0);
    if (tasks.length === 0) return;
    const { sink, writeBehind } = this.deps;
    // 1. Cut: changelogs and snapshots in one synchronous section.
    const snaps = tasks.map((owned) => {
      this.runner.flushChangelog(owned);
      return { owned, snap: owned.task.snapshot() };
    });
    // 2. Outputs of everything before the cut are durable in Kafka. The cut is already taken
    // (dirty entries drained, changelog sent): giving up on it would leave its entries out of
    // every later checkpoint while the next cut's offsets cover them, so a flush that fails
    // because the broker is away is retried with the same cut until it succeeds. Meanwhile no
    // other round starts (this one is in flight) and consumption is paused (`applyBackpressure`).
    await retry(() => sink.flush(), {
      backoff: FLUSH_BACKOFF,
      retriable: (e, attempt) => {
        if (isOutputLost(e)) {
          this.fatal(e as Error);
          return false;
        }
        // Stopping: a few tries, then the process exits and the next owner replays the cut.
        return this.running || attempt < 2;
      },
      onRetry: (e, attempt) => {
        this.outputStalled = true;
        this.deps.log.warn(
          { err: e, attempt },
          'producer flush failed (broker unreachable?); retrying the same checkpoint cut',
        );
      },
      wait: this.sleep,
    });
    this.outputStalled = false;
    // 3. Hand over to write-behind: one atomic, fenced Redis call per task (not for a task
    // revoked or fenced while the flush waited: its new owner replays from its checkpoint).
    for (const { owned, snap } of snaps) {
      const worker = this.workers.find((w) => w.stage === owned.task.id.stage);
      if (worker?.tasks.get(owned.task.id.partition) !== owned) continue;
      const offsets: SourceOffset[] = snap.positions.map((p) => ({
        topic: p.topic,
        partition: p.partition,
        offset: String(p.offset),
      }));
      writeBehind.submit(owned.task.id, {
        entries: snap.entries,
        meta: Buffer.from(snap.meta),
        offsets,
        stores: owned.caches,
      });
    }
  }

  private fatal(e: Error): void {
    if (this.fatalError) return;
    this.fatalError = e;
    this.running = false; // no more batches and no more checkpoints from this process
    if (this.commitTimer !== null) this.timers.clearInterval(this.commitTimer);
    this.deps.log.fatal(
      { err: e },
      'an output record was lost: exiting to restart from the last durable checkpoint',
    );
    if (this.deps.onFatal) this.deps.onFatal(e);
    else process.exit(70);
  }

  /** Called by write-behind once a checkpoint is in Redis: now Kafka may commit its offsets. */
  async onDurable(
    task: { stage: string; partition: number },
    offsets: readonly SourceOffset[],
  ): Promise<void> {
    const worker = this.workers.find((w) => w.stage === task.stage);
    if (!worker || !worker.tasks.has(task.partition)) return;
    // One commit in flight per consumer, carrying every task's latest durable offsets: a commit
    // is a broker round trip on libuv's 4-thread pool, which the stages' blocking polls share, and
    // one commit per task per round (13 with 6 partitions) queued in front of the polls.
    let pending = this.pendingCommits.get(worker);
    if (!pending) this.pendingCommits.set(worker, (pending = new Map()));
    for (const o of offsets)
      pending.set(tpOf(o), { topic: o.topic, partition: o.partition, offset: Number(o.offset) });
    if (this.committing.has(worker)) return;
    this.committing.add(worker);
    const todo = pending;
    const p = (async () => {
      try {
        while (todo.size > 0) {
          // Partitions revoked meanwhile belong to their new owner: not committed from here.
          const batch = [...todo.values()].filter((o) => worker.tasks.has(this.taskPartition(worker, o)));
          todo.clear();
          if (batch.length === 0) break;
          await worker.source
            .commit(batch)
            .catch((e) =>
              this.deps.log.warn(
                { err: e, task },
                'offset commit failed (state is safe in Redis; lag metrics may lag)',
              ),
            );
        }
      } finally {
        this.committing.delete(worker);
      }
    })();
    this.offsetCommits.add(p);
    await p;
    this.offsetCommits.delete(p);
  }

  /** The task was fenced by a newer owner: drop it without writing anything more. */
  onFenced(task: { stage: string; partition: number }): void {
    const worker = this.workers.find((w) => w.stage === task.stage);
    worker?.tasks.delete(task.partition);
    // Forget its write-behind queue too: a fenced queue makes every later flush() reject, which
    // made the zombie's graceful stop throw (exit 1) after it had been fenced.
    this.deps.writeBehind.release(task);
  }

  /** Graceful stop: stop fetching, drain, final checkpoint, wait for Redis, disconnect. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.commitTimer !== null) this.timers.clearInterval(this.commitTimer);
    await Promise.allSettled(this.loops);
    if (this.checkpointing) await this.checkpointing.catch(() => undefined);
    await this.checkpointTasks(this.workers.flatMap((w) => [...w.tasks.values()])).catch((e) =>
      this.deps.log.warn({ err: e }, 'final checkpoint failed'),
    );
    // A task fenced meanwhile rejects its flush: its state belongs to the newer owner; stop anyway.
    await this.deps.writeBehind.flush().catch((e) => this.deps.log.warn({ err: e }, 'final flush failed'));
    await Promise.allSettled([...this.offsetCommits]);
    await Promise.allSettled(this.workers.map((w) => w.source.disconnect()));
    await this.deps.sink.disconnect();
    this.deps.log.info({ event: LOG_EVENTS.stopped }, 'thermostat job stopped');
  }
}
