// In-process throughput: the full graph (Avro decode, all three stages, windows, allocation ticks)
// on the in-memory transport, one thread. The input is pre-encoded before the clock starts; the
// measured time covers append + decode + every stage + changelog flush until the graph is idle
// and the last tick closed. By default the internal topics (content-events, allocator-input) hand
// decoded records between stages (InProcessOptions.localHop: every stage is in this process);
// `localHop: false` (CLI: 7th argument 0) measures the Avro hop a multi-process job pays.
import { parseAgentConfig } from '../agents/config.js';
import { RuleScorer } from '../agents/rule-scorer.js';
import { InProcessGraph } from '../runtime/in-process.js';
import { MemoryBroker, type StoredRecord } from '../runtime/memory-broker.js';
import type { GraphSettings } from '../pipelines/task-factory.js';
import { topologyNames } from '../pipelines/topology.js';
import { wireSerde } from '../pipelines/wire-serde.js';
import { MemoryCheckpointStore } from '../state/memory-checkpoint.js';
import type { CheckpointStore } from '../state/store.js';
import { encodeWorkload, makeWorkload, type Workload } from './workload.js';

export interface InProcessBenchOptions {
  users: number;
  contents: number;
  events: number;
  partitions: number;
  batchSize: number;
  /** Interactions appended per driver round (the graph runs until idle after each). */
  chunk?: number;
  tickMs?: number;
  /** Checkpoint store (default in-memory); with `checkpointEachChunk` every task checkpoints after each chunk. */
  checkpoints?: CheckpointStore;
  checkpointEachChunk?: boolean;
  /** Internal records by reference instead of Avro bytes (default true). */
  localHop?: boolean;
}

export interface InProcessBenchResult {
  events: number;
  seconds: number;
  eventsPerS: number;
  /** CPU time of this process during the run (user + system): steadier than wall time on a shared box. */
  cpuSeconds: number;
  eventsPerCpuS: number;
  allocations: number;
  userChangelog: number;
  contentEvents: number;
  /** How records crossed content-events and allocator-input. */
  internalHop: 'by-reference' | 'avro';
}

/**
 * The in-memory transport without its test-time memory: a topic partition has one reader in the
 * in-process graph, so records before the offset it reads from are dropped, and topics nobody
 * reads (outputs, DLQs) are only counted. A broker process or Kafka holds those, not the job;
 * keeping them would make the benchmark measure the garbage collector walking a growing log.
 */
export class BenchBroker extends MemoryBroker {
  private readonly logs = new Map<string, { base: number; recs: StoredRecord[] }[]>();
  readonly counts = new Map<string, number>();

  constructor(private readonly read_: ReadonlySet<string>) {
    super();
  }

  override createTopic(name: string, partitions: number): void {
    if (!this.logs.has(name))
      this.logs.set(
        name,
        Array.from({ length: partitions }, () => ({ base: 0, recs: [] })),
      );
  }
  override hasTopic(name: string): boolean {
    return this.logs.has(name);
  }
  /** No consumer groups: a record is dropped once its one reader has read past it. */
  override subscribe(): void {}
  override commit(): void {}
  override partitions(name: string): number {
    return this.part(name).length;
  }
  override append(
    ...[topic, key, value, timestamp, partition, headers, decoded]: Parameters<MemoryBroker['append']>
  ): [number, number] {
    const parts = this.part(topic);
    const p = this.partitionOf(key, parts.length, partition);
    const log = parts[p];
    const offset = log.base + log.recs.length;
    this.counts.set(topic, (this.counts.get(topic) ?? 0) + 1);
    if (this.read_.has(topic)) log.recs.push({ offset, key, value, timestamp, headers, decoded });
    else log.base++;
    return [p, offset];
  }
  override read(topic: string, partition: number, offset: number, max: number): StoredRecord[] {
    const log = this.part(topic)[partition];
    const from = offset - log.base;
    if (from > 4096) {
      log.recs = log.recs.slice(from); // everything before `offset` was read by the only reader
      log.base = offset;
      return log.recs.slice(0, max);
    }
    return log.recs.slice(Math.max(0, from), Math.max(0, from) + max);
  }
  override end(topic: string, partition: number): number {
    const log = this.part(topic)[partition];
    return log.base + log.recs.length;
  }
  override all(): never {
    throw new Error('BenchBroker keeps no history');
  }
  private part(name: string) {
    const t = this.logs.get(name);
    if (!t) throw new Error(`unknown topic ${name}`);
    return t;
  }
}

export function benchSettings(o: { partitions: number; tickMs?: number; appId?: string }): GraphSettings {
  const scorer = new RuleScorer();
  return {
    names: topologyNames(o.appId ?? 'bench'),
    partitions: o.partitions,
    objectivesPartitions: 1,
    agents: parseAgentConfig({}),
    timing: { tickMs: o.tickMs ?? 60_000, outOfOrdernessMs: 0, allowedLatenessMs: 0 },
    seed: 42,
    cacheMaxEntries: 10_000_000,
    scorer: () => scorer,
  };
}

export async function runInProcess(
  o: InProcessBenchOptions,
  workload?: Workload,
): Promise<InProcessBenchResult> {
  const w = workload ?? makeWorkload({ users: o.users, contents: o.contents, events: o.events });
  const enc = encodeWorkload(w, o.partitions);
  const settings = benchSettings(o);
  const names = settings.names;
  const broker = new BenchBroker(
    new Set([
      names.interactions,
      names.published,
      names.objectives,
      names.contentEvents,
      names.allocatorInput,
    ]),
  );
  const graph = await InProcessGraph.create({
    settings,
    broker,
    serde: wireSerde(names),
    checkpoints: o.checkpoints ?? new MemoryCheckpointStore(),
    batchSize: o.batchSize,
    localHop: o.localHop ?? true,
  });
  const chunk = o.chunk ?? 100_000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const r of enc.published) graph.append(names.published, r.key, r.value, r.partition);
  for (let i = 0; i < enc.interactions.length; i += chunk) {
    const end = Math.min(i + chunk, enc.interactions.length);
    for (let j = i; j < end; j++) {
      const r = enc.interactions[j];
      graph.append(names.interactions, r.key, r.value, r.partition);
    }
    await graph.runUntilIdle();
    if (o.checkpointEachChunk) await graph.checkpoint();
  }
  await graph.advanceEventTime(w.endTime + settings.timing.tickMs);
  if (o.checkpointEachChunk) await graph.checkpoint();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const events = enc.interactions.length + enc.published.length;
  const count = (topic: string) => broker.counts.get(topic) ?? 0;
  return {
    events,
    seconds,
    eventsPerS: events / seconds,
    cpuSeconds,
    eventsPerCpuS: events / cpuSeconds,
    allocations: count(names.allocations),
    userChangelog: count(names.userChangelog),
    contentEvents: count(names.contentEvents),
    internalHop: (o.localHop ?? true) ? 'by-reference' : 'avro',
  };
}

// Standalone: npx tsx bench/inprocess.ts [users] [contents] [events] [partitions] [batch] [chunk] [localHop 1|0]
if (import.meta.url === `file://${process.argv[1]}`) {
  const [
    users = 100_000,
    contents = 10_000,
    events = 300_000,
    partitions = 6,
    batchSize = 5000,
    chunk = 100_000,
    localHop = 1,
  ] = process.argv.slice(2).map(Number);
  const w = makeWorkload({ users, contents, events });
  const r = await runInProcess(
    { users, contents, events, partitions, batchSize, chunk, localHop: localHop !== 0 },
    w,
  );
  console.log(JSON.stringify({ users, contents, partitions, batchSize, ...r }));
}
