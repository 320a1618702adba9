// The one retry rule of the job: a failure is retried when it is a ThermostatError marked
// retriable (a dependency that may come back: Redis, the broker, the registry), never otherwise;
// the waits between attempts grow as a capped exponential backoff. Waiting is injected, so a test
// runs the loop in virtual time.
import { ThermostatError } from './errors.js';
import { sleepOn, systemTimers } from './timers.js';

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** Retriable: a ThermostatError that says so. Anything else (a bug, fencing, bad input) is final. */
export const isRetriable = (e: unknown): e is ThermostatError => e instanceof ThermostatError && e.retriable;

/** min(initialMs · 2^attempt, maxMs) for attempt 0, 1, 2, … */
export function backoffMs(b: Backoff, attempt: number): number {
  return Math.min(b.initialMs * 2 ** Math.min(attempt, 20), b.maxMs);
}

export interface RetryOptions {
  backoff: Backoff;
  /** Whether this failure is retried (default `isRetriable`). */
  retriable?: (e: unknown, attempt: number) => boolean;
  /** Called before each wait (logs, metrics). */
  onRetry?: (e: unknown, attempt: number) => void;
  /** After a wait: true stops the loop (`retry` then resolves to undefined). */
  stop?: () => boolean;
  /** Waits `ms` (default a real timer). */
  wait?: (ms: number) => Promise<void>;
}

/**
 * Runs `fn` until it succeeds (its result), a failure is not retriable (rejects with it), or `stop`
 * says so after a wait (undefined).
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T | undefined> {
  const retriable = o.retriable ?? isRetriable;
  const wait = o.wait ?? sleepOn(systemTimers);
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!retriable(e, attempt)) throw e;
      o.onRetry?.(e, attempt);
      await wait(backoffMs(o.backoff, attempt));
      if (o.stop?.()) return undefined;
    }
  }
}
