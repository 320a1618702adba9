/** @test {withWatermarks} */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../core/errors.js';
import {
  WatermarkTracker,
  observeEventTime,
  type EventTimeClock,
  withWatermarks,
  type WatermarkTrackerSnapshot,
} from '../../../operators/withWatermarks.js';
import { NO_WATERMARK } from '../../../operators/types.js';
import { marbles } from './marbles.js';

interface Rec {
  s: string;
  t: number;
}
const r = (s: string, t: number): Rec => ({ s, t });
const opts = () => ({ outOfOrdernessMs: 2, allowedLatenessMs: 1 });

describe('WatermarkTracker (core)', () => {
  test('per-source watermark is max event time minus out-of-orderness; combined is the min; monotone', () => {
    const w = new WatermarkTracker(opts());
    w.register('p0');
    w.register('p1');
    w.observe('p0', 10);
    assert.equal(w.sourceWatermark('p0'), 8);
    assert.equal(w.current(), NO_WATERMARK, 'p1 has not reported: it holds the watermark back');
    w.observe('p1', 6);
    assert.equal(w.current(), 4);
    w.observe('p1', 3); // older record: max does not move
    assert.equal(w.sourceWatermark('p1'), 4);
    w.observe('p1', 30);
    assert.equal(w.current(), 8);
    w.remove('p0');
    assert.equal(w.current(), 28);
    w.register('p2'); // a new source that has not reported cannot pull the combined watermark back
    assert.equal(w.current(), 28);
  });

  test('a source clock: first and highest event time; true when the watermark moved', () => {
    const c: EventTimeClock = { maxT: -Infinity, first: null, idle: true };
    assert.equal(observeEventTime(c, 20), true);
    assert.equal(observeEventTime(c, 15), false, 'out of order: the highest stays');
    assert.equal(observeEventTime(c, 20), false);
    assert.deepEqual(c, { maxT: 20, first: 20, idle: false });
  });

  test('idleness: a source the runtime declared idle is left out of the min, and wakes up on a record', () => {
    const w = new WatermarkTracker(opts());
    w.observe('p0', 102); // wm 100
    w.observe('p1', 12); // wm 10
    assert.equal(w.current(), 10);
    assert.equal(w.isIdle('p1'), false);
    w.setIdle('p1', true);
    assert.equal(w.isIdle('p1'), true);
    assert.equal(w.current(), 100);
    w.observe('p1', 20); // active again, with wm 18 < 100: combined stays at 100 (monotone)
    assert.equal(w.isIdle('p1'), false);
    assert.equal(w.current(), 100);
    w.observe('p0', 202);
    assert.equal(w.current(), 100, 'min(200, 18) = 18 is behind 100: no regression');
    w.observe('p1', 152);
    assert.equal(w.current(), 150);
  });

  test('when every source is idle the combined watermark is the max of them', () => {
    const w = new WatermarkTracker(opts());
    w.observe('p0', 52);
    w.observe('p1', 12);
    w.setIdle('p0', true);
    assert.equal(w.current(), 10);
    w.setIdle('p1', true);
    assert.equal(w.current(), 50);
  });

  test('isLate is against the combined watermark minus allowed lateness; isLateFor against the source', () => {
    const w = new WatermarkTracker(opts());
    assert.equal(w.isLate(-1e12), false, 'nothing is late before any watermark');
    w.observe('p0', 22); // wm 20
    w.observe('p1', 12); // wm 10
    w.current();
    assert.equal(w.isLate(9), false);
    assert.equal(w.isLate(8), true);
    assert.equal(w.isLateFor('p0', 19), false);
    assert.equal(w.isLateFor('p0', 18), true);
    assert.equal(w.isLateFor('p9', 0), false, 'unknown source');
  });

  test('snapshot is plain JSON and restore continues identically', () => {
    const w = new WatermarkTracker(opts());
    w.register('p2');
    w.observe('p1', 40);
    w.observe('p0', 30);
    w.observe('p0', 25);
    w.current();
    const snap: WatermarkTrackerSnapshot = JSON.parse(JSON.stringify(w.snapshot()));
    assert.deepEqual(snap, {
      watermark: NO_WATERMARK,
      sources: [
        ['p0', 30, 30, false],
        ['p1', 40, 40, false],
        ['p2', NO_WATERMARK, null, false],
      ],
    });
    const r2 = WatermarkTracker.restore(opts(), snap);
    w.setIdle('p2', true);
    r2.setIdle('p2', true);
    assert.equal(w.current(), 28);
    assert.equal(r2.current(), 28);
    assert.deepEqual(r2.snapshot(), w.snapshot());
  });

  test('invalid options name the key', () => {
    assert.throws(
      () => new WatermarkTracker({ ...opts(), outOfOrdernessMs: -1 }),
      (e: unknown) => e instanceof ConfigError && e.key === 'watermark.outOfOrdernessMs',
    );
  });
});

describe('withWatermarks (operator)', () => {
  test('stamps each batch with the watermark after it; late records (per source, per record) go to the side output', () => {
    const tracker = new WatermarkTracker(opts());
    tracker.register('p0');
    tracker.register('p1');
    const late: Rec[] = [];
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('-a-b-c-d-|', {
        a: [r('p0', 5), r('p0', 9)],
        b: [r('p1', 4)],
        c: [r('p0', 3)], // 3 < wm(p0) 7 - lateness 1: late
        d: [r('p1', 20), r('p1', 12)], // after 20, wm(p1) = 18: 12 is late
      });
      expectObservable(
        src.pipe(
          withWatermarks({
            tracker,
            sourceOf: (x) => x.s,
            eventTimeOf: (x) => x.t,
            late: (x) => late.push(x),
          }),
        ),
      ).toBe('-a-b-c-d-|', {
        a: { records: [r('p0', 5), r('p0', 9)], watermark: NO_WATERMARK },
        b: { records: [r('p1', 4)], watermark: 2 },
        c: { records: [], watermark: 2 },
        d: { records: [r('p1', 20)], watermark: 7 },
      });
      expectSubscriptions(src.subscriptions).toBe('^--------!');
    });
    assert.deepEqual(late, [r('p0', 3), r('p1', 12)]);
  });

  test("lateness 'combined' judges against the combined watermark before the record", () => {
    const tracker = new WatermarkTracker(opts());
    const late: Rec[] = [];
    marbles(({ cold, expectObservable }) => {
      const src = cold('-a-b-|', { a: [r('p0', 22)], b: [r('p1', 18), r('p1', 19)] });
      expectObservable(
        src.pipe(
          withWatermarks({
            tracker,
            sourceOf: (x) => x.s,
            eventTimeOf: (x) => x.t,
            late: (x) => late.push(x),
            lateness: 'combined',
          }),
        ),
      ).toBe('-a-b-|', {
        a: { records: [r('p0', 22)], watermark: 20 },
        b: { records: [r('p1', 19)], watermark: 20 },
      });
    });
    // 18 < 20 - 1 is late although p1 had no watermark yet; it still advanced p1 (wm 17 -> 19 - 2).
    assert.deepEqual(late, [r('p1', 18)]);
    assert.equal(tracker.sourceWatermark('p1'), 17);
  });

  test('never, empty, error, early unsubscribe, throwing callback', () => {
    const mk = () =>
      withWatermarks<Rec>({
        tracker: new WatermarkTracker(opts()),
        sourceOf: (x) => x.s,
        eventTimeOf: (x) => x.t,
        late: () => {},
      });
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      expectObservable(cold<Rec[]>('-').pipe(mk())).toBe('-');
      expectObservable(cold<Rec[]>('|').pipe(mk())).toBe('|');
      expectObservable(cold<Rec[]>('--#').pipe(mk())).toBe('--#');
      const src = hot('-a--b--|', { a: [r('p0', 3)], b: [r('p0', 9)] });
      expectObservable(src.pipe(mk()), '^--!').toBe('-a-', { a: { records: [r('p0', 3)], watermark: 1 } });
      expectSubscriptions(src.subscriptions).toBe('^--!');
      const boom = withWatermarks<Rec>({
        tracker: new WatermarkTracker(opts()),
        sourceOf: () => {
          throw new Error('no source');
        },
        eventTimeOf: (x) => x.t,
        late: () => {},
      });
      expectObservable(cold('-a-b', { a: [r('p0', 1)], b: [r('p0', 2)] }).pipe(boom)).toBe(
        '-#',
        undefined,
        new Error('no source'),
      );
    });
  });
});
