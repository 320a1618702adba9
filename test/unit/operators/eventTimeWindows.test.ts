/** @test {eventTimeWindows} */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '../../../core/errors.js';
import {
  EventTimeWindows,
  type EventTimeWindowsOptions,
  type EventTimeWindowsSnapshot,
  type WindowAssigner,
  eventTimeWindows,
} from '../../../operators/eventTimeWindows.js';
import { NO_WATERMARK, type WatermarkedBatch } from '../../../operators/types.js';
import { marbles } from './marbles.js';

interface Ev {
  k: string;
  t: number;
}
const e = (k: string, t: number): Ev => ({ k, t });

// The accumulator lists the event times it saw, so a test sees exactly which records a window got.
const options = (assigner: WindowAssigner, allowedLatenessMs = 0): EventTimeWindowsOptions<Ev, number[]> => ({
  assigner,
  keyOf: (x) => x.k,
  eventTimeOf: (x) => x.t,
  aggregator: { init: () => [], add: (acc, x) => [...acc, x.t], merge: (a, b) => [...a, ...b] },
  allowedLatenessMs,
});
const tumbling10 = options({ kind: 'tumbling', sizeMs: 10 });

describe('EventTimeWindows (core)', () => {
  test('tumbling: epoch-aligned half-open [start, end) boundaries; fires when W >= end; ordered by (end, key)', () => {
    const w = new EventTimeWindows(tumbling10);
    assert.deepEqual(w.process([e('k1', 0), e('k1', 9), e('k1', 10), e('k2', 5), e('k1', -1)]), []);
    assert.equal(w.openWindows, 4);
    assert.deepEqual(w.advanceWatermark(9), [{ key: 'k1', start: -10, end: 0, value: [-1] }]);
    assert.deepEqual(w.advanceWatermark(10), [
      { key: 'k1', start: 0, end: 10, value: [0, 9] },
      { key: 'k2', start: 0, end: 10, value: [5] },
    ]);
    assert.deepEqual(w.advanceWatermark(10), [], 'a watermark that does not advance fires nothing');
    assert.deepEqual(w.advanceWatermark(5), [], 'nor does one that goes back');
    assert.equal(w.watermark, 10);
    // [0, 10) has fired: 9 is late (side output, counted), 10 belongs to [10, 20).
    assert.deepEqual(w.process([e('k1', 9), e('k1', 10)]), [e('k1', 9)]);
    assert.equal(w.lateCount, 1);
    assert.deepEqual(w.advanceWatermark(35), [{ key: 'k1', start: 10, end: 20, value: [10, 10] }]);
    assert.equal(w.openWindows, 0);
  });

  test('allowed lateness delays firing to end + lateness and accepts records until then', () => {
    const w = new EventTimeWindows(options({ kind: 'tumbling', sizeMs: 10 }, 5));
    w.process([e('k', 1)]);
    assert.deepEqual(w.advanceWatermark(14), []);
    assert.deepEqual(w.process([e('k', 3)]), [], 'behind the watermark but within lateness');
    assert.deepEqual(w.advanceWatermark(15), [{ key: 'k', start: 0, end: 10, value: [1, 3] }]);
    assert.deepEqual(w.process([e('k', 4)]), [e('k', 4)]);
  });

  test('sliding size 10 slide 5: each record in both windows; partial lateness adds to the open window only', () => {
    const w = new EventTimeWindows(options({ kind: 'sliding', sizeMs: 10, slideMs: 5 }));
    w.process([e('k', 7), e('k', 12)]);
    assert.deepEqual(w.advanceWatermark(10), [{ key: 'k', start: 0, end: 10, value: [7] }]);
    // 8 belongs to [0,10) (fired) and [5,15) (open): accepted into [5,15). 4 belongs to [-5,5) and [0,10): late.
    assert.deepEqual(w.process([e('k', 8), e('k', 4)]), [e('k', 4)]);
    assert.deepEqual(w.advanceWatermark(20), [
      { key: 'k', start: 5, end: 15, value: [7, 12, 8] },
      { key: 'k', start: 10, end: 20, value: [12] },
    ]);
  });

  test('session gap 5: touching/overlapping windows merge (bridging record), stale timers are skipped', () => {
    const w = new EventTimeWindows(options({ kind: 'session', gapMs: 5 }));
    w.process([e('k1', 1), e('k1', 3), e('k1', 10), e('k2', 2)]); // k1: [1,8) and [10,15); k2: [2,7)
    assert.equal(w.openWindows, 3);
    w.process([e('k1', 8)]); // [8,13) touches [1,8) and overlaps [10,15): one session [1,15)
    assert.equal(w.openWindows, 2);
    assert.deepEqual(
      w.advanceWatermark(8),
      [{ key: 'k2', start: 2, end: 7, value: [2] }],
      'the timer at 8 is stale for k1',
    );
    assert.deepEqual(w.advanceWatermark(14), []);
    assert.deepEqual(w.advanceWatermark(15), [{ key: 'k1', start: 1, end: 15, value: [1, 3, 10, 8] }]);
    assert.deepEqual(
      w.process([e('k1', 2), e('k1', 14)]),
      [e('k1', 2)],
      '[2,7) has passed; [14,19) is still open',
    );
    assert.deepEqual(w.advanceWatermark(100), [{ key: 'k1', start: 14, end: 19, value: [14] }]);
    assert.equal(w.lateCount, 1);
  });

  test('a record whose own session would be past the watermark is accepted when it merges into an open one', () => {
    const w = new EventTimeWindows(options({ kind: 'session', gapMs: 5 }));
    w.process([e('k', 14), e('k', 18)]); // [14,19) + [18,23) = [14,23)
    w.advanceWatermark(18);
    assert.deepEqual(
      w.process([e('k', 10)]),
      [],
      '[10,15) alone has passed W=18, but it merges into [10,23)',
    );
    assert.deepEqual(w.process([e('k', 4)]), [e('k', 4)], '[4,9) touches nothing open: late');
    assert.deepEqual(w.advanceWatermark(22), []);
    assert.deepEqual(w.advanceWatermark(23), [{ key: 'k', start: 10, end: 23, value: [14, 18, 10] }]);
  });

  test('snapshot (plain JSON) + restore continues exactly like the original', () => {
    for (const assigner of [
      { kind: 'tumbling', sizeMs: 10 },
      { kind: 'sliding', sizeMs: 10, slideMs: 5 },
      { kind: 'session', gapMs: 4 },
    ] as WindowAssigner[]) {
      const a = new EventTimeWindows(options(assigner, 2));
      a.process([e('x', 1), e('y', 3), e('x', 12), e('y', 30)]);
      a.advanceWatermark(13);
      a.process([e('x', 0)]);
      const snap: EventTimeWindowsSnapshot<number[]> = JSON.parse(JSON.stringify(a.snapshot()));
      const b = EventTimeWindows.restore(options(assigner, 2), snap);
      assert.deepEqual(b.snapshot(), a.snapshot(), assigner.kind);
      const more = [e('x', 14), e('y', 16), e('x', 9)];
      assert.deepEqual(b.process(more), a.process(more), assigner.kind);
      assert.deepEqual(b.advanceWatermark(100), a.advanceWatermark(100), assigner.kind);
      assert.equal(b.lateCount, a.lateCount);
      assert.equal(b.openWindows, 0);
    }
    const t = new EventTimeWindows(options({ kind: 'tumbling', sizeMs: 10 }));
    t.process([e('b', 5), e('a', 15), e('a', 4)]);
    t.advanceWatermark(3);
    assert.deepEqual(t.snapshot(), {
      watermark: 3,
      lateCount: 0,
      windows: [
        ['a', 0, 10, [4]],
        ['b', 0, 10, [5]],
        ['a', 10, 20, [15]],
      ],
    });
    assert.equal(new EventTimeWindows(tumbling10).snapshot().watermark, NO_WATERMARK);
  });

  test('property: every record is late or in exactly one fired/open window (tumbling, session), independent of batching and restarts', () => {
    type Op = { kind: 'records'; records: Ev[] } | { kind: 'wm'; w: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant('records' as const),
        records: fc.array(
          fc.record({ k: fc.constantFrom('a', 'b', 'c'), t: fc.integer({ min: -20, max: 120 }) }),
          {
            maxLength: 6,
          },
        ),
      }),
      fc.record({ kind: fc.constant('wm' as const), w: fc.integer({ min: -30, max: 140 }) }),
    );
    const assigners: WindowAssigner[] = [
      { kind: 'tumbling', sizeMs: 10 },
      { kind: 'session', gapMs: 7 },
    ];
    const run = (assigner: WindowAssigner, ops: Op[], crashAt: number, split: boolean) => {
      let w = new EventTimeWindows(options(assigner, 3));
      const fired: unknown[] = [];
      const late: Ev[] = [];
      ops.forEach((o, i) => {
        if (i === crashAt)
          w = EventTimeWindows.restore(options(assigner, 3), JSON.parse(JSON.stringify(w.snapshot())));
        if (o.kind === 'wm') fired.push(...w.advanceWatermark(o.w));
        else if (split) for (const x of o.records) late.push(...w.process([x]));
        else late.push(...w.process(o.records));
      });
      const open = w.snapshot().windows;
      return { fired, late, open, lateCount: w.lateCount };
    };
    fc.assert(
      fc.property(
        fc.constantFrom(...assigners),
        fc.array(op, { maxLength: 25 }),
        fc.nat({ max: 25 }),
        (assigner, ops, crashAt) => {
          const plain = run(assigner, ops, -1, false);
          assert.deepEqual(run(assigner, ops, crashAt, true), plain);
          const total = ops.reduce((n, o) => n + (o.kind === 'records' ? o.records.length : 0), 0);
          const inWindows = [
            ...(plain.fired as { value: number[] }[]).map((f) => f.value),
            ...plain.open.map((x) => x[3]),
          ].reduce((n, v) => n + v.length, 0);
          assert.equal(plain.late.length, plain.lateCount);
          assert.equal(inWindows + plain.late.length, total, 'no record silently dropped or double counted');
        },
      ),
      { numRuns: 300 },
    );
  });

  test('invalid configuration names the key', () => {
    const bad = (o: EventTimeWindowsOptions<Ev, number[]>, key: string) =>
      assert.throws(
        () => new EventTimeWindows(o),
        (err: unknown) => err instanceof ConfigError && err.key === key,
      );
    bad(options({ kind: 'tumbling', sizeMs: 0 }), 'windows.sizeMs');
    bad(options({ kind: 'sliding', sizeMs: 10, slideMs: 0 }), 'windows.slideMs');
    bad(options({ kind: 'session', gapMs: 0 }), 'windows.gapMs');
    bad(
      { ...options({ kind: 'session', gapMs: 3 }), aggregator: { init: () => [], add: (a) => a } },
      'windows.aggregator.merge',
    );
    bad(options({ kind: 'tumbling', sizeMs: 10 }, -1), 'windows.allowedLatenessMs');
  });
});

describe('eventTimeWindows (operator)', () => {
  const wb = (records: Ev[], watermark: number): WatermarkedBatch<Ev> => ({ records, watermark });

  test('fires windows as the watermark progresses; a late record goes to the side output', () => {
    const late: Ev[] = [];
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('-a-b-c-d-|', {
        a: wb([e('k', 1), e('k', 4)], 2),
        b: wb([e('k', 12), e('j', 9)], 10), // fires [0,10) for j and k
        c: wb([e('k', 8)], 11), // late: [0,10) fired
        d: wb([], 30),
      });
      expectObservable(src.pipe(eventTimeWindows(tumbling10, (x) => late.push(x)))).toBe('---b---d-|', {
        b: [
          { key: 'j', start: 0, end: 10, value: [9] },
          { key: 'k', start: 0, end: 10, value: [1, 4] },
        ],
        d: [{ key: 'k', start: 10, end: 20, value: [12] }],
      });
      expectSubscriptions(src.subscriptions).toBe('^--------!');
    });
    assert.deepEqual(late, [e('k', 8)]);
  });

  test('teardown frees the per-key windows of a core made per subscription; a shared core is left to its owner', () => {
    const made: EventTimeWindows<Ev, number[]>[] = [];
    const shared = new EventTimeWindows(tumbling10);
    marbles(({ hot, expectObservable }) => {
      const src = hot('-a--b-|', { a: wb([e('k', 1), e('j', 2)], 0), b: wb([], 50) });
      const factory = () => {
        const w = new EventTimeWindows(tumbling10);
        made.push(w);
        return w;
      };
      expectObservable(src.pipe(eventTimeWindows(factory, () => {})), '^--!').toBe('---');
      expectObservable(src.pipe(eventTimeWindows(shared, () => {})), '^--!').toBe('---');
    });
    assert.equal(made.length, 1);
    assert.equal(made[0].openWindows, 0, 'cleared on unsubscribe');
    assert.equal(shared.openWindows, 2, 'shared core keeps its state for the checkpoint');
  });

  test('never, empty, error, throwing aggregator', () => {
    marbles(({ cold, expectObservable }) => {
      expectObservable(cold<WatermarkedBatch<Ev>>('-').pipe(eventTimeWindows(tumbling10, () => {}))).toBe(
        '-',
      );
      expectObservable(cold<WatermarkedBatch<Ev>>('|').pipe(eventTimeWindows(tumbling10, () => {}))).toBe(
        '|',
      );
      expectObservable(cold<WatermarkedBatch<Ev>>('-#').pipe(eventTimeWindows(tumbling10, () => {}))).toBe(
        '-#',
      );
      const throwing: EventTimeWindowsOptions<Ev, number> = {
        ...tumbling10,
        aggregator: {
          init: () => 0,
          add: () => {
            throw new Error('bad aggregator');
          },
        },
      };
      expectObservable(cold('-a', { a: wb([e('k', 1)], 0) }).pipe(eventTimeWindows(throwing, () => {}))).toBe(
        '-#',
        undefined,
        new Error('bad aggregator'),
      );
    });
  });
});
