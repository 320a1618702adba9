// Drives code that waits on injected timers (core/timers.ts VirtualTime) without real sleeps:
// let every pending promise continuation run, then jump the clock to the next timer, until a
// condition holds.
import type { VirtualTime } from '../../core/timers.js';

/** Lets every queued promise continuation run (one macrotask turn; no time passes). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Advances `time` timer by timer until `done()` holds. Fails when no timer is pending or the
 * virtual time passed `limitMs` from the start (the condition would never hold).
 */
export async function runUntil(time: VirtualTime, done: () => boolean, limitMs = 600_000): Promise<void> {
  const end = time.now() + limitMs;
  for (;;) {
    await settle();
    if (done()) return;
    const next = time.nextAt();
    if (next === null) throw new Error('runUntil: no timer pending and the condition does not hold');
    if (next > end) throw new Error(`runUntil: condition still false after ${limitMs} ms of virtual time`);
    time.advance(next - time.now());
  }
}

/** Advances `time` until `p` settles; its result. */
export async function drive<T>(time: VirtualTime, p: Promise<T>, limitMs?: number): Promise<T> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await runUntil(time, () => settled, limitMs);
  return p;
}
