// Periodic ticks in event time: every multiple of tickMs the watermark reaches, once, in order.
import type { OperatorFunction } from 'rxjs';
import { batchOperator } from './internal/coreOperator.js';
import { ConfigError } from '../core/errors.js';
import { NO_WATERMARK } from './types.js';

export interface EventTimeTicksOptions {
  readonly tickMs: number;
  /**
   * First tick to emit (a multiple of tickMs). Set it (e.g. from configuration) for a tick set that
   * does not depend on where the first watermark lands. Without it, the first watermark W only
   * positions the ticker at floor(W / tickMs)·tickMs, and ticks start after that boundary.
   */
  readonly firstTick?: number;
}

export interface EventTimeTicksSnapshot {
  /** The last tick emitted (or the positioning boundary); NO_WATERMARK before any. */
  readonly lastTick: number;
}

/**
 * Tick T (a multiple of tickMs) is emitted when the watermark first reaches `W >= T` — every record
 * with event_time < T has arrived, so the tick sees exactly the records of the ticks before it.
 * A watermark that jumps several boundaries emits each of them, ascending; a watermark that does not
 * advance emits nothing. Snapshot/restore keeps "exactly once" across restarts.
 */
export class EventTimeTicks {
  readonly tickMs: number;
  private lastTick: number;

  constructor(options: EventTimeTicksOptions) {
    this.tickMs = options.tickMs;
    if (!(this.tickMs > 0) || !Number.isInteger(this.tickMs))
      throw new ConfigError('ticks.tickMs', 'must be a positive integer');
    if (options.firstTick !== undefined && options.firstTick % this.tickMs !== 0) {
      throw new ConfigError('ticks.firstTick', 'must be a multiple of tickMs');
    }
    this.lastTick = options.firstTick === undefined ? NO_WATERMARK : options.firstTick - this.tickMs;
  }

  static restore(options: EventTimeTicksOptions, snapshot: EventTimeTicksSnapshot): EventTimeTicks {
    const t = new EventTimeTicks(options);
    t.lastTick = snapshot.lastTick;
    return t;
  }

  snapshot(): EventTimeTicksSnapshot {
    return { lastTick: this.lastTick };
  }

  get last(): number {
    return this.lastTick;
  }

  /** The next tick that `advance` will emit, or undefined before the ticker is positioned. */
  get next(): number | undefined {
    return this.lastTick === NO_WATERMARK ? undefined : this.lastTick + this.tickMs;
  }

  /**
   * Moves the ticker to `watermark`; returns how many ticks it crosses (0: none). The first
   * watermark only positions the ticker. No allocation: the stages call it per record.
   */
  step(watermark: number): number {
    if (watermark === NO_WATERMARK) return 0;
    const boundary = Math.floor(watermark / this.tickMs) * this.tickMs;
    if (this.lastTick === NO_WATERMARK) {
      this.lastTick = boundary;
      return 0;
    }
    if (!(boundary > this.lastTick)) return 0;
    const crossed = (boundary - this.lastTick) / this.tickMs;
    this.lastTick = boundary;
    return crossed;
  }

  /** Returns the ticks crossed by moving the watermark to `watermark` (ascending, possibly none). */
  advance(watermark: number): number[] {
    const from = this.lastTick;
    const crossed = this.step(watermark);
    const out: number[] = [];
    for (let i = 1; i <= crossed; i++) out.push(from + i * this.tickMs);
    return out;
  }

  /** Positions the ticker at the boundary at or below `time`, unless it is positioned already. */
  positionAt(time: number): void {
    if (this.lastTick === NO_WATERMARK) this.lastTick = Math.floor(time / this.tickMs) * this.tickMs;
  }

  /** The next tick; before positioning, the one `positionAt(time)` would make next (nothing moves). */
  nextFrom(time: number): number {
    const last =
      this.lastTick === NO_WATERMARK ? Math.floor(time / this.tickMs) * this.tickMs : this.lastTick;
    return last + this.tickMs;
  }

  /**
   * Marks every tick up to `tick` (a multiple of tickMs) as emitted: a stage that emits ticks one
   * at a time, or passes a run of ticks it knows to be empty in one step.
   */
  emitThrough(tick: number): void {
    if (tick > this.lastTick) this.lastTick = tick;
  }
}

/**
 * From watermarks to the ticks they cross: one array of ticks per watermark that crossed at least
 * one boundary.
 *
 * `--5--12--12--35--|` with tickMs 10 and firstTick 0 becomes `--[0]--[10]------[20 30]--|`.
 *
 * @param ticks a shared core (the caller snapshots it) or options for one per subscription.
 */
export function eventTimeTicks(
  ticks: EventTimeTicks | EventTimeTicksOptions,
): OperatorFunction<number, number[]> {
  return batchOperator(() => {
    const core = ticks instanceof EventTimeTicks ? ticks : new EventTimeTicks(ticks);
    return { step: (wm: number) => core.advance(wm) };
  });
}
