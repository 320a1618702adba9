// The graph on Kafka: one consumer group per stage (like Kafka Streams' sub-topologies), composed
// of parts with one job each:
//   rebalance.ts              tasks created (restored) on assignment, checkpointed on revocation;
//   poll-loop.ts              each stage's poll → task graph loop, batch retry, backlog, idleness;
//   backpressure.ts           pause/resume of a stage's consumer while the graph cannot take more;
//   checkpoint-coordinator.ts the commit timer and checkpoint rounds (cut → producer flush → Redis);
//   offset-committer.ts       source offsets to Kafka once their checkpoint is durable, coalesced;
//   stall.ts                  a frozen process skips a round before writing again (zombie guard).
// Kafka offsets never run ahead of Redis state, and after kill -9 the job resumes from the last
// checkpoint and re-emits the same outputs with the same ids.
import type { AgentConfig } from '../../agents/config.js';
import type { Clock } from '../../core/clock.js';
import { sleepOn, systemTimers } from '../../core/timers.js';
import type { Timers } from '../../core/timers.js';
import { LOG_EVENTS, type Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { GraphSettings } from '../../pipelines/task-factory.js';
import type { OutRecord, RecordSerde } from '../../pipelines/task.js';
import { consumerGroup } from '../../pipelines/topology.js';
import type { CheckpointStore, SourceOffset } from '../../state/store.js';
import type { WriteBehind } from '../../state/write-behind.js';
import { IdleSources } from '../idle-sources.js';
import { parkedRecords, sideOutputs, TaskRunner } from '../task-runner.js';
import { Backpressure, DEFAULT_MAX_PARKED_RECORDS } from './backpressure.js';
import { CheckpointCoordinator, DEFAULT_MAX_DIRTY_BEFORE_CHECKPOINT } from './checkpoint-coordinator.js';
import { OffsetCommitter } from './offset-committer.js';
import { PollLoop } from './poll-loop.js';
import type { SinkPort, SourceOptions, SourcePort } from './ports.js';
import { Rebalance } from './rebalance.js';
import { StallGuard } from './stall.js';
import { stageSources, type StageWorker } from './stage-worker.js';

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
   * Config commitMinIntervalMs: under load a round starts this soon after the previous one, once
   * it costs at most 0.01 Redis calls per interaction (checkpoint-coordinator.ts busyCheckpointDue).
   * Unset: 0, rounds only at the interval and the dirty bound.
   */
  commitMinIntervalMs?: number;
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

export class KafkaJob {
  private readonly workers: StageWorker[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly runner: TaskRunner;
  private readonly checkpoints: CheckpointCoordinator;
  private readonly rebalance: Rebalance;
  private readonly polls: PollLoop;
  private readonly offsets: OffsetCommitter;
  private fatalError: Error | null = null;

  constructor(private readonly deps: KafkaJobDeps) {
    const { sink, clock, metrics, log, writeBehind } = deps;
    const timers = deps.timers ?? systemTimers;
    const sleep = sleepOn(timers);
    const running = (): boolean => this.running;
    this.runner = new TaskRunner(
      deps.serde,
      {
        send: (r: OutRecord, bytes: Buffer) =>
          sink.send(r.topic, r.key, bytes, { partition: r.partition, headers: r.headers }),
        ...sideOutputs({
          lateTopic: deps.settings.names.late,
          maxPayloadBytes: deps.settings.maxRecordBytes,
          now: () => clock.now(),
          write: (topic, key, value, headers) => sink.send(topic, key, value, { headers }),
        }),
      },
      metrics,
    );
    this.checkpoints = new CheckpointCoordinator({
      workers: this.workers,
      runner: this.runner,
      sink,
      writeBehind,
      metrics,
      log,
      stall: new StallGuard(clock, deps.commitIntervalMs),
      clock,
      timers,
      sleep,
      commitIntervalMs: deps.commitIntervalMs,
      commitMinIntervalMs: deps.commitMinIntervalMs ?? 0,
      maxDirtyBeforeCheckpoint: deps.maxDirtyBeforeCheckpoint ?? DEFAULT_MAX_DIRTY_BEFORE_CHECKPOINT,
      running,
      fatal: (e) => this.fatal(e),
    });
    this.rebalance = new Rebalance({
      settings: deps.settings,
      store: deps.store,
      writeBehind,
      runner: this.runner,
      metrics,
      log,
      checkpoint: (tasks) => this.checkpoints.checkpointTasks(tasks),
      running,
    });
    this.polls = new PollLoop({
      runner: this.runner,
      backpressure: new Backpressure({
        checkpointQueueFull: () => writeBehind.backpressure(),
        outputStalled: () => this.checkpoints.outputStalled,
        maxParkedRecords: deps.maxParkedRecords ?? DEFAULT_MAX_PARKED_RECORDS,
        metrics,
        log,
      }),
      clock,
      metrics,
      log,
      batchSize: deps.batchSize,
      sleep,
      running,
      // Interactions only: re-key markers and re-routed copies reach the user stage too.
      afterBatch: (owned, topic, records) =>
        this.checkpoints.afterBatch(owned, topic === deps.settings.names.interactions ? records : 0),
    });
    this.offsets = new OffsetCommitter(log);
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
    if (this.rebalance.restoringNow) return 'restoring the state of newly assigned partitions';
    return null;
  }

  get partitionsAssigned(): number {
    return this.rebalance.partitionsAssigned;
  }

  /** Early checkpoint rounds started by the dirty bound so far (tests, logs). */
  get earlyCheckpoints(): number {
    return this.checkpoints.earlyCheckpoints;
  }

  /** Checkpoint rounds started by the busy trigger so far (tests, logs). */
  get busyCheckpoints(): number {
    return this.checkpoints.busyCheckpoints;
  }

  async start(): Promise<void> {
    const { deps } = this;
    this.running = true;
    for (const { stage, topics } of stageSources(deps.settings.names)) {
      const worker: StageWorker = {
        stage,
        source: deps.createSource({
          groupId: consumerGroup(deps.appId, stage),
          topics,
          onAssign: (tps) => this.rebalance.onAssign(worker, tps),
          onRevoke: (tps, lost) => this.rebalance.onRevoke(worker, tps, lost ?? false),
          onEof: (tp, end) => worker.idle.reachedEnd(tp.topic, tp.partition, end),
        }),
        tasks: new Map(),
        idle: new IdleSources(deps.clock, deps.idleTimeoutMs),
        paused: false,
        joined: false,
      };
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((w) => w.source.connect()));
    this.loops = this.workers.map((w) => this.polls.run(w));
    this.checkpoints.start();
    deps.log.info({ event: LOG_EVENTS.started }, 'thermostat job started');
  }

  /** Records held back by tasks of every stage while Redis cannot load state. */
  parkedRecords(): number {
    let n = 0;
    for (const w of this.workers) for (const t of w.tasks.values()) n += parkedRecords(t);
    return n;
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
    await this.checkpoints.settled();
  }

  /** One checkpoint round over every task (at most one round at a time). */
  checkpointAll(): Promise<void> {
    return this.checkpoints.checkpointAll();
  }

  private fatal(e: Error): void {
    if (this.fatalError) return;
    this.fatalError = e;
    this.running = false; // no more batches and no more checkpoints from this process
    this.checkpoints.stopTimer();
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
    await this.offsets.durable(worker, task, offsets);
  }

  /** The task was fenced by a newer owner: drop it without writing anything more. */
  onFenced(task: { stage: string; partition: number }): void {
    const worker = this.workers.find((w) => w.stage === task.stage);
    const owned = worker?.tasks.get(task.partition);
    worker?.tasks.delete(task.partition);
    if (owned) this.runner.close(owned);
    // Forget its write-behind queue too: a fenced queue makes every later flush() reject, which
    // made the zombie's graceful stop throw (exit 1) after it had been fenced.
    this.deps.writeBehind.release(task);
  }

  /** Graceful stop: stop fetching, drain, final checkpoint, wait for Redis, disconnect. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.checkpoints.stopTimer();
    await Promise.allSettled(this.loops);
    await this.checkpoints.settled();
    const tasks = this.workers.flatMap((w) => [...w.tasks.values()]);
    await this.checkpoints
      .checkpointTasks(tasks)
      .catch((e) => this.deps.log.warn({ err: e }, 'final checkpoint failed'));
    // A task fenced meanwhile rejects its flush: its state belongs to the newer owner; stop anyway.
    await this.deps.writeBehind.flush().catch((e) => this.deps.log.warn({ err: e }, 'final flush failed'));
    await this.offsets.settled();
    for (const w of this.workers) for (const t of w.tasks.values()) this.runner.close(t);
    await Promise.allSettled(this.workers.map((w) => w.source.disconnect()));
    await this.deps.sink.disconnect();
    this.deps.log.info({ event: LOG_EVENTS.stopped }, 'thermostat job stopped');
  }
}
