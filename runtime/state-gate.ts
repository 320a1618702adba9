// Can the checkpoint store load state right now? While it cannot (Redis down, paused or slow
// after a restart, when most keys are not in memory yet), tasks keep serving what is in memory:
// the user task parks the records of keys that need a load, other tasks have their batches held
// whole (in order) unless every key they need is in memory. A load is retried in the background
// with capped backoff, so a hung Redis never stalls a stage's poll loop; once one succeeds the
// next batches load in the foreground again and the parked work is applied.
import type { Clock } from '../core/clock.js';
import { backoffMs } from '../core/retry.js';
import type { InRecord } from '../pipelines/task.js';

/**
 * Whether loads from one checkpoint store fail, shared by the tasks that load from it: the first
 * failure degrades them all at once instead of each finding out by its own timed-out load.
 */
export class LoadHealth {
  private failingSince: number | null = null;
  private retryAt = 0;
  private attempt = 0;
  private probing: Promise<void> | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly backoff = { initialMs: 100, maxMs: 2000 },
  ) {}

  /** Loads are failing: degraded processing until a background load succeeds. */
  get failing(): boolean {
    return this.failingSince !== null;
  }

  failed(): void {
    const now = this.clock.now();
    this.failingSince ??= now;
    this.retryAt = now + backoffMs(this.backoff, this.attempt++);
  }

  /**
   * While failing: starts `load` (a load of keys not in memory) in the background when the
   * backoff allows and no other probe runs. Its success ends the degradation; a failure backs off.
   */
  probe(load: () => Promise<void>): void {
    if (this.failingSince === null || this.probing !== null || this.clock.now() < this.retryAt) return;
    this.probing = load()
      .then(
        () => {
          this.failingSince = null;
          this.attempt = 0;
        },
        () => this.failed(),
      )
      .finally(() => (this.probing = null));
  }
}

/** A batch held whole until state can be loaded: applied in order later, then its position committed. */
export interface HeldBatch {
  topic: string;
  partition: number;
  records: InRecord[];
  /** Next offset to read once the batch is applied. */
  next: number;
}

/** Per task: the store's load health and the batches the task holds while it cannot load. */
export class StateGate {
  readonly held: HeldBatch[] = [];

  constructor(readonly health: LoadHealth) {}

  /** Records held in batches. */
  heldRecords(): number {
    let n = 0;
    for (const b of this.held) n += b.records.length;
    return n;
  }
}
