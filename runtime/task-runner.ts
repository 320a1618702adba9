// Feeds fetched batches of raw records to a task through its RxJS graph (TaskRunner): decode
// (poison or oversized → DLQ, never a crash), load the batch's keys into the task's cache in one
// round trip, process, and move the resume position past every record of the batch. While the
// checkpoint store cannot load state the task keeps serving what is in memory (state-gate.ts).
// Shared by the in-process driver and the Kafka runtime.
import { EMPTY, Subject, catchError, concatMap, defer, map, of, type ObservableInput } from 'rxjs';
import { ThermostatError } from '../core/errors.js';
import { isRetriable } from '../core/retry.js';
import { decodeBatch } from '../operators/decodeWithDlq.js';
import type { Metrics } from '../core/metrics.js';
import type { OwnedTask } from '../pipelines/task-factory.js';
import type { Collector, InRecord, OutRecord, RecordSerde } from '../pipelines/task.js';
import type { HeldBatch } from './state-gate.js';
import { sideOutputRecord } from '../io/dlq.js';
import { dlqTopic, REKEY_MARKER_HEADERS } from '../pipelines/topology.js';

export interface RawRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer | null;
  timestamp: number;
  headers?: Record<string, string>;
  /** Already decoded (in-process hand-over between stages): used instead of decoding `value`. */
  decoded?: unknown;
}

/** Where a task's outputs go. */
export interface OutputSink {
  send(record: OutRecord, bytes: Buffer): void;
  dlq(record: RawRecord, error: ThermostatError): void;
  late(record: RawRecord, reason: string): void;
}

/**
 * The DLQ and late side outputs of a runtime's sink: each record with its headers (reason, size,
 * source coordinates) and its payload cut to `maxPayloadBytes` (kafka.maxRecordBytes), so it always
 * fits the producer. `bytesOf` gives a record's bytes (default its value).
 */
export function sideOutputs(o: {
  lateTopic: string;
  maxPayloadBytes?: number;
  now: () => number;
  bytesOf?: (r: RawRecord) => Buffer | null;
  write: (topic: string, key: string | null, value: Buffer, headers: Record<string, string>) => void;
}): Pick<OutputSink, 'dlq' | 'late'> {
  const emit = (topic: string, r: RawRecord, reason: string, message: string, field?: string): void => {
    const value = o.bytesOf ? o.bytesOf(r) : r.value;
    const s = sideOutputRecord({ ...r, value }, reason, message, o.now(), {
      field,
      maxPayloadBytes: o.maxPayloadBytes,
    });
    o.write(topic, s.key, s.value, s.headers);
  };
  return {
    dlq: (r, e) => emit(dlqTopic(r.topic), r, e.reason, e.message, e.key),
    late: (r, reason) => emit(o.lateTopic, r, 'LATE_RECORD', reason),
  };
}

const rawOf = (record: InRecord): RawRecord => ({
  topic: record.topic,
  partition: record.partition,
  offset: record.offset,
  key: record.key,
  value: record.raw ?? null,
  timestamp: record.timestamp,
  headers: record.headers,
  decoded: record.value,
});

export function makeCollector(
  serde: RecordSerde,
  sink: OutputSink,
  metrics: Metrics | undefined,
  stage: string,
): Collector {
  const sent = metrics?.recordsOutTally(stage);
  return {
    send(record: OutRecord): void {
      sink.send(record, record.bytes ?? serde.encode(record.schema, record.value));
      if (sent) sent.set(record.topic, (sent.get(record.topic) ?? 0) + 1);
    },
    late(record: InRecord, reason: string): void {
      sink.late(rawOf(record), reason);
      metrics?.lateRecords.inc({ stage });
    },
    dlq(record: InRecord, error: ThermostatError): void {
      sink.dlq(rawOf(record), error);
      metrics?.dlqRecords.inc({ topic: record.topic, reason: error.reason });
    },
  };
}

/** A record of one topic partition as fetched: a RawRecord without its (batch-wide) topic and partition. */
export type FetchedRecord = Omit<RawRecord, 'topic' | 'partition'>;

/** Key + value bytes of a record as fetched. */
const sizeOf = (r: FetchedRecord): number =>
  (r.value?.length ?? 0) + (r.key === null ? 0 : Buffer.byteLength(r.key));

/**
 * The job's decode → DLQ step (operators/decodeWithDlq) for records fetched from one topic
 * partition: a header-only re-key marker passes without a value; a tombstone, a record above
 * `maxBytes` (key + value) or one the serde refuses (wire format, schema, validation) goes to `dlq`
 * with its reason. Good records come back in offset order.
 */
export function decodeFetched(
  serde: RecordSerde,
  topic: string,
  partition: number,
  raw: readonly FetchedRecord[],
  maxBytes: number,
  dlq: (record: RawRecord, error: ThermostatError) => void,
): InRecord[] {
  const at = (r: FetchedRecord) => ({ topic, partition, offset: r.offset });
  const origin = (r: FetchedRecord) => ({ topic, partition, offset: String(r.offset) });
  return decodeBatch(
    raw,
    (r): InRecord => {
      if (r.headers?.[REKEY_MARKER_HEADERS.watermark] !== undefined)
        // A header-only watermark marker (re-key topic): no value to decode.
        return {
          topic,
          partition,
          offset: r.offset,
          key: r.key,
          value: null,
          timestamp: r.timestamp,
          headers: r.headers,
        };
      if (r.value === null)
        throw new ThermostatError('WIRE_FORMAT', 'record has no value (tombstone)', origin(r));
      if (sizeOf(r) > maxBytes)
        throw new ThermostatError(
          'RECORD_TOO_LARGE',
          `record of ${sizeOf(r)} bytes (key + value) is above kafka.maxRecordBytes (${maxBytes})`,
          origin(r),
        );
      const value = r.decoded !== undefined ? r.decoded : serde.decode(topic, r.value);
      return {
        topic,
        partition,
        offset: r.offset,
        key: r.key,
        value,
        timestamp: r.timestamp,
        raw: r.value,
        headers: r.headers,
      };
    },
    ({ record: r, error }) => {
      const rec: RawRecord = {
        topic,
        partition,
        offset: r.offset,
        key: r.key,
        value: r.value,
        timestamp: r.timestamp,
      };
      dlq(rec, error);
    },
    at,
  );
}

/** One micro-batch of one source partition on its way through a task's graph. */
interface Envelope {
  topic: string;
  partition: number;
  raw: readonly FetchedRecord[];
  decoded: InRecord[];
  resolve(): void;
  reject(e: unknown): void;
}

/**
 * The runtime side of the tasks, shared by the in-process driver and the Kafka runtime: each task
 * runs an RxJS graph over the micro-batches of its source partitions (`run` pushes one and settles
 * when it went through). Stages of the graph, in order:
 *   writer schemas → decode (poison or oversized → DLQ: operators/decodeWithDlq) →
 *   keyed state load and the task's own operators (watermarks, dedupe, canonical order, ticks,
 *   late side output) → resume position past every record of the batch.
 * A failure fails its batch only (the runtime retries it or stops); the graph goes on.
 * Control calls (idleness, heartbeats, changelog flush, parked work) reach the task here too, with
 * the collector of this runtime's sink: the runtimes never touch a task's concrete class.
 */
export class TaskRunner {
  private readonly graphs = new WeakMap<OwnedTask, Subject<Envelope>>();
  private readonly collectors = new Map<string, Collector>();

  constructor(
    private readonly serde: RecordSerde,
    private readonly sink: OutputSink,
    private readonly metrics?: Metrics,
  ) {}

  /** The collector of a stage's outputs (one per stage: it only labels metrics). */
  collector(stage: string): Collector {
    let c = this.collectors.get(stage);
    if (!c) this.collectors.set(stage, (c = makeCollector(this.serde, this.sink, this.metrics, stage)));
    return c;
  }

  /** Runs records fetched from one topic partition through the task's graph, in offset order. */
  run(owned: OwnedTask, topic: string, partition: number, raw: readonly FetchedRecord[]): Promise<void> {
    if (raw.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) =>
      this.graphOf(owned).next({ topic, partition, raw, decoded: [], resolve, reject }),
    );
  }

  private graphOf(owned: OwnedTask): Subject<Envelope> {
    let input = this.graphs.get(owned);
    if (input) return input;
    input = new Subject<Envelope>();
    const stage = <R>(step: (e: Envelope) => ObservableInput<R>) =>
      concatMap((e: Envelope) =>
        defer(() => step(e)).pipe(
          map(() => e),
          catchError((err: unknown) => {
            e.reject(err);
            return EMPTY;
          }),
        ),
      );
    input
      .pipe(
        stage((e) => this.prefetch(e)),
        stage((e) => of(this.decode(owned, e))),
        stage((e) => {
          const next = e.raw[e.raw.length - 1].offset + 1;
          const batch = { topic: e.topic, partition: e.partition, records: e.decoded, next };
          return feed(owned, batch, this.collector(owned.task.id.stage));
        }),
      )
      .subscribe((e) => e.resolve());
    this.graphs.set(owned, input);
    return input;
  }

  /**
   * Writer schemas of new ids. Ids the registry does not know then fail per record (DLQ); a
   * registry that cannot be asked (down, refusing the credentials) fails the batch before anything
   * ran: it is retried, or ends the job, instead of sending good records to the DLQ as SCHEMA_UNKNOWN.
   */
  private async prefetch(e: Envelope): Promise<void> {
    if (!this.serde.prefetch) return;
    await this.serde.prefetch(e.raw.map((r) => r.value)).catch((err: unknown) => {
      if (err instanceof ThermostatError && err.reason === 'DEPENDENCY') throw err;
    });
  }

  /** Decode → DLQ: every record decoded, or sent to the DLQ with its reason (never a crash). */
  private decode(owned: OwnedTask, e: Envelope): void {
    const { topic, raw } = e;
    // Input records above the bound are refused before decoding: everything the job would write
    // because of them (forwards, DLQ, late output) must fit the producer's message size.
    const maxBytes = owned.limits.inputTopics.has(topic) ? owned.limits.maxRecordBytes : Infinity;
    e.decoded = decodeFetched(this.serde, topic, e.partition, raw, maxBytes, (rec, err) => {
      this.sink.dlq(rec, err);
      this.metrics?.dlqRecords.inc({ topic, reason: err.reason });
    });
    this.metrics?.recordsIn.inc({ topic, stage: owned.task.id.stage }, raw.length);
  }

  /** Applies the task's parked records and held batches once state loads again. */
  resumeHeld(owned: OwnedTask): Promise<void> {
    return resumeHeld(owned, this.collector(owned.task.id.stage));
  }

  /** An input partition reached its end (idle) or got data again. */
  setIdle(owned: OwnedTask, topic: string, partition: number, idle: boolean): void {
    owned.task.setIdle(topic, partition, idle, this.collector(owned.task.id.stage));
  }

  /** The task was just (re)created, before any of its records is read (see StreamTask.resumed). */
  resumed(owned: OwnedTask): void {
    owned.task.resumed?.(this.collector(owned.task.id.stage));
  }

  /** An event-time heartbeat: no record below `t` follows on the task's sources. */
  punctuate(owned: OwnedTask, t: number): void {
    owned.task.punctuate?.(t, this.collector(owned.task.id.stage));
  }

  /** Changelog records for keys changed since the last flush. */
  flushChangelog(owned: OwnedTask): void {
    owned.task.flushChangelog(this.collector(owned.task.id.stage));
  }

  /**
   * The task leaves this runtime (revoked, fenced, stopped, replaced by a restart): its graph
   * completes (batches already in it still settle) and the task releases what it holds.
   */
  close(owned: OwnedTask): void {
    this.graphs.get(owned)?.complete();
    this.graphs.delete(owned);
    owned.task.close?.();
  }
}

/**
 * Gives a decoded batch to its task. Normally: load its keys (one round trip), process. While the
 * checkpoint store cannot load (`StateGate`): a task that parks processes now with the keys in
 * memory; any other task processes the batch if every key it needs is in memory, else holds it
 * (and every later batch, for order) until a load succeeds.
 */
async function feed(owned: OwnedTask, batch: HeldBatch, out: Collector): Promise<void> {
  const { task, gate } = owned;
  if (gate.held.length > 0) {
    gate.held.push(batch);
    await resumeHeld(owned, out);
    return;
  }
  const done = (): void => task.consumed(batch.topic, batch.partition, batch.next);
  if (!task.keysFor || owned.caches.length === 0) {
    if (batch.records.length > 0) task.process(batch.records, out);
    return done();
  }
  if (batch.records.length === 0 && (task.parked?.() ?? 0) === 0) return done();
  const keys = task.keysFor(batch.records);
  const health = gate.health;
  if (!health.failing) {
    try {
      if (keys.length > 0) for (const c of owned.caches) await c.ensureLoaded(keys);
      task.process(batch.records, out);
      return done();
    } catch (e) {
      if (!isRetriable(e)) throw e;
      health.failed();
    }
  }
  const resident = (k: string): boolean => owned.caches.every((c) => c.isResident(k));
  probe(owned, keys);
  if (task.processDegraded) {
    task.processDegraded(batch.records, out, resident);
    return done();
  }
  if (keys.every(resident)) {
    task.process(batch.records, out);
    return done();
  }
  gate.held.push(batch);
}

async function loadAll(owned: OwnedTask, keys: readonly string[]): Promise<void> {
  if (keys.length > 0) for (const c of owned.caches) await c.ensureLoaded(keys);
}

/** A background load of the keys not in memory (none: nothing to learn about the store from). */
function probe(owned: OwnedTask, keys: readonly string[]): void {
  const missing = keys.filter((k) => !owned.caches.every((c) => c.isResident(k)));
  if (missing.length > 0) owned.gate.health.probe(() => loadAll(owned, missing));
}

/**
 * Applies parked records and held batches once state loads again (the runtime calls it while a
 * task has parked work and no new records arrive). Stops at the first load that fails.
 */
async function resumeHeld(owned: OwnedTask, out: Collector): Promise<void> {
  const { task, gate } = owned;
  const nothingHeld = gate.held.length === 0;
  const keys = task.keysFor?.(nothingHeld ? [] : gate.held[0].records) ?? [];
  if (gate.health.failing) return probe(owned, keys);
  if (nothingHeld) {
    if ((task.parked?.() ?? 0) === 0) return;
    try {
      await loadAll(owned, keys);
    } catch (e) {
      if (!isRetriable(e)) throw e;
      return gate.health.failed();
    }
    return task.process([], out);
  }
  while (gate.held.length > 0) {
    const b = gate.held[0];
    try {
      await loadAll(owned, task.keysFor?.(b.records) ?? []);
    } catch (e) {
      if (!isRetriable(e)) throw e;
      return gate.health.failed();
    }
    gate.held.shift();
    if (b.records.length > 0) task.process(b.records, out);
    task.consumed(b.topic, b.partition, b.next);
  }
}

/** Records a task holds back while state cannot load (parked records and held batches). */
export const parkedRecords = (owned: OwnedTask): number =>
  (owned.task.parked?.() ?? 0) + owned.gate.heldRecords();
