// Timers are injected like the clock: the job's wall-time schedules (commit interval, retry
// backoffs, poll pauses) run on `systemTimers` in production and on `VirtualTime` in tests, where
// time moves only when the test advances it, so no test sleeps in real time.
import { ManualClock, type Clock } from './clock.js';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

/** A promise that resolves after `ms` on `timers`. */
export const sleepOn =
  (timers: Timers) =>
  (ms: number): Promise<void> =>
    new Promise((resolve) => timers.setTimeout(resolve, ms));

interface Scheduled {
  at: number;
  seq: number;
  fn: () => void;
  /** Repeat period of an interval, 0 for a timeout. */
  every: number;
}

/**
 * A clock and its timers in one virtual time: `advance` moves the clock and fires every timer due
 * on the way, in time order (ties in the order they were set), each at its own instant.
 */
export class VirtualTime extends ManualClock implements Clock, Timers {
  private seq = 0;
  private readonly due = new Map<number, Scheduled>();

  setTimeout(fn: () => void, ms: number): unknown {
    return this.schedule(fn, ms, 0);
  }
  setInterval(fn: () => void, ms: number): unknown {
    return this.schedule(fn, ms, Math.max(1, ms));
  }
  clearTimeout(handle: unknown): void {
    this.due.delete(handle as number);
  }
  clearInterval(handle: unknown): void {
    this.due.delete(handle as number);
  }

  /** When the next timer fires, or null when none is pending. */
  nextAt(): number | null {
    const next = this.earliest();
    return next ? next[1].at : null;
  }

  override advance(ms: number): number {
    const end = this.now() + ms;
    for (let next = this.earliest(); next && next[1].at <= end; next = this.earliest()) {
      const [handle, s] = next;
      super.set(s.at);
      if (s.every > 0) this.due.set(handle, { ...s, at: s.at + s.every, seq: this.seq++ });
      else this.due.delete(handle);
      s.fn();
    }
    super.set(end);
    return end;
  }

  private schedule(fn: () => void, ms: number, every: number): number {
    const handle = this.seq++;
    this.due.set(handle, { at: this.now() + Math.max(0, ms), seq: handle, fn, every });
    return handle;
  }

  private earliest(): [number, Scheduled] | undefined {
    let best: [number, Scheduled] | undefined;
    for (const e of this.due)
      if (!best || e[1].at < best[1].at || (e[1].at === best[1].at && e[1].seq < best[1].seq)) best = e;
    return best;
  }
}
