// The one shape every core-backed operator shares: resolve the core (a shared instance the caller
// owns and snapshots, or options / a factory for a core per subscription), run `step` per batch,
// emit only non-empty results, send a throwing step to `subscriber.error`, and clear an owned
// core on teardown.
import { Observable, type OperatorFunction } from 'rxjs';

export interface ClearableCore {
  clear(): void;
}

export function coreOperator<C extends ClearableCore, Opts, I, O>(
  spec: C | Opts | (() => C),
  isCore: (x: unknown) => x is C,
  create: (opts: Opts) => C,
  step: (core: C, input: I) => O[],
): OperatorFunction<I, O[]> {
  return (source) =>
    new Observable<O[]>((subscriber) => {
      const owned = !isCore(spec);
      let core: C | null = isCore(spec)
        ? spec
        : typeof spec === 'function'
          ? (spec as () => C)()
          : create(spec as Opts);
      const sub = source.subscribe({
        next(input) {
          if (core === null) return;
          let out: O[];
          try {
            out = step(core, input);
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
        if (owned && core !== null) core.clear();
        core = null;
      };
    });
}
