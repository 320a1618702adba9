// Source idleness, for both runtimes (in-process driver, Kafka): a partition that sat at its end
// for the idle timeout (wall time, by the injected clock) with nothing new is declared idle, so the
// stage-1 watermark does not wait for it; a record wakes it up. The runtime tells the task
// (TaskRunner.setIdle); the Kafka runtime first confirms the end with the broker.
import type { Clock } from '../core/clock.js';
import { tpKey } from '../pipelines/topology.js';

/** A partition at its end. */
export interface AtEnd {
  readonly topic: string;
  readonly partition: number;
  /** Wall time it was (last) seen at its end with nothing new. */
  since: number;
  idle: boolean;
  /** The next offset to be written, as the consumer reported it (0: unknown). */
  end: number;
}

export class IdleSources {
  private readonly atEnd = new Map<string, AtEnd>();

  constructor(
    private readonly clock: Clock,
    private readonly idleTimeoutMs: number,
  ) {}

  /** The partition is at its end (`end`: the next offset to be written, when known); the timer starts once. */
  reachedEnd(topic: string, partition: number, end = 0): void {
    const st = this.atEnd.get(tpKey(topic, partition));
    if (st) st.end = Math.max(st.end, end);
    else
      this.atEnd.set(tpKey(topic, partition), {
        topic,
        partition,
        since: this.clock.now(),
        idle: false,
        end,
      });
  }

  /** The partition's entry while at its end; undefined while active. */
  get(topic: string, partition: number): AtEnd | undefined {
    return this.atEnd.get(tpKey(topic, partition));
  }

  /**
   * Records of the partition arrived, up to `next` (exclusive). Returns whether it was idle (its
   * task must be woken up). It stays at its end, its timer restarted, when they reach the end the
   * consumer reported (that event can come in the same poll as the last records); else it is active.
   */
  received(topic: string, partition: number, next: number): boolean {
    const st = this.get(topic, partition);
    if (st === undefined) return false;
    const wasIdle = st.idle;
    if (next >= st.end) {
      st.idle = false;
      st.since = this.clock.now();
    } else this.forget(topic, partition);
    return wasIdle;
  }

  /** Active again, or revoked. */
  forget(topic: string, partition: number): void {
    this.atEnd.delete(tpKey(topic, partition));
  }

  clear(): void {
    this.atEnd.clear();
  }

  /** At its end for the idle timeout and not idle yet: to be declared idle (after any confirmation). */
  due(st: AtEnd): boolean {
    return !st.idle && this.clock.now() - st.since >= this.idleTimeoutMs;
  }

  /** The entries due now (each checked as it is reached: time may pass while the caller confirms one). */
  *dueEntries(): Generator<AtEnd> {
    for (const st of [...this.atEnd.values()]) if (this.due(st)) yield st;
  }

  /** The partition is idle from now on (the runtime then tells its task). */
  declare(st: AtEnd): void {
    st.idle = true;
  }

  /** Still the partition's entry and not idle (it did not wake up or get revoked meanwhile). */
  current(st: AtEnd): boolean {
    return this.get(st.topic, st.partition) === st && !st.idle;
  }

  /** Not at its end after all (records are coming, or the broker could not say): the timer restarts. */
  restart(st: AtEnd): void {
    st.since = this.clock.now();
  }
}
