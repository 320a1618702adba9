/** @test {combineWatermarkMarkers} */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  WatermarkMarkerCombiner,
  combineWatermarkMarkers,
  type WatermarkMarker,
  type WatermarkMarkerCombinerSnapshot,
} from '../../../operators/combineWatermarkMarkers.js';
import { NO_WATERMARK } from '../../../operators/types.js';
import { marbles } from './marbles.js';

const m = (source: string, watermark: number, idle = false): WatermarkMarker => ({ source, watermark, idle });

describe('WatermarkMarkerCombiner (core)', () => {
  test('min over non-idle sources; expected sources hold it back; monotone; max when all idle', () => {
    const c = new WatermarkMarkerCombiner({ expectedSources: ['a', 'b'], allowedLatenessMs: 5 });
    assert.equal(c.onMarker(m('a', 50)), NO_WATERMARK, 'b has not reported');
    assert.equal(c.onMarker(m('b', 30)), 30);
    assert.equal(c.onMarker(m('b', 20)), 30, 'a replayed, older marker is ignored');
    assert.equal(c.sourceWatermark('b'), 30);
    assert.equal(c.onMarker(m('b', 40, true)), 50, 'b idle: only a counts');
    assert.equal(c.onMarker(m('c', 45)), 50, 'a new source behind does not pull the watermark back');
    assert.equal(c.onMarker(m('c', 70)), 50);
    assert.equal(c.onMarker(m('a', 90)), 70);
    assert.equal(c.onMarker(m('a', 90, true)), 70);
    assert.equal(c.onMarker(m('c', 80, true)), 90, 'all idle: the max');
    assert.equal(c.isLate(84), true);
    assert.equal(c.isLate(85), false);
  });

  test('snapshot round-trips through JSON', () => {
    const c = new WatermarkMarkerCombiner({ expectedSources: ['b', 'a'] });
    c.onMarker(m('a', 10));
    c.onMarker(m('b', 7, true));
    const snap: WatermarkMarkerCombinerSnapshot = JSON.parse(JSON.stringify(c.snapshot()));
    assert.deepEqual(snap, {
      watermark: 10,
      sources: [
        ['a', 10, false],
        ['b', 7, true],
      ],
    });
    const r = WatermarkMarkerCombiner.restore({}, snap);
    assert.equal(r.onMarker(m('b', 8)), 10);
    assert.equal(r.onMarker(m('b', 12)), 10);
    assert.equal(r.onMarker(m('a', 15)), 12);
  });
});

describe('combineWatermarkMarkers (operator)', () => {
  test('emits the combined watermark only when it advances', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('-a-b-c-d-|', {
        a: [m('a', 5), m('b', 3)],
        b: [m('a', 9)],
        c: [m('b', 8)],
        d: [m('b', 20)],
      });
      // Without expected sources the first marker (a: 5) moves the watermark before b is known.
      expectObservable(src.pipe(combineWatermarkMarkers())).toBe('-a---c-d-|', { a: 5, c: 8, d: 9 });
      // With them, nothing moves until every source reported.
      expectObservable(src.pipe(combineWatermarkMarkers({ expectedSources: ['a', 'b'] }))).toBe(
        '-a---c-d-|',
        { a: 3, c: 8, d: 9 },
      );
      expectSubscriptions(src.subscriptions).toBe(['^--------!', '^--------!']);
    });
  });

  test('never, empty, error, early unsubscribe', () => {
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      expectObservable(cold<WatermarkMarker[]>('-').pipe(combineWatermarkMarkers())).toBe('-');
      expectObservable(cold<WatermarkMarker[]>('|').pipe(combineWatermarkMarkers())).toBe('|');
      expectObservable(cold('a#', { a: [m('a', 1)] }).pipe(combineWatermarkMarkers())).toBe('a#', { a: 1 });
      const src = hot('-a--b-|', { a: [m('a', 1)], b: [m('a', 2)] });
      expectObservable(src.pipe(combineWatermarkMarkers()), '^--!').toBe('-a', { a: 1 });
      expectSubscriptions(src.subscriptions).toBe('^--!');
    });
  });
});
