/** @test {eventTimeTicks} */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '../../../core/errors.js';
import {
  EventTimeTicks,
  type EventTimeTicksSnapshot,
  eventTimeTicks,
} from '../../../operators/eventTimeTicks.js';
import { NO_WATERMARK } from '../../../operators/types.js';
import { marbles } from './marbles.js';

describe('EventTimeTicks (core)', () => {
  test('each boundary T is emitted once, when W >= T, ascending, also across jumps', () => {
    const t = new EventTimeTicks({ tickMs: 10, firstTick: 10 });
    assert.deepEqual(t.advance(NO_WATERMARK), []);
    assert.deepEqual(t.advance(9), []);
    assert.deepEqual(t.advance(10), [10]);
    assert.deepEqual(t.advance(19), []);
    assert.deepEqual(t.advance(45), [20, 30, 40]);
    assert.deepEqual(t.advance(45), []);
    assert.deepEqual(t.advance(30), [], 'a watermark going back emits nothing and does not re-arm');
    assert.deepEqual(t.advance(50), [50]);
    assert.equal(t.last, 50);
    assert.equal(t.next, 60);
  });

  test('without firstTick the first watermark only positions the ticker', () => {
    const t = new EventTimeTicks({ tickMs: 10 });
    assert.equal(t.next, undefined);
    assert.deepEqual(t.advance(25), []);
    assert.equal(t.next, 30);
    assert.deepEqual(t.advance(39), [30]);
    const neg = new EventTimeTicks({ tickMs: 10, firstTick: -20 });
    assert.deepEqual(neg.advance(-5), [-20, -10], 'epoch-aligned below zero too');
  });

  test('step counts the ticks crossed without allocating; the first watermark crosses none', () => {
    const t = new EventTimeTicks({ tickMs: 10 });
    assert.equal(t.step(NO_WATERMARK), 0);
    assert.equal(t.step(25), 0, 'positions at 20');
    assert.equal(t.last, 20);
    assert.equal(t.step(29), 0);
    assert.equal(t.step(61), 4, '30, 40, 50, 60');
    assert.equal(t.last, 60);
    assert.equal(t.step(40), 0, 'never back');
  });

  test('a stage closing ticks one by one: positionAt, nextFrom and emitThrough', () => {
    const t = new EventTimeTicks({ tickMs: 10 });
    assert.equal(t.nextFrom(34), 40, 'unpositioned: the tick after the boundary below the origin');
    assert.equal(t.next, undefined, 'nextFrom moves nothing');
    t.positionAt(34);
    t.positionAt(99);
    assert.equal(t.last, 30, 'positioned once');
    t.emitThrough(40);
    assert.equal(t.nextFrom(0), 50);
    t.emitThrough(90);
    t.emitThrough(70);
    assert.equal(t.last, 90, 'a run of empty ticks passed in one step; never back');
    assert.deepEqual(t.advance(111), [100, 110]);
  });

  test('snapshot/restore: exactly once across a restart', () => {
    const t = new EventTimeTicks({ tickMs: 10, firstTick: 0 });
    t.advance(21);
    const snap: EventTimeTicksSnapshot = JSON.parse(JSON.stringify(t.snapshot()));
    assert.deepEqual(snap, { lastTick: 20 });
    const r = EventTimeTicks.restore({ tickMs: 10, firstTick: 0 }, snap);
    assert.deepEqual(r.advance(21), []);
    assert.deepEqual(r.advance(30), [30]);
  });

  test('property: any watermark sequence (with restarts) yields every boundary up to the max once, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -50, max: 500 }), { maxLength: 30 }),
        fc.nat({ max: 30 }),
        (wms, crashAt) => {
          const o = { tickMs: 7, firstTick: 0 };
          let t = new EventTimeTicks(o);
          const out: number[] = [];
          wms.forEach((w, i) => {
            if (i === crashAt) t = EventTimeTicks.restore(o, JSON.parse(JSON.stringify(t.snapshot())));
            out.push(...t.advance(w));
          });
          const max = Math.max(-1, ...wms);
          const want: number[] = [];
          for (let T = 0; T <= max; T += 7) want.push(T);
          assert.deepEqual(out, want);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('configuration errors name the key', () => {
    assert.throws(
      () => new EventTimeTicks({ tickMs: 0 }),
      (e: unknown) => e instanceof ConfigError && e.key === 'ticks.tickMs',
    );
    assert.throws(
      () => new EventTimeTicks({ tickMs: 10, firstTick: 5 }),
      (e: unknown) => e instanceof ConfigError && e.key === 'ticks.firstTick',
    );
  });
});

describe('eventTimeTicks (operator)', () => {
  test('watermark progress to tick batches', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('--a--b--c--d--|', { a: 5, b: 12, c: 12, d: 35 });
      expectObservable(src.pipe(eventTimeTicks({ tickMs: 10, firstTick: 0 }))).toBe('--a--b-----d--|', {
        a: [0],
        b: [10],
        d: [20, 30],
      });
      expectSubscriptions(src.subscriptions).toBe('^-------------!');
    });
  });

  test('never, empty, error, early unsubscribe; a shared core remembers its last tick', () => {
    const shared = new EventTimeTicks({ tickMs: 10, firstTick: 0 });
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      expectObservable(cold<number>('-').pipe(eventTimeTicks({ tickMs: 10 }))).toBe('-');
      expectObservable(cold<number>('|').pipe(eventTimeTicks({ tickMs: 10 }))).toBe('|');
      expectObservable(cold<number>('-#').pipe(eventTimeTicks({ tickMs: 10 }))).toBe('-#');
      const src = hot('-a--b-|', { a: 10, b: 30 });
      expectObservable(src.pipe(eventTimeTicks(shared)), '^--!').toBe('-a', { a: [0, 10] });
      expectSubscriptions(src.subscriptions).toBe('^--!');
    });
    assert.deepEqual(shared.advance(30), [20, 30]);
  });
});
