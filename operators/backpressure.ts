// A bounded queue between a pull-based source that can pause (a Kafka consumer) and a slower
// async stage that processes one batch at a time.
import { Observable, type ObservableInput, type OperatorFunction, type Subscription, from } from 'rxjs';
import { ConfigError } from '../core/errors.js';

const DONE: readonly never[] = [];

export interface BackpressureOptions<T, R> {
  /** Pause the source when queued records exceed this. */
  readonly highWater: number;
  /** Resume the source when queued records drain to this or below. */
  readonly lowWater: number;
  /** Stops fetching (e.g. `consumer.pause(assignment)`). Called once per pause. */
  readonly pause: () => void;
  /** Starts fetching again. Called once per resume. */
  readonly resume: () => void;
  /** The slow stage: processes one batch; the next batch starts when it completes. */
  readonly process: (batch: readonly T[]) => ObservableInput<R>;
  /** Records in a batch. Default `batch.length`. */
  readonly sizeOf?: (batch: readonly T[]) => number;
  /** Called with the queued record count (waiting + in process) whenever it changes (metrics). */
  readonly onQueued?: (records: number) => void;
}

/**
 * `concatMap(process)` with a bounded, observable queue: batches wait in arrival order and are
 * processed one at a time; when the records queued (waiting + in process) exceed `highWater` the
 * source is paused, and when they drain to `lowWater` it is resumed. With a source that honours
 * `pause` before its next batch, the queue never holds more than `highWater` + one batch.
 * Completes once the source completed and the queue drained. An error from `process` is fatal
 * (forwarded downstream); per-record problems belong in `decodeWithDlq`, not here.
 *
 * @return an operator from batches to the values `process` emits, in batch order.
 */
export function backpressure<T, R>(options: BackpressureOptions<T, R>): OperatorFunction<readonly T[], R> {
  const { highWater, lowWater, pause, resume, process, onQueued } = options;
  const sizeOf = options.sizeOf ?? ((b: readonly T[]) => b.length);
  if (!(highWater > 0)) throw new ConfigError('backpressure.highWater', 'must be > 0');
  if (!(lowWater >= 0 && lowWater < highWater))
    throw new ConfigError('backpressure.lowWater', 'must be >= 0 and < highWater');
  return (source) =>
    new Observable<R>((subscriber) => {
      let queue: (readonly T[])[] = [];
      let head = 0;
      let queued = 0;
      let paused = false;
      let busy = false;
      let draining = false;
      let sourceDone = false;
      let inner: Subscription | null = null;

      const drain = (): void => {
        if (draining) return;
        draining = true;
        try {
          while (!busy && head < queue.length && !subscriber.closed) {
            const batch = queue[head];
            queue[head++] = DONE; // drop the reference so a processed batch can be collected
            if (head > 1024 && head * 2 > queue.length) {
              queue = queue.slice(head);
              head = 0;
            }
            const n = sizeOf(batch);
            busy = true;
            let finished = false;
            const sub = from(process(batch)).subscribe({
              next: (v) => subscriber.next(v),
              error: (e) => subscriber.error(e),
              complete: () => {
                finished = true;
                inner = null;
                busy = false;
                queued -= n;
                onQueued?.(queued);
                if (paused && queued <= lowWater) {
                  paused = false;
                  resume();
                }
                drain(); // no-op when called from inside the loop, which goes on by itself
              },
            });
            if (!finished) inner = sub;
          }
          if (!busy && head >= queue.length && sourceDone) subscriber.complete();
        } catch (e) {
          subscriber.error(e);
        } finally {
          draining = false;
        }
      };

      const sourceSub = source.subscribe({
        next(batch) {
          try {
            queue.push(batch);
            queued += sizeOf(batch);
            onQueued?.(queued);
            if (!paused && queued > highWater) {
              paused = true;
              pause();
            }
          } catch (e) {
            subscriber.error(e);
            return;
          }
          drain();
        },
        error: (e) => subscriber.error(e),
        complete: () => {
          sourceDone = true;
          drain();
        },
      });

      return () => {
        sourceSub.unsubscribe();
        inner?.unsubscribe();
        inner = null;
        queue = [];
        head = 0;
      };
    });
}
