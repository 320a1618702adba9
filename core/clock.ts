// Time is injected everywhere: event time drives windows, decays and ticks; wall time only drives
// commit/checkpoint intervals and metrics. Tests and the simulator use ManualClock.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** One day in milliseconds. */
export const DAY_MS = 86_400_000;

export const systemClock: Clock = { now: () => Date.now() };

export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}
