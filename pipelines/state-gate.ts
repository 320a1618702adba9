// Per task: can the checkpoint store load state right now? While it cannot (Redis down, paused or
// slow after a restart, when most keys are not in memory yet), a task keeps serving what is in
// memory: the user task parks the records of keys that need a load, other tasks have their
// batches held whole (in order) unless every key they need is in memory. A load is retried in the
// background with capped backoff, so a hung Redis never stalls the stage's poll loop; once one
// succeeds the next batch loads in the foreground again and the parked work is applied.
import type { Clock } from '../core/clock.js';
import type { InRecord } from './task.js';

/** A batch held whole until state can be loaded: applied in order later, then its position committed. */
export interface HeldBatch {
  topic: string;
  partition: number;
  records: InRecord[];
  /** Next offset to read once the batch is applied. */
  next: number;
}

export class StateGate {
  readonly held: HeldBatch[] = [];
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

  /** Since when (clock ms) loads fail; null when they do not. */
  get since(): number | null {
    return this.failingSince;
  }

  /** Records held in batches. */
  heldRecords(): number {
    let n = 0;
    for (const b of this.held) n += b.records.length;
    return n;
  }

  failed(): void {
    const now = this.clock.now();
    this.failingSince ??= now;
    this.retryAt =
      now + Math.min(this.backoff.initialMs * 2 ** Math.min(this.attempt++, 20), this.backoff.maxMs);
  }

  /**
   * While failing: starts `load` in the background when the backoff allows and none is running.
   * Its success ends the degradation (the next batch loads in the foreground); a failure backs off.
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
