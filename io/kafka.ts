// Kafka I/O on @confluentinc/kafka-javascript's node-rdkafka-style API (see docs/KAFKA.md for why):
// KafkaSource = batch consumer with manual offsets, async rebalance hooks, pause/resume, EOF and
// lag; KafkaSink = idempotent producer with delivery reports and the Java-compatible partitioner.
import rdkafka from '@confluentinc/kafka-javascript';
import type {
  KafkaConsumer as Consumer,
  LibrdKafkaError,
  Message,
  MessageHeader,
  Producer as RdProducer,
  TopicPartition,
  TopicPartitionOffset,
} from '@confluentinc/kafka-javascript';
import { ThermostatError } from '../core/errors.js';
import { SerialQueue } from '../core/serial-queue.js';
import { tpKey } from '../pipelines/topology.js';

const { KafkaConsumer, Producer } = rdkafka;
type Rd = Record<string, string | number | boolean>;

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

export interface SourceRecord {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  /** Broker/producer timestamp (ms). */
  timestamp: number;
  headers: Record<string, Buffer>;
}

export { tpKey };

const ERR_ASSIGN = -175;
const ERR_REVOKE = -174;

export interface KafkaSourceOptions {
  brokers: string;
  groupId: string;
  topics: string[];
  /** librdkafka overrides (SASL/SSL...), applied last. */
  rdkafka?: Rd;
  clientId?: string;
  /**
   * Called on assignment, before any record of these partitions is fetched. Return the offset to
   * start each partition at (key `topic:partition`), e.g. from a checkpoint; partitions without
   * one start from the committed offset, else `auto.offset.reset` (earliest).
   */
  onAssign?: (tps: TopicPartitionRef[]) => Promise<Map<string, number> | void>;
  /**
   * Called before partitions are given away: flush and checkpoint them here. `lost`: the group
   * already gave them to another member (session expired): drop them without writing.
   */
  onRevoke?: (tps: TopicPartitionRef[], lost: boolean) => Promise<void>;
  /** A partition reached its end (enable.partition.eof): the next offset to be written. */
  onEof?: (tp: TopicPartitionRef, offset: number) => void;
  onError?: (err: Error) => void;
}

/** Batch consumer of a consumer group. One poll at a time (poll is not re-entrant). */
export class KafkaSource {
  private readonly consumer: Consumer;
  /** Rebalance events, handled one at a time in librdkafka's order. */
  private readonly rebalances = new SerialQueue();
  private readonly assigned = new Set<string>();
  private readonly positions = new Map<string, number>();
  private readonly eof = new Set<string>();

  constructor(private readonly opts: KafkaSourceOptions) {
    this.consumer = new KafkaConsumer(
      {
        'bootstrap.servers': opts.brokers,
        'group.id': opts.groupId,
        'client.id': opts.clientId ?? opts.groupId,
        // We checkpoint offsets with state and commit explicitly after a checkpoint.
        'enable.auto.commit': false,
        'enable.auto.offset.store': false,
        'enable.partition.eof': true,
        'partition.assignment.strategy': 'range',
        'fetch.min.bytes': 1,
        'fetch.wait.max.ms': 100,
        'queued.max.messages.kbytes': 65536,
        // Small per-partition fetches interleave the partitions finely. With 1 MB (the default) a
        // consumer catching up hands out ~10k records of one partition before the next, so the
        // content stage's watermark (min over partitions) lags far behind the fastest partition
        // and its buffer — checkpointed whole in the task metadata — grew to ~6 MB per task in the
        // crash-loop test (see docs/STATE.md "Crash recovery"); 64 KB kept it 3-10× smaller.
        'max.partition.fetch.bytes': 65536,
        'max.poll.interval.ms': 300_000,
        'session.timeout.ms': 10_000,
        'heartbeat.interval.ms': 1000,
        // After a broker restart, reconnect within ~1 s of it answering: the default backoff grows
        // to 10 s, which left the job idle ~12 s after the broker was back (broker-restart test).
        'reconnect.backoff.max.ms': 1000,
        log_level: 3,
        rebalance_cb: (err: LibrdKafkaError, assignment: TopicPartition[]) => {
          this.rebalances
            .push(() => this.onRebalance(err, assignment))
            .catch((e: Error) => this.opts.onError?.(e));
        },
        ...opts.rdkafka,
      } as never,
      { 'auto.offset.reset': 'earliest' },
    );
    this.consumer.on('partition.eof', (e) => {
      this.eof.add(tpKey(e.topic, e.partition));
      opts.onEof?.({ topic: e.topic, partition: e.partition }, e.offset);
    });
    // While the broker is away librdkafka reports the same errors (transport failure, all brokers
    // down) several times a second per consumer: pass each code on at most every 5 s.
    const lastByCode = new Map<number, number>();
    this.consumer.on('event.error', (e) => {
      const code = (e as { code?: number }).code ?? 0;
      const now = Date.now();
      if (now - (lastByCode.get(code) ?? -Infinity) < 5000) return;
      lastByCode.set(code, now);
      opts.onError?.(e as unknown as Error);
    });
  }

  connect(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      this.consumer.connect({ timeout: timeoutMs }, (err) => {
        if (err)
          return reject(
            new ThermostatError(
              'DEPENDENCY',
              `Kafka consumer cannot connect to ${this.opts.brokers}: ${err.message}`,
              { retriable: true, cause: err },
            ),
          );
        // Return promptly with what is buffered after the first record instead of waiting for n.
        (
          this.consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }
        ).setDefaultIsTimeoutOnlyForFirstMessage(true);
        this.consumer.subscribe(this.opts.topics);
        resolve();
      });
    });
  }

  private async onRebalance(err: LibrdKafkaError, assignment: TopicPartition[]): Promise<void> {
    const tps = assignment.map(({ topic, partition }) => ({ topic, partition }));
    if (err.code === ERR_ASSIGN) {
      let starts: Map<string, number> | undefined;
      try {
        starts = (await this.opts.onAssign?.(tps)) ?? undefined;
      } catch (e) {
        this.opts.onError?.(e as Error); // start from the committed offsets instead
      }
      try {
        this.consumer.assign(
          tps.map((tp) => {
            const start = starts?.get(tpKey(tp.topic, tp.partition));
            return start === undefined ? tp : { ...tp, offset: start };
          }),
        );
        for (const tp of tps) this.assigned.add(tpKey(tp.topic, tp.partition));
      } catch (e) {
        // The group moved on while the hook ran (a newer rebalance, or the assignment was lost
        // while this process was stalled): librdkafka refuses the stale assignment ("Erroneous
        // state") and the next rebalance event follows. Undo the hook without writing anything;
        // throwing here would end the process (an unhandled rejection). The hook has acquired
        // the tasks already, which is why a stopping job acquires nothing (runtime/kafka/rebalance.ts).
        this.opts.onError?.(
          new ThermostatError('DEPENDENCY', `stale assignment refused: ${(e as Error).message}`, {
            retriable: true,
            cause: e,
          }),
        );
        await this.opts.onRevoke?.(tps, true).catch((e2: Error) => this.opts.onError?.(e2));
      }
    } else if (err.code === ERR_REVOKE) {
      // Lost (session expired, e.g. the process was frozen): the partitions already belong to
      // someone else, so the hook must not checkpoint or emit anything for them.
      let lost = false;
      try {
        lost = (this.consumer as unknown as { assignmentLost(): boolean }).assignmentLost();
      } catch {
        // older bindings: treat as a normal revocation
      }
      try {
        await this.opts.onRevoke?.(tps, lost);
      } catch (e) {
        this.opts.onError?.(e as Error);
      }
      for (const tp of tps) {
        const k = tpKey(tp.topic, tp.partition);
        this.assigned.delete(k);
        this.positions.delete(k);
        this.eof.delete(k);
      }
      try {
        this.consumer.unassign();
      } catch (e) {
        this.opts.onError?.(e as Error);
      }
    } else {
      this.opts.onError?.(
        new ThermostatError('DEPENDENCY', `rebalance error: ${err.message}`, { retriable: true }),
      );
    }
  }

  /** Up to `max` records, waiting at most `timeoutMs` for the first one. */
  async poll(max: number, timeoutMs = 100): Promise<SourceRecord[]> {
    await this.rebalances.pending;
    this.consumer.setDefaultConsumeTimeout(timeoutMs);
    const messages = await new Promise<Message[]>((resolve, reject) =>
      this.consumer.consume(max, (err, msgs) =>
        err
          ? reject(
              new ThermostatError('DEPENDENCY', `consume failed: ${err.message}`, {
                retriable: true,
                cause: err,
              }),
            )
          : resolve(msgs),
      ),
    );
    // A rebalance served inside this consume call runs its hooks before records are handed out;
    // records of partitions given away are dropped (their new owner re-reads them).
    await this.rebalances.pending;
    const out: SourceRecord[] = [];
    for (const m of messages) {
      const k = tpKey(m.topic, m.partition);
      if (!this.assigned.has(k)) continue;
      this.positions.set(k, m.offset + 1);
      this.eof.delete(k);
      out.push(toRecord(m));
    }
    return out;
  }

  /** Partitions currently assigned (after the onAssign hook completed). */
  assignment(): TopicPartitionRef[] {
    return [...this.assigned].map(parseTp);
  }

  /** The partition's end offset from the broker (not the cached high watermark): a round trip. */
  endOffset(tp: TopicPartitionRef, timeoutMs = 1000): Promise<number> {
    return new Promise((resolve, reject) =>
      this.consumer.queryWatermarkOffsets(tp.topic, tp.partition, timeoutMs, (err, w) =>
        err
          ? reject(
              new ThermostatError('DEPENDENCY', `end offset of ${tp.topic}:${tp.partition}: ${err.message}`, {
                retriable: true,
              }),
            )
          : resolve(w.highOffset),
      ),
    );
  }

  /** Partitions whose last poll reached the end of the log. */
  atEof(tp: TopicPartitionRef): boolean {
    return this.eof.has(tpKey(tp.topic, tp.partition));
  }

  pause(tps: TopicPartitionRef[]): void {
    if (tps.length) this.consumer.pause(tps);
  }

  resume(tps: TopicPartitionRef[]): void {
    if (tps.length) this.consumer.resume(tps);
  }

  /** Moves a partition's fetch position (e.g. back to a checkpoint). */
  seek(tp: TopicPartitionRef, offset: number, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.consumer.seek({ ...tp, offset }, timeoutMs, (err) => {
        if (err)
          return reject(
            new ThermostatError(
              'DEPENDENCY',
              `seek ${tp.topic}:${tp.partition}@${offset} failed: ${err.message}`,
              { retriable: true, cause: err },
            ),
          );
        this.positions.set(tpKey(tp.topic, tp.partition), offset);
        resolve();
      }),
    );
  }

  /** Commits `offset` = next offset to read, per partition; resolves when the broker acknowledged. */
  commit(offsets: TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) =>
      (
        this.consumer as unknown as {
          commitCb(o: TopicPartitionOffset[], cb: (e: LibrdKafkaError | null) => void): void;
        }
      ).commitCb(
        offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
        (err) =>
          err
            ? reject(
                new ThermostatError('DEPENDENCY', `commit failed: ${err.message}`, {
                  retriable: true,
                  cause: err,
                }),
              )
            : resolve(),
      ),
    );
  }

  /** Committed offsets of the given partitions (the group's, not the checkpoint's). */
  committed(tps: TopicPartitionRef[], timeoutMs = 5000): Promise<TopicPartitionOffset[]> {
    return new Promise((resolve, reject) =>
      this.consumer.committed(tps, timeoutMs, (err, r) =>
        err
          ? reject(
              new ThermostatError('DEPENDENCY', `committed() failed: ${err.message}`, { retriable: true }),
            )
          : resolve(r),
      ),
    );
  }

  /**
   * Records behind the end per assigned partition: high watermark (cached from fetch responses,
   * no broker round trip) minus the position. Partitions not fetched yet are left out.
   */
  lag(): Map<string, number> {
    const out = new Map<string, number>();
    for (const k of this.assigned) {
      const { topic, partition } = parseTp(k);
      let high: number;
      try {
        high = this.consumer.getWatermarkOffsets(topic, partition).highOffset;
      } catch {
        continue;
      }
      if (high < 0) continue;
      const pos = this.positions.get(k);
      if (pos !== undefined) out.set(k, Math.max(0, high - pos));
    }
    return out;
  }

  /**
   * Leaves the group and closes. The revoke hook runs first (checkpoint); librdkafka serves the
   * revocation only while the consumer is polled, so this polls (and drops what it fetches: those
   * partitions are being given away) until the assignment is empty.
   */
  async disconnect(timeoutMs = 10_000): Promise<void> {
    if (!this.consumer.isConnected()) return;
    // A hook still restoring an assignment finishes first: leaving the group before its acquire
    // lands would let the next owner acquire earlier and be fenced by it.
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([
      this.rebalances.pending,
      new Promise<void>((resolve) => (waited = setTimeout(resolve, timeoutMs / 2))),
    ]);
    clearTimeout(waited);
    this.consumer.unsubscribe();
    const deadline = Date.now() + timeoutMs / 2;
    while ((this.assigned.size > 0 || this.rebalances.pending) && Date.now() < deadline)
      await this.poll(100, 20).catch(() => []);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs / 2);
      this.consumer.disconnect(() => (clearTimeout(t), resolve()));
    });
  }
}

function parseTp(k: string): TopicPartitionRef {
  const i = k.lastIndexOf(':');
  return { topic: k.slice(0, i), partition: Number(k.slice(i + 1)) };
}

function toRecord(m: Message): SourceRecord {
  const headers: Record<string, Buffer> = {};
  if (m.headers)
    for (const h of m.headers)
      for (const [name, v] of Object.entries(h)) headers[name] = typeof v === 'string' ? Buffer.from(v) : v;
  const key =
    m.key === undefined || m.key === null ? null : typeof m.key === 'string' ? Buffer.from(m.key) : m.key;
  return {
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    key,
    value: m.value,
    timestamp: m.timestamp ?? 0,
    headers,
  };
}

/**
 * A record librdkafka gave up on (delivery report error after its retries and message.timeout.ms,
 * or no room in the local queue for ~5 s): unlike a flush timeout, the output is gone and will not
 * be sent by waiting longer. `outputLost` is what the job checks (runtime/kafka/checkpoint-coordinator.ts).
 */
export class DeliveryError extends ThermostatError {
  readonly outputLost = true;
}

export interface KafkaSinkOptions {
  brokers: string;
  rdkafka?: Rd;
  clientId?: string;
  /**
   * Delivery reports for failures only (librdkafka `delivery.report.only.error`), for a producer
   * used through `produce` + `flush` (the job). The binding hands reports to JS at most 100 per
   * event-loop turn: with one report per record, a job producing ~30k records per checkpoint
   * round left reports queued for seconds behind its batches, and reading them cost CPU. `send`
   * (which needs a report per record) is refused on such a producer.
   */
  errorReportsOnly?: boolean;
}

export interface SendOptions {
  partition?: number;
  headers?: Record<string, string | Buffer>;
  timestamp?: number;
}

export interface DeliveryReport {
  topic: string;
  partition: number;
  offset: number;
}

/**
 * Idempotent producer. `send` resolves when the broker acknowledged the record (delivery
 * report), so callers can await a batch with Promise.all, or fire many and `flush()`.
 */
export class KafkaSink {
  private readonly producer: RdProducer;
  private pollTimer: NodeJS.Timeout | null = null;
  private waiting = new Map<number, { resolve: (r: DeliveryReport) => void; reject: (e: Error) => void }>();
  private seq = 0;
  /** Records waiting for room in librdkafka's local queue, in send order. */
  private readonly backlog: (() => boolean)[] = [];
  private drainTimer: NodeJS.Timeout | null = null;
  /** First failed `produce` record since the last flush, and how many failed. */
  private failure: DeliveryError | null = null;
  private failures = 0;

  constructor(private readonly opts: KafkaSinkOptions) {
    this.producer = new Producer({
      'bootstrap.servers': opts.brokers,
      'client.id': opts.clientId ?? 'thermostat',
      'enable.idempotence': true,
      acks: 'all',
      // Same partition as Kafka's Java default partitioner (and core/hash.ts partitionForKey).
      partitioner: 'murmur2_random',
      'linger.ms': 5,
      'batch.num.messages': 10_000,
      'batch.size': 1_000_000,
      'compression.type': 'lz4',
      'queue.buffering.max.messages': 500_000,
      'queue.buffering.max.kbytes': 524_288,
      dr_cb: true,
      ...(opts.errorReportsOnly ? { 'delivery.report.only.error': true } : {}),
      'reconnect.backoff.max.ms': 1000, // as the consumer's
      log_level: 3,
      ...opts.rdkafka,
    } as never);
    this.producer.on('delivery-report', (err, report) => {
      if (report.opaque === undefined || report.opaque === null) {
        // A `produce` record: nothing to settle; a failure fails the next flush.
        if (err) {
          this.failures++;
          this.failure ??= new DeliveryError(
            'DEPENDENCY',
            `delivery to ${report.topic} failed: ${err.message}`,
            {
              topic: report.topic,
              retriable: Boolean(err.isRetriable),
              cause: err,
            },
          );
        }
        return;
      }
      const w = this.waiting.get(report.opaque as number);
      if (!w) return;
      this.waiting.delete(report.opaque as number);
      if (err)
        w.reject(
          new DeliveryError('DEPENDENCY', `delivery to ${report.topic} failed: ${err.message}`, {
            topic: report.topic,
            retriable: Boolean(err.isRetriable),
            cause: err,
          }),
        );
      else w.resolve({ topic: report.topic, partition: report.partition, offset: report.offset });
    });
  }

  connect(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.producer.connect({ timeout: timeoutMs }, (err) => {
        if (err)
          return reject(
            new ThermostatError(
              'DEPENDENCY',
              `Kafka producer cannot connect to ${this.opts.brokers}: ${err.message}`,
              { retriable: true, cause: err },
            ),
          );
        this.pollTimer = setInterval(() => this.producer.poll(), 20);
        resolve();
      }),
    );
  }

  /** Produces one record; resolves with its partition and offset once acknowledged. */
  send(
    topic: string,
    key: string | Buffer | null,
    value: Buffer | null,
    opts: SendOptions = {},
  ): Promise<DeliveryReport> {
    if (this.opts.errorReportsOnly)
      return Promise.reject(
        new ThermostatError(
          'INTERNAL',
          'send() needs delivery reports: this sink reports errors only (use produce + flush)',
        ),
      );
    const id = ++this.seq;
    return new Promise<DeliveryReport>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const wireKey = key === null ? null : typeof key === 'string' ? Buffer.from(key) : key;
      this.enqueue(topic, wireKey, value, opts, id, (err) => {
        this.waiting.delete(id);
        reject(err);
      });
    });
  }

  /**
   * Fire-and-forget produce for the job's hot path: no promise or map entry per record (a promise
   * per output was ~10 % of the job's CPU with its GC). Same order guarantee as `send`. A failed
   * delivery makes the next `flush()` reject, so a checkpoint never covers a lost output.
   */
  produce(topic: string, key: string | Buffer | null, value: Buffer | null, opts: SendOptions = {}): void {
    // String keys go to the binding as they are (it copies them): no Buffer per record.
    this.enqueue(topic, key, value, opts, undefined, (err) => {
      this.failures++;
      this.failure ??= err;
    });
  }

  /**
   * Hands one record to librdkafka. While its local queue is full the record is parked, with every
   * later one behind it, in a FIFO drained as delivery reports free the queue: retrying each record
   * on its own timer would let later records overtake it (reordering within a partition).
   */
  private enqueue(
    topic: string,
    key: string | Buffer | null,
    value: Buffer | null,
    opts: SendOptions,
    opaque: number | undefined,
    onFail: (err: DeliveryError) => void,
  ): void {
    const headers: MessageHeader[] | undefined = opts.headers
      ? Object.entries(opts.headers).map(([k, v]) => ({ [k]: v }))
      : undefined;
    const partition = opts.partition ?? null;
    const timestamp = opts.timestamp ?? null;
    let tries = 0;
    // true: handed to librdkafka (or failed for good); false: local queue full, try again later.
    const attempt = (): boolean => {
      try {
        this.producer.produce(topic, partition, value, key as never, timestamp, opaque, headers);
        return true;
      } catch (e) {
        if ((e as { code?: number }).code === -184 && ++tries < 500) return false;
        onFail(
          new DeliveryError('DEPENDENCY', `produce to ${topic} failed: ${(e as Error).message}`, {
            topic,
            retriable: true,
            cause: e,
          }),
        );
        return true;
      }
    };
    if (this.backlog.length > 0 || !attempt()) {
      this.backlog.push(attempt);
      this.drainSoon();
    }
  }

  private drainSoon(): void {
    if (this.drainTimer !== null) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      this.producer.poll();
      while (this.backlog.length > 0 && this.backlog[0]()) this.backlog.shift();
      if (this.backlog.length > 0) this.drainSoon();
    }, 10);
  }

  /** Records produced but not yet acknowledged. */
  inFlight(): number {
    return this.waiting.size;
  }

  /** Waits until every produced record (parked ones included) is acknowledged. */
  async flush(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // Parked records are not in librdkafka's queue yet: a flush that ignored them could let a
    // checkpoint cover outputs that were never written.
    while (this.backlog.length > 0) {
      if (Date.now() > deadline)
        throw new ThermostatError(
          'DEPENDENCY',
          `flush timed out with ${this.backlog.length} records waiting for the producer queue`,
          { retriable: true },
        );
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise<void>((resolve, reject) =>
      this.producer.flush(Math.max(1, deadline - Date.now()), (err) =>
        err
          ? reject(
              new ThermostatError('DEPENDENCY', `flush failed: ${err.message}`, {
                retriable: true,
                cause: err,
              }),
            )
          : (this.producer.poll(), resolve()),
      ),
    );
    // librdkafka served every report before its flush returned; the binding hands them to JS
    // through its own async handle: two loop turns let the failures among them arrive.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    if (this.failure !== null) {
      const e = this.failure;
      const n = this.failures;
      this.failure = null;
      this.failures = 0;
      throw n > 1
        ? new DeliveryError('DEPENDENCY', `${e.message} (and ${n - 1} more failed deliveries)`, {
            retriable: Boolean(e.retriable),
            cause: e,
          })
        : e;
    }
  }

  async disconnect(timeoutMs = 10_000): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    if (!this.producer.isConnected()) return;
    await this.flush(timeoutMs).catch(() => {});
    await new Promise<void>((resolve) => this.producer.disconnect(timeoutMs, () => resolve()));
  }
}
