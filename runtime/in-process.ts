// The whole graph in one process on in-memory topics: every task of every stage, run in a fixed
// order until no task can make progress. Deterministic by construction (no timers, no threads):
// the test driver, the simulator and the in-process benchmark all run the real tasks through it.
import { ManualClock } from '../core/clock.js';
import type { Metrics } from '../core/metrics.js';
import type { CheckpointStore } from '../state/store.js';
import { hasBacklog, runBacklogStep } from './backlog.js';
import { IdleSources } from './idle-sources.js';
import { MemoryBroker } from './memory-broker.js';
import { createTask, type GraphSettings, type OwnedTask } from '../pipelines/task-factory.js';
import { sideOutputs, TaskRunner, type RawRecord } from './task-runner.js';
import type { OutRecord, RecordSerde, TaskId } from '../pipelines/task.js';
import { dlqTopic, fastPartition, topicSchemas } from '../pipelines/topology.js';

export interface InProcessOptions {
  settings: GraphSettings;
  serde: RecordSerde;
  checkpoints: CheckpointStore;
  broker?: MemoryBroker;
  clock?: ManualClock;
  batchSize?: number;
  /** Wall time a source must sit at its end before it counts as idle (0: as soon as it is drained). */
  idleTimeoutMs?: number;
  metrics?: Metrics;
  /**
   * Internal topics (content-events, allocator-input) carry the producing stage's decoded records
   * to the consuming stage instead of Avro bytes: what a job running every stage in one process
   * can do. Off by default, so the test driver exercises the wire format on every hop; the
   * Kafka runtime always encodes. Input decoding and output/changelog encoding are unchanged.
   */
  localHop?: boolean;
  /**
   * False when the caller never restarts the tasks (the simulator): nothing is kept for a replay,
   * so each read commits its group's position and the records every group read are dropped at
   * once, instead of at the next checkpoint. Default true (Kafka's: records stay until committed).
   */
  replayable?: boolean;
}

/** Record schemas of the internal topics: both ends are tasks of this graph. */
const INTERNAL_SCHEMAS: ReadonlySet<string> = new Set(['ContentEvent', 'AllocatorInput']);
/** What an internal record's bytes are with localHop: its value travels as `decoded`. */
const HANDED_OVER = Buffer.alloc(0);

/**
 * With localHop, `encode` of an internal record returns HANDED_OVER (no bytes, no allocation) and
 * the sink stores the value itself on the broker record; the consumer's runBatch uses it as the
 * decoded record. Tasks build a fresh object per output record and never mutate it after sending,
 * so the consumer sees what the bytes would have decoded to (test/unit/runtime/local-hop).
 */
function localHopSerde(inner: RecordSerde): RecordSerde {
  return {
    encode: (schema, value) => (INTERNAL_SCHEMAS.has(schema) ? HANDED_OVER : inner.encode(schema, value)),
    decode: (topic, bytes) => inner.decode(topic, bytes),
    prefetch: inner.prefetch && ((values) => inner.prefetch!(values)),
  };
}

export class InProcessGraph {
  readonly broker: MemoryBroker;
  readonly clock: ManualClock;
  readonly settings: GraphSettings;
  private readonly serde: RecordSerde;
  private readonly store: CheckpointStore;
  private readonly batchSize: number;
  private readonly metrics?: Metrics;
  readonly replayable: boolean;
  private tasks: OwnedTask[] = [];
  /** Stage-1 sources at their end, and which are declared idle. */
  private readonly idle: IdleSources;
  private readonly runner: TaskRunner;

  private constructor(opts: InProcessOptions) {
    this.settings = opts.settings;
    this.serde = opts.localHop ? localHopSerde(opts.serde) : opts.serde;
    this.store = opts.checkpoints;
    this.broker = opts.broker ?? new MemoryBroker();
    this.clock = opts.clock ?? new ManualClock(0);
    this.batchSize = opts.batchSize ?? 2000;
    this.replayable = opts.replayable ?? true;
    this.idle = new IdleSources(this.clock, opts.idleTimeoutMs ?? 0);
    this.metrics = opts.metrics;
    const broker = this.broker;
    const clock = this.clock;
    const schemaOf = topicSchemas(this.settings.names);
    /** Side outputs keep real bytes: a handed-over record is encoded when it goes late. */
    const bytesOf = (r: RawRecord): Buffer | null =>
      r.value === HANDED_OVER && r.decoded !== undefined
        ? opts.serde.encode(schemaOf[r.topic], r.decoded)
        : r.value;
    this.runner = new TaskRunner(
      this.serde,
      {
        send: (r: OutRecord, bytes: Buffer) =>
          broker.append(
            r.topic,
            r.key,
            bytes,
            clock.now(),
            r.partition ?? (r.key === null ? undefined : fastPartition(r.key, broker.partitions(r.topic))),
            r.headers,
            bytes === HANDED_OVER ? r.value : undefined,
          ),
        ...sideOutputs({
          lateTopic: this.settings.names.late,
          maxPayloadBytes: this.settings.maxRecordBytes,
          now: () => clock.now(),
          bytesOf,
          write: (topic, key, value, headers) => broker.append(topic, key, value, clock.now(), 0, headers),
        }),
      },
      this.metrics,
    );
  }

  static async create(opts: InProcessOptions): Promise<InProcessGraph> {
    const g = new InProcessGraph(opts);
    g.createTopics();
    await g.startTasks();
    return g;
  }

  private createTopics(): void {
    const n = this.settings.names;
    const p = this.settings.partitions;
    for (const t of [n.interactions, n.published, n.contentEvents, n.allocations, n.userRekey])
      this.broker.createTopic(t, p);
    this.broker.createTopic(n.userChangelog, p, 'compact');
    this.broker.createTopic(n.contentChangelog, p, 'compact');
    this.broker.createTopic(n.objectives, this.settings.objectivesPartitions);
    this.broker.createTopic(n.allocatorInput, 1);
    for (const t of [
      n.interactions,
      n.published,
      n.objectives,
      n.contentEvents,
      n.allocatorInput,
      n.userRekey,
    ])
      this.broker.createTopic(dlqTopic(t), 1);
    this.broker.createTopic(n.late, 1);
  }

  /** (Re)creates every task from the checkpoint store: what a restart after a crash does. */
  async startTasks(): Promise<void> {
    const ids: TaskId[] = [];
    for (let p = 0; p < this.settings.partitions; p++) ids.push({ stage: 'user', partition: p });
    for (let p = 0; p < this.settings.partitions; p++) ids.push({ stage: 'content', partition: p });
    ids.push({ stage: 'allocator', partition: 0 });
    for (const owned of this.tasks) this.runner.close(owned);
    this.tasks = [];
    for (const id of ids) this.tasks.push(await createTask(id, this.settings, this.store));
    // As on Kafka: a restarted task does not take over the previous life's idleness.
    for (const owned of this.tasks) this.runner.resumed(owned);
    // One consumer group per stage, as on Kafka: a topic's records stay until the group reading
    // it has checkpointed past them (what a restart re-reads).
    for (const owned of this.tasks)
      for (const pos of owned.task.positions()) this.broker.subscribe(owned.task.id.stage, pos.topic);
    this.idle.clear();
  }

  /** The serde the tasks see (with localHop: internal records by reference). */
  get recordSerde(): RecordSerde {
    return this.serde;
  }

  task(stage: TaskId['stage'], partition: number): OwnedTask | undefined {
    return this.tasks.find((t) => t.task.id.stage === stage && t.task.id.partition === partition);
  }

  get allTasks(): readonly OwnedTask[] {
    return this.tasks;
  }

  /**
   * Appends already-encoded input. Its timestamp (processing time, which bounds how far ahead an
   * event time may be) is unknown unless given: the manual clock here is not wall time.
   */
  append(topic: string, key: string | null, bytes: Buffer, partition?: number, timestamp = -1): void {
    this.broker.append(topic, key, bytes, timestamp, partition);
  }

  /** Runs every task until none can make progress, then flushes changelogs. */
  async runUntilIdle(): Promise<void> {
    this.wakeSources();
    for (;;) {
      let progress = false;
      for (const owned of this.tasks) {
        // A task's backlog goes before its new input (one step per round, so the stages after
        // it read each step's outputs before the next is produced).
        if (hasBacklog(owned) && (await runBacklogStep(owned, this.runner.collector(owned.task.id.stage)))) {
          progress = true;
          continue;
        }
        for (const pos of owned.task.positions()) {
          const stored = this.broker.read(pos.topic, pos.partition, pos.offset, this.batchSize);
          if (stored.length === 0) {
            if (owned.task.id.stage === 'user') this.idle.reachedEnd(pos.topic, pos.partition);
            continue;
          }
          this.idle.forget(pos.topic, pos.partition);
          await this.runner.run(owned, pos.topic, pos.partition, stored);
          if (!this.replayable) this.commitRead(owned);
          progress = true;
        }
      }
      if (!progress) progress = this.markIdleSources();
      if (!progress) break;
    }
    for (const owned of this.tasks) this.runner.flushChangelog(owned);
  }

  /** Commits what the task has read (a graph that is never restarted keeps nothing for a replay). */
  private commitRead(owned: OwnedTask): void {
    for (const p of owned.task.positions())
      this.broker.commit(owned.task.id.stage, p.topic, p.partition, p.offset);
  }

  /**
   * A source declared idle that has new data is active again BEFORE anything downstream runs, so
   * the content stage waits for it instead of treating its records as late (the driver knows the
   * data is there; a live Kafka source can only learn it by fetching).
   */
  private wakeSources(): void {
    for (const owned of this.tasks) {
      if (owned.task.id.stage !== 'user') continue;
      for (const pos of owned.task.positions()) {
        const st = this.idle.get(pos.topic, pos.partition);
        if (!st || this.broker.end(pos.topic, pos.partition) <= pos.offset) continue;
        this.idle.forget(pos.topic, pos.partition);
        if (st.idle) this.runner.setIdle(owned, pos.topic, pos.partition, false);
      }
    }
  }

  /** Declares drained stage-1 sources idle once they sat at their end for the idle timeout. */
  private markIdleSources(): boolean {
    let changed = false;
    for (const owned of this.tasks) {
      if (owned.task.id.stage !== 'user') continue;
      for (const pos of owned.task.positions()) {
        const st = this.idle.get(pos.topic, pos.partition);
        if (!st || !this.idle.due(st)) continue;
        this.idle.declare(st);
        this.runner.setIdle(owned, pos.topic, pos.partition, true);
        changed = true;
      }
    }
    return changed;
  }

  /** Moves every stage-1 source's watermark to at least `t` (a heartbeat) and runs. */
  async advanceEventTime(t: number): Promise<void> {
    for (const owned of this.tasks) this.runner.punctuate(owned, t);
    await this.runUntilIdle();
  }

  /** Advances wall time (idle timeouts) and runs. */
  async advanceTime(ms: number): Promise<void> {
    this.clock.advance(ms);
    await this.runUntilIdle();
  }

  /**
   * Snapshots every task into the checkpoint store (what the Kafka runtime does each commit
   * interval) and commits the positions it covers: records every group has passed are dropped.
   */
  async checkpoint(): Promise<void> {
    for (const owned of this.tasks) {
      const snap = owned.task.snapshot();
      const result = await this.store.commit(owned.task.id, {
        epoch: owned.epoch,
        seq: owned.seq++,
        entries: snap.entries,
        meta: Buffer.from(snap.meta),
      });
      for (const c of owned.caches) c.markDurable(snap.entries.filter((e) => e.store === c.name));
      // Offsets are committed once the checkpoint that covers them is stored (as the Kafka runtime
      // does); a graph that is never restarted committed them as it read.
      if (!result.duplicate && this.replayable)
        for (const pos of snap.positions)
          this.broker.commit(owned.task.id.stage, pos.topic, pos.partition, pos.offset);
    }
  }
}

export { fastPartition } from '../pipelines/topology.js';
