// ThermostatTestDriver: the real graph (all three stages, real Avro serde, real state stores and
// checkpoints) on in-memory topics, in the spirit of Kafka Streams' TopologyTestDriver. Tests, the
// simulator and outside users drive it without a broker:
//   const d = await ThermostatTestDriver.create({ partitions: 2 });
//   await d.pipeInput('user-interactions', interactions);
//   d.readOutput('heating-allocations');  d.userState('u1');  d.contentState('c1');
import { parseAgentConfig, type AgentConfig, type AgentConfigInput } from '../agents/config.js';
import { RuleScorer } from '../agents/rule-scorer.js';
import type { AllocationScorer, ExplorePolicy } from '../agents/scorer.js';
import { toContentState, type ContentAgentState } from '../agents/content.js';
import { toUserMindState, type UserAgentState } from '../agents/user.js';
import { partitionForKey } from '../core/hash.js';
import type { Metrics } from '../core/metrics.js';
import type { ContentState, HeatingAllocation, UserMindState } from '../schemas/types.js';
import { MemoryCheckpointStore } from '../state/memory-checkpoint.js';
import type { CacheStats } from '../state/versioned-cache.js';
import type { CheckpointStore } from '../state/store.js';
import { controlInput, type AllocatorControlSink, type AllocatorModelPort } from './allocator-control.js';
import type { TickReport } from './allocator-task.js';
import { DLQ_HEADERS } from '../io/dlq.js';
import { InProcessGraph } from '../runtime/in-process.js';
import type { GraphSettings } from './task-factory.js';
import type { RecordSerde } from './task.js';
import { topicSchemas, topicSpecs, topologyNames, tpKey, type TopologyNames } from './topology.js';

export interface TestDriverOptions {
  appId?: string;
  /** Partitions of the input topics and of the content stage (default 2). */
  partitions?: number;
  tickMs?: number;
  outOfOrdernessMs?: number;
  allowedLatenessMs?: number;
  /** Wall time a drained input partition waits before it counts as idle (default 0). */
  idleTimeoutMs?: number;
  /** Config watermark.idleMaxLagMs, maxAheadMs, aheadPolicy (defaults: core/config.ts). */
  idleMaxLagMs?: number;
  maxAheadMs?: number;
  aheadPolicy?: 'dlq' | 'clamp';
  /** Config state.userIdleTtlMs and state.contentIdleTtlMs (defaults: core/config.ts). */
  userIdleTtlMs?: number;
  contentIdleTtlMs?: number;
  /** Config kafka.maxRecordBytes and kafka.partitionMismatch (defaults: core/config.ts). */
  maxRecordBytes?: number;
  partitionMismatch?: 'reroute' | 'dlq';
  seed?: number;
  agents?: AgentConfigInput;
  scorer?: AllocationScorer | (() => AllocationScorer);
  /** A learned user explore policy (default: the rule). */
  explore?: () => ExplorePolicy;
  batchSize?: number;
  cacheMaxEntries?: number;
  checkpoints?: CheckpointStore;
  serde: RecordSerde;
  metrics?: Metrics;
  onTick?: (report: TickReport) => void;
  /** Online learning: the allocator's models (GraphSettings.models). */
  models?: AllocatorModelPort;
  onFlagged?: () => void;
  /** Hand decoded records between stages instead of Avro bytes (InProcessOptions.localHop). */
  localHop?: boolean;
  /**
   * Topics the caller reads with readOutput. Their records stay until read; every other topic is
   * kept only for the graph's own consumers (and compacted, for changelogs), so a long run's
   * memory follows its state. Default: every topic, all kept until read.
   */
  reads?: readonly string[];
  /** GraphSettings.contentStepWork (Infinity: a catch-up of ticks closes in one call). */
  contentStepWork?: number;
  /** False for a caller that never calls restart(): records are dropped once read (InProcessOptions.replayable). */
  replayable?: boolean;
}

/** The consumer group of readOutput: what the caller has read is committed. */
const READER_GROUP = 'test-driver';

export interface DeadLetter {
  key: string | null;
  reason: string;
  message: string;
  value: Buffer;
}

export class ThermostatTestDriver {
  readonly names: TopologyNames;
  readonly agents: AgentConfig;
  private readonly cursors = new Map<string, number>();
  private readonly schemaOf: Record<string, string>;
  private readonly reads: ReadonlySet<string>;

  private constructor(
    private graph: InProcessGraph,
    private readonly serde: RecordSerde,
    private readonly checkpoints: CheckpointStore,
    reads: readonly string[] | undefined,
  ) {
    this.names = graph.settings.names;
    this.agents = graph.settings.agents;
    this.schemaOf = topicSchemas(this.names);
    this.reads = new Set(reads ?? topicSpecs(this.names, 1).map((t) => t.name));
    for (const t of this.reads) graph.broker.subscribe(READER_GROUP, t);
  }

  static async create(opts: TestDriverOptions): Promise<ThermostatTestDriver> {
    const agents = parseAgentConfig(opts.agents ?? {});
    const scorerOpt = opts.scorer ?? new RuleScorer();
    const scorer = typeof scorerOpt === 'function' ? scorerOpt : () => scorerOpt;
    const settings: GraphSettings = {
      names: topologyNames(opts.appId ?? 'thermostat'),
      partitions: opts.partitions ?? 2,
      objectivesPartitions: 1,
      agents,
      timing: {
        tickMs: opts.tickMs ?? 60_000,
        outOfOrdernessMs: opts.outOfOrdernessMs ?? 0,
        allowedLatenessMs: opts.allowedLatenessMs ?? 0,
        ...(opts.idleMaxLagMs === undefined ? {} : { idleMaxLagMs: opts.idleMaxLagMs }),
        ...(opts.maxAheadMs === undefined ? {} : { maxAheadMs: opts.maxAheadMs }),
        ...(opts.aheadPolicy === undefined ? {} : { aheadPolicy: opts.aheadPolicy }),
        ...(opts.userIdleTtlMs === undefined ? {} : { userIdleTtlMs: opts.userIdleTtlMs }),
        ...(opts.contentIdleTtlMs === undefined ? {} : { contentIdleTtlMs: opts.contentIdleTtlMs }),
      },
      maxRecordBytes: opts.maxRecordBytes,
      partitionMismatch: opts.partitionMismatch,
      onMisrouted:
        opts.metrics &&
        ((topic) =>
          opts.metrics!.misroutedRecords.inc({ topic, action: opts.partitionMismatch ?? 'reroute' })),
      seed: opts.seed ?? 42,
      cacheMaxEntries: opts.cacheMaxEntries ?? 1_000_000,
      scorer,
      explore: opts.explore,
      onTick: opts.onTick,
      models: opts.models,
      onFlagged: opts.onFlagged,
      contentStepWork: opts.contentStepWork,
    };
    const checkpoints = opts.checkpoints ?? new MemoryCheckpointStore(opts.metrics);
    const graph = await InProcessGraph.create({
      settings,
      serde: opts.serde,
      checkpoints,
      batchSize: opts.batchSize,
      idleTimeoutMs: opts.idleTimeoutMs ?? 0,
      metrics: opts.metrics,
      localHop: opts.localHop,
      replayable: opts.replayable,
    });
    return new ThermostatTestDriver(graph, graph.recordSerde, checkpoints, opts.reads);
  }

  private keyOf(topic: string, value: Record<string, unknown>): string | null {
    if (topic === this.names.interactions) return String(value.user_id);
    if (
      topic === this.names.published ||
      topic === this.names.allocations ||
      topic === this.names.contentChangelog
    )
      return String(value.content_id);
    if (topic === this.names.userChangelog) return String(value.user_id);
    return null;
  }

  /** Encodes records with the real serde, appends them to `topic`, and runs the graph until idle. */
  async pipeInput(
    topic: string,
    records: readonly object[],
    /**
     * As a producer may: a Kafka timestamp (processing time, which bounds how far ahead an event
     * time may be; default none) and an explicit partition (another partitioner).
     */
    opts: { timestamp?: number; partition?: number } = {},
  ): Promise<void> {
    const schema = this.schemaOf[topic];
    if (!schema) throw new Error(`unknown input topic ${topic}`);
    for (const r of records)
      this.graph.append(
        topic,
        this.keyOf(topic, r as Record<string, unknown>),
        this.serde.encode(schema as never, r),
        opts.partition,
        opts.timestamp,
      );
    await this.graph.runUntilIdle();
  }

  /** Appends raw bytes (e.g. corrupt records) to `topic` and runs the graph. */
  async pipeRaw(topic: string, key: string | null, bytes: Buffer): Promise<void> {
    this.graph.append(topic, key, bytes);
    await this.graph.runUntilIdle();
  }

  /**
   * Control records (model versions, reward weights) appended to the allocator's input topic, as
   * the job's learner produces them; they apply when the graph next runs (the next pipeInput /
   * advance, or at once when sent from inside a tick report, as the allocator is still reading).
   */
  controlSink(): AllocatorControlSink {
    return {
      send: async (control) => {
        const value = controlInput(control);
        const bytes = this.serde.encode('AllocatorInput', value);
        // With localHop an internal record travels decoded (its bytes are empty).
        const decoded = bytes.length === 0 ? value : undefined;
        const { broker, clock } = this.graph;
        broker.append(this.names.allocatorInput, null, bytes, clock.now(), 0, undefined, decoded);
      },
    };
  }

  /**
   * Advances event time: no record with an event time below `t` will follow, so watermarks move to
   * `t` and every tick boundary up to `t` closes (allocations for it are emitted).
   */
  async advanceEventTime(t: number): Promise<void> {
    await this.graph.advanceEventTime(t);
  }

  /** Advances wall-clock time (idle timeouts) and runs the graph. */
  async advanceTime(ms: number): Promise<void> {
    await this.graph.advanceTime(ms);
  }

  /** Decoded records appended to `topic` since the previous call for that topic. */
  readOutput(topic: 'heating-allocations'): HeatingAllocation[];
  readOutput(topic: 'user-mind-state'): UserMindState[];
  readOutput(topic: 'content-state'): ContentState[];
  readOutput<T = unknown>(topic: string): T[];
  readOutput<T = unknown>(topic: string): T[] {
    // One cursor per partition. A single count over the whole topic sorted by (timestamp,
    // partition) re-read old records of later partitions and skipped new ones of earlier
    // partitions whenever timestamps tie (the simulator never moves wall time).
    if (!this.reads.has(topic))
      throw new Error(`readOutput(${topic}): not among the topics this driver reads (option reads)`);
    const broker = this.graph.broker;
    const fresh: {
      timestamp: number;
      partition: number;
      offset: number;
      value: Buffer;
      decoded?: unknown;
    }[] = [];
    for (let p = 0; p < broker.partitions(topic); p++) {
      const cursor = tpKey(topic, p);
      const from = this.cursors.get(cursor) ?? 0;
      const end = broker.end(topic, p);
      for (const r of broker.read(topic, p, from, end - from)) fresh.push({ ...r, partition: p });
      this.cursors.set(cursor, end);
      broker.commit(READER_GROUP, topic, p, end);
    }
    fresh.sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || a.offset - b.offset);
    return fresh.map((r) => (r.decoded !== undefined ? r.decoded : this.serde.decode(topic, r.value)) as T);
  }

  /** Every record of `<topic>.dlq` with its reason. */
  deadLetters(topic: string): DeadLetter[] {
    return this.graph.broker.all(`${topic}.dlq`).map((r) => ({
      key: r.key,
      reason: r.headers?.[DLQ_HEADERS.reason] ?? '',
      message: r.headers?.[DLQ_HEADERS.message] ?? '',
      value: r.value,
    }));
  }

  /** Records sent to the late side output. */
  lateRecords(): DeadLetter[] {
    return this.graph.broker.all(this.names.late).map((r) => ({
      key: r.key,
      reason: r.headers?.[DLQ_HEADERS.reason] ?? '',
      message: r.headers?.[DLQ_HEADERS.message] ?? '',
      value: r.value,
    }));
  }

  private resident<V>(stage: 'user' | 'content', key: string): V | undefined {
    const owned = this.graph.task(stage, partitionForKey(key, this.graph.settings.partitions));
    const cache = owned?.caches[0];
    if (!cache) return undefined;
    try {
      return cache.get(key) as V | undefined;
    } catch {
      return undefined; // not resident (evicted): read the checkpoint store instead
    }
  }

  userState(userId: string): UserMindState | undefined {
    const s = this.resident<UserAgentState>('user', userId);
    return s && toUserMindState(s, this.agents);
  }

  contentState(contentId: string): ContentState | undefined {
    const s = this.resident<ContentAgentState>('content', contentId);
    return s && toContentState(s);
  }

  /** Every resident user / content state (for whole-state comparisons in tests). */
  allUserStates(): UserMindState[] {
    return this.collect<UserAgentState, UserMindState>('user', (s) => toUserMindState(s, this.agents));
  }
  allContentStates(): ContentState[] {
    return this.collect<ContentAgentState, ContentState>('content', toContentState);
  }
  private collect<V, R>(stage: 'user' | 'content', f: (v: V) => R): R[] {
    const out: R[] = [];
    for (const owned of this.graph.allTasks) {
      if (owned.task.id.stage !== stage) continue;
      for (const [, v] of owned.caches[0].entries()) out.push(f(v as V));
    }
    return out;
  }

  /** Every task cache's statistics (resident entries, evictions, loads). */
  cacheStats(): CacheStats[] {
    return this.graph.allTasks.flatMap((t) => t.caches.map((c) => c.stats()));
  }

  /** The allocator task's state (pool, rolling window, active allocations). */
  allocatorState() {
    const owned = this.graph.task('allocator', 0);
    return (owned?.task as import('./allocator-task.js').AllocatorTask | undefined)?.state;
  }

  /** Writes a checkpoint of every task (as the Kafka runtime does each commit interval). */
  async checkpoint(): Promise<void> {
    await this.graph.checkpoint();
  }

  /**
   * Simulates a crash and restart: every task is dropped (uncheckpointed state is lost) and
   * recreated from the checkpoint store; topics keep their content (outputs emitted after the
   * last checkpoint will be emitted again, with the same ids).
   */
  async restart(): Promise<void> {
    if (!this.graph.replayable)
      throw new Error('restart(): this driver keeps no records to replay (replayable: false)');
    await this.graph.startTasks();
    await this.graph.runUntilIdle();
  }

  get checkpointStore(): CheckpointStore {
    return this.checkpoints;
  }

  get broker() {
    return this.graph.broker;
  }
}
