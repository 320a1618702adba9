/** @test {backpressure} */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Observable, asyncScheduler, delay, of, toArray } from 'rxjs';
import { ConfigError } from '../../../core/errors.js';
import { backpressure } from '../../../operators/backpressure.js';
import { marbles } from './marbles.js';

/**
 * A pull-based source like a Kafka consumer: every `everyMs` it fetches one batch of `batchSize`
 * consecutive records, unless paused. `pause`/`resume` are what the operator calls.
 */
function pausableSource(total: number, batchSize: number, everyMs: number) {
  let paused = false;
  const log: string[] = [];
  const source = new Observable<number[]>((subscriber) => {
    let next = 0;
    return asyncScheduler.schedule(function () {
      if (subscriber.closed) return;
      if (!paused) {
        const batch: number[] = [];
        for (let i = 0; i < batchSize && next < total; i++) batch.push(next++);
        subscriber.next(batch);
        if (next === total) {
          subscriber.complete();
          return;
        }
      }
      this.schedule(undefined, everyMs);
    }, everyMs);
  });
  return {
    source,
    log,
    pause: () => {
      paused = true;
      log.push(`pause@${asyncScheduler.now()}`);
    },
    resume: () => {
      paused = false;
      log.push(`resume@${asyncScheduler.now()}`);
    },
  };
}

describe('backpressure', () => {
  test('fast source, slow consumer (virtual time): queue bounded by highWater + one batch, every record once, in order', () => {
    const run = (highWater: number, lowWater: number) => {
      const src = pausableSource(400, 10, 1); // 10 records/ms
      let maxQueued = 0;
      let out: number[] = [];
      marbles(() => {
        src.source
          .pipe(
            backpressure<number, number[]>({
              highWater,
              lowWater,
              pause: src.pause,
              resume: src.resume,
              process: (b) => of([...b]).pipe(delay(5)), // 2 records/ms
              onQueued: (n) => (maxQueued = Math.max(maxQueued, n)),
            }),
            toArray(),
          )
          .subscribe((batches) => (out = batches.flat()));
      });
      return { maxQueued, out, log: src.log };
    };
    const bounded = run(50, 20);
    assert.deepEqual(
      bounded.out,
      Array.from({ length: 400 }, (_, i) => i),
    );
    assert.equal(bounded.maxQueued, 50 + 10, 'the bound is reached exactly: highWater + one batch');
    const pauses = bounded.log.filter((l) => l.startsWith('pause')).length;
    const resumes = bounded.log.filter((l) => l.startsWith('resume')).length;
    assert.ok(pauses >= 5, `paused ${pauses} times`);
    assert.ok(resumes === pauses || resumes === pauses - 1);
    // Batches arrive at t = 1, 2, 3... ms; the first finishes at t = 6. At t = 6 the sixth batch makes
    // 60 queued > 50: pause. Then one batch finishes every 5 ms (50 at 6, 40 at 11, 30 at 16, 20 at 21):
    // resume at 21.
    assert.deepEqual(bounded.log.slice(0, 2), ['pause@6', 'resume@21']);
    // Control: with a high water the queue never reaches, the same run queues far more (the test can fail).
    const unbounded = run(1e9, 0);
    assert.deepEqual(unbounded.out, bounded.out);
    assert.ok(unbounded.maxQueued > 250, `unbounded queued ${unbounded.maxQueued}`);
  });

  test('processes batches one at a time in order (concat semantics), completes after draining', () => {
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold('--x|');
      const src = hot('-a-b----|', { a: [1], b: [2] });
      const bp = backpressure<number, string>({
        highWater: 10,
        lowWater: 1,
        pause: () => {},
        resume: () => {},
        process: () => inner,
      });
      expectObservable(src.pipe(bp)).toBe('---x--x-|');
      expectSubscriptions(inner.subscriptions).toBe(['-^--!', '----^--!']);
    });
  });

  test('pause once when above highWater, resume once when drained to lowWater (exact frames)', () => {
    const log: string[] = [];
    marbles(({ cold, hot, expectObservable }) => {
      const src = hot('-a-b-c------|', { a: [1, 2], b: [3], c: [4] });
      const bp = backpressure<number, number[]>({
        highWater: 2,
        lowWater: 1,
        pause: () => log.push(`pause@${asyncScheduler.now()}`),
        resume: () => log.push(`resume@${asyncScheduler.now()}`),
        process: (b) => cold('--(v|)', { v: [...b] }),
      });
      // a: queued 2 (not > 2); b at 3: queued 3 -> pause; a done at 3 -> 1 <= 1 -> resume; c at 5 -> 2.
      expectObservable(src.pipe(bp)).toBe('---a-b-c----|', { a: [1, 2], b: [3], c: [4] });
    });
    assert.deepEqual(log, ['pause@3', 'resume@3']);
  });

  test('never, empty, error (source and process), early unsubscribe tears down the running batch', () => {
    const opts = { highWater: 5, lowWater: 1, pause: () => {}, resume: () => {} };
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      expectObservable(cold<number[]>('-').pipe(backpressure({ ...opts, process: (b) => of(b) }))).toBe('-');
      expectObservable(cold<number[]>('|').pipe(backpressure({ ...opts, process: (b) => of(b) }))).toBe('|');
      expectObservable(cold<number[]>('-#').pipe(backpressure({ ...opts, process: (b) => of(b) }))).toBe(
        '-#',
      );
      expectObservable(
        cold('-a', { a: [1] }).pipe(
          backpressure({ ...opts, process: () => cold('-#', undefined, new Error('sink down')) }),
        ),
      ).toBe('--#', undefined, new Error('sink down'));
      expectObservable(
        cold('-a', { a: [1] }).pipe(
          backpressure({
            ...opts,
            process: () => {
              throw new Error('sync throw');
            },
          }),
        ),
      ).toBe('-#', undefined, new Error('sync throw'));
      const inner = cold('---x|');
      const src = hot('-a-----|', { a: [1] });
      expectObservable(src.pipe(backpressure({ ...opts, process: () => inner })), '^--!').toBe('---');
      expectSubscriptions(src.subscriptions).toBe('^--!');
      expectSubscriptions(inner.subscriptions).toBe('-^-!');
    });
  });

  test('promise-returning process works too', async () => {
    const got = await new Promise<number[]>((resolve, reject) => {
      const acc: number[] = [];
      of([1, 2], [3])
        .pipe(
          backpressure<number, number>({
            highWater: 1,
            lowWater: 0,
            pause: () => {},
            resume: () => {},
            process: async (b) => b.length,
          }),
        )
        .subscribe({ next: (v) => acc.push(v), error: reject, complete: () => resolve(acc) });
    });
    assert.deepEqual(got, [2, 1]);
  });

  test('invalid water marks name the key', () => {
    const base = { pause: () => {}, resume: () => {}, process: (b: readonly number[]) => of(b) };
    assert.throws(
      () => backpressure({ ...base, highWater: 0, lowWater: 0 }),
      (e: unknown) => e instanceof ConfigError && e.key === 'backpressure.highWater',
    );
    assert.throws(
      () => backpressure({ ...base, highWater: 5, lowWater: 5 }),
      (e: unknown) => e instanceof ConfigError && e.key === 'backpressure.lowWater',
    );
  });
});
