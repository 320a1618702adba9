// The one shape every core-backed operator shares: resolve the core (a shared instance the caller
// owns and snapshots, or options / a factory for a core per subscription), run `step` per batch,
// emit only non-empty results, send a throwing step to `subscriber.error`, and clear an owned
// core on teardown.
import { Observable, type OperatorFunction } from 'rxjs';

export interface ClearableCore {
  clear(): void;
}

/**
 * The subscription every operator here shares: per subscription, `setup` makes the step (and what
 * to free on teardown); each input runs `step`, a non-empty result is emitted, a throwing step goes
 * to `subscriber.error`; upstream errors and completion pass through.
 */
export function batchOperator<I, O>(
  setup: () => { step: (input: I) => O[]; teardown?: () => void },
): OperatorFunction<I, O[]> {
  return (source) =>
    new Observable<O[]>((subscriber) => {
      const { step, teardown } = setup();
      let open = true;
      const sub = source.subscribe({
        next(input) {
          if (!open) return;
          let out: O[];
          try {
            out = step(input);
          } catch (e) {
            subscriber.error(e);
            return;
          }
          if (out.length > 0) subscriber.next(out);
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        if (open) teardown?.();
        open = false;
      };
    });
}

export function coreOperator<C extends ClearableCore, Opts, I, O>(
  spec: C | Opts | (() => C),
  isCore: (x: unknown) => x is C,
  create: (opts: Opts) => C,
  step: (core: C, input: I) => O[],
): OperatorFunction<I, O[]> {
  return batchOperator(() => {
    const core: C = isCore(spec)
      ? spec
      : typeof spec === 'function'
        ? (spec as () => C)()
        : create(spec as Opts);
    return {
      step: (input: I) => step(core, input),
      // A core the operator made is cleared; a shared one belongs to the caller.
      teardown: isCore(spec) ? undefined : () => core.clear(),
    };
  });
}
