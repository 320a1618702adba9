// Stall detection: a process frozen (SIGSTOP, VM pause, long GC) longer than a few commit intervals
// may have lost its partitions meanwhile without knowing yet. The commit timer's rounds measure
// the gap between them (an early round restarts the timer, so it counts as one); after a stall one
// round is skipped and early rounds wait for the next regular one, so the consumers can learn of a
// lost assignment (dropped tasks) before this instance writes changelogs or checkpoints as a zombie.
import type { Clock } from '../../core/clock.js';

export class StallGuard {
  /** Wall time of the last round (timer or early), and until when early rounds are held after a stall. */
  private lastRoundAt: number;
  private holdUntil = 0;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {
    this.lastRoundAt = clock.now();
  }

  /** A gap between rounds above this is a stall. */
  get limitMs(): number {
    return Math.max(3 * this.intervalMs, 3000);
  }

  /** The commit timer starts now. */
  restart(): void {
    this.lastRoundAt = this.clock.now();
  }

  /**
   * A commit-timer round is due: the gap since the previous one when the process stalled (skip
   * this round; early rounds are held until the next one), else null (go ahead).
   */
  round(): number | null {
    const now = this.clock.now();
    const gap = now - this.lastRoundAt;
    this.lastRoundAt = now;
    if (gap <= this.limitMs) return null;
    this.holdUntil = now + this.intervalMs;
    return gap;
  }

  /**
   * An early round starts (only while not held, so the gap since the last round is no stall): the
   * commit timer restarts from it, and the next gap is measured from here.
   */
  earlyRound(): void {
    this.lastRoundAt = this.clock.now();
  }

  /** Whether writes outside the regular rounds must wait: after a stall, or while one is going on unnoticed. */
  held(): boolean {
    const now = this.clock.now();
    return now < this.holdUntil || now - this.lastRoundAt > this.limitMs;
  }
}
