/** @test {dedupeBySourceOffset} */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SourceOffsetDedupe,
  type SourceOffsetDedupeSnapshot,
  dedupeBySourceOffset,
} from '../../../operators/dedupeBySourceOffset.js';
import { marbles } from './marbles.js';

interface Rec {
  src: string;
  off: number;
}
const r = (src: string, off: number): Rec => ({ src, off });
const opts = { sourceOf: (x: Rec) => x.src, offsetOf: (x: Rec) => x.off };

describe('SourceOffsetDedupe (core)', () => {
  test('drops a record whose offset is <= the last seen from its source (upstream replay), per source', () => {
    const d = new SourceOffsetDedupe(opts);
    assert.deepEqual(d.filter([r('a', 0), r('a', 1), r('b', 0)]), [r('a', 0), r('a', 1), r('b', 0)]);
    // Upstream a restarted from its checkpoint at offset 1 and replays 1..3.
    assert.deepEqual(d.filter([r('a', 1), r('b', 1), r('a', 2), r('a', 3)]), [
      r('b', 1),
      r('a', 2),
      r('a', 3),
    ]);
    assert.equal(d.dropped, 1);
    assert.equal(d.lastOffset('a'), 3);
    assert.equal(d.lastOffset('zz'), undefined);
  });

  test('accept (per record, no allocation) agrees with filter', () => {
    const d = new SourceOffsetDedupe(opts);
    assert.deepEqual(
      [r('a', 2), r('a', 2), r('a', 1), r('a', 3)].map((x) => d.accept(x)),
      [true, false, false, true],
    );
    assert.equal(d.dropped, 2);
  });

  test('snapshot is sorted plain JSON; restore keeps dropping replays', () => {
    const d = new SourceOffsetDedupe(opts);
    d.filter([r('b', 4), r('a', 9), r('a', 9)]);
    const snap: SourceOffsetDedupeSnapshot = JSON.parse(JSON.stringify(d.snapshot()));
    assert.deepEqual(snap, {
      dropped: 1,
      offsets: [
        ['a', 9],
        ['b', 4],
      ],
    });
    const x = SourceOffsetDedupe.restore(opts, snap);
    assert.deepEqual(x.filter([r('a', 8), r('a', 9), r('b', 5)]), [r('b', 5)]);
    assert.equal(x.dropped, 3);
  });
});

describe('dedupeBySourceOffset (operator)', () => {
  test('replayed batches are filtered; a fully replayed batch emits nothing', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('-a-b-c-|', {
        a: [r('a', 1), r('a', 2)],
        b: [r('a', 1), r('a', 2)],
        c: [r('a', 2), r('a', 3)],
      });
      expectObservable(src.pipe(dedupeBySourceOffset(opts))).toBe('-a---c-|', {
        a: [r('a', 1), r('a', 2)],
        c: [r('a', 3)],
      });
      expectSubscriptions(src.subscriptions).toBe('^------!');
    });
  });

  test('never, empty, error, early unsubscribe with teardown of the per-subscription core', () => {
    const made: SourceOffsetDedupe<Rec>[] = [];
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      expectObservable(cold<Rec[]>('-').pipe(dedupeBySourceOffset(opts))).toBe('-');
      expectObservable(cold<Rec[]>('|').pipe(dedupeBySourceOffset(opts))).toBe('|');
      expectObservable(cold('a#', { a: [r('a', 0)] }).pipe(dedupeBySourceOffset(opts))).toBe('a#', {
        a: [r('a', 0)],
      });
      const src = hot('-a--b-|', { a: [r('a', 0)], b: [r('a', 1)] });
      const factory = () => {
        const d = new SourceOffsetDedupe(opts);
        made.push(d);
        return d;
      };
      expectObservable(src.pipe(dedupeBySourceOffset(factory)), '^--!').toBe('-a', { a: [r('a', 0)] });
      expectSubscriptions(src.subscriptions).toBe('^--!');
    });
    assert.equal(made[0].lastOffset('a'), undefined, 'cleared on teardown');
  });

  test('a throwing source extractor errors the stream', () => {
    marbles(({ cold, expectObservable }) => {
      const bad = dedupeBySourceOffset<Rec>({
        ...opts,
        sourceOf: () => {
          throw new Error('no source');
        },
      });
      expectObservable(cold('-a', { a: [r('a', 0)] }).pipe(bad)).toBe(
        '-#',
        undefined,
        new Error('no source'),
      );
    });
  });
});
