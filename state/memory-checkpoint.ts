// In-memory CheckpointStore for the in-process test driver and the simulator. Same semantics as
// the Redis store (epoch fencing, per-key version skip, duplicate-seq skip, atomic commits); values
// are copied in and out so callers cannot alias stored state. `setAvailable(false)` simulates an
// outage (every call rejects with a retriable DEPENDENCY error).
import { FencedError, ThermostatError } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import { taskKey } from './keys.js';
import {
  type AcquireResult,
  type CheckpointStore,
  type CommitRequest,
  type CommitResult,
  type StoredEntry,
  type TaskId,
  taskLabel,
} from './store.js';

interface TaskRecord {
  epoch: number;
  seq: number;
  meta: Buffer | null;
  checkpoints: number;
  /** store + '\0' + key → entry */
  keys: Map<string, StoredEntry>;
}

const APP = 'mem';

export class MemoryCheckpointStore implements CheckpointStore {
  private readonly tasks = new Map<string, TaskRecord>();
  private available = true;

  constructor(private readonly metrics?: Metrics) {}

  setAvailable(up: boolean): void {
    this.available = up;
  }
  isAvailable(): boolean {
    return this.available;
  }

  async acquire(task: TaskId): Promise<AcquireResult> {
    this.check();
    const t = this.record(task);
    t.epoch++;
    t.seq = 0;
    return { epoch: t.epoch, meta: t.meta === null ? null : Buffer.from(t.meta) };
  }

  async load(task: TaskId, store: string, keys: readonly string[]): Promise<Map<string, StoredEntry>> {
    this.check();
    const t = this.record(task);
    const out = new Map<string, StoredEntry>();
    for (const k of keys) {
      const s = t.keys.get(`${store}\0${k}`);
      if (s !== undefined) out.set(k, copyEntry(s));
    }
    return out;
  }

  async commit(task: TaskId, req: CommitRequest): Promise<CommitResult> {
    this.check();
    const t = this.record(task);
    if (req.epoch !== t.epoch) {
      this.metrics?.fencedWrites.inc();
      throw new FencedError(
        `checkpoint of ${taskLabel(task)} with epoch ${req.epoch} refused: stored epoch is ${t.epoch}`,
        { partition: task.partition },
      );
    }
    if (req.seq <= t.seq) return { written: 0, skippedStale: 0, duplicate: true };
    let written = 0;
    let skippedStale = 0;
    for (const e of req.entries) {
      const id = `${e.store}\0${e.key}`;
      const cur = t.keys.get(id);
      if (cur !== undefined && cur.version >= e.version) {
        skippedStale++;
        continue;
      }
      let fields: Record<string, Buffer> | null =
        e.fields === null
          ? null
          : Object.fromEntries(Object.entries(e.fields).map(([f, v]) => [f, Buffer.from(v)]));
      // Merge mode (as HSET in Redis): fields not written keep their stored values.
      if (fields !== null && !e.replace && cur?.fields) fields = { ...cur.fields, ...fields };
      t.keys.set(id, { version: e.version, epoch: req.epoch, fields });
      written++;
    }
    t.seq = req.seq;
    t.meta = Buffer.from(req.meta);
    t.checkpoints++;
    return { written, skippedStale, duplicate: false };
  }

  async deleteTask(task: TaskId): Promise<void> {
    this.tasks.delete(taskKey(APP, task));
  }

  /** Test/inspection helper: the task's stored epoch, seq, meta and checkpoint count. */
  inspect(
    task: TaskId,
  ): { epoch: number; seq: number; meta: Buffer | null; checkpoints: number } | undefined {
    const t = this.tasks.get(taskKey(APP, task));
    return t && { epoch: t.epoch, seq: t.seq, meta: t.meta, checkpoints: t.checkpoints };
  }

  private record(task: TaskId): TaskRecord {
    const id = taskKey(APP, task);
    let t = this.tasks.get(id);
    if (t === undefined) {
      t = { epoch: 0, seq: 0, meta: null, checkpoints: 0, keys: new Map() };
      this.tasks.set(id, t);
    }
    return t;
  }

  private check(): void {
    if (!this.available)
      throw new ThermostatError('DEPENDENCY', 'checkpoint store unavailable', { retriable: true });
  }
}

function copyEntry(s: StoredEntry): StoredEntry {
  return {
    version: s.version,
    epoch: s.epoch,
    fields:
      s.fields === null
        ? null
        : Object.fromEntries(Object.entries(s.fields).map(([f, v]) => [f, Buffer.from(v)])),
  };
}
