/** @test {releaseBelowWatermark} */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Rng } from '../../../core/rng.js';
import {
  CanonicalOrderBuffer,
  type CanonicalOrderBufferOptions,
  type CanonicalOrderBufferSnapshot,
  releaseBelowWatermark,
} from '../../../operators/releaseBelowWatermark.js';
import {
  WatermarkMarkerCombiner,
  type WatermarkMarkerCombinerSnapshot,
} from '../../../operators/combineWatermarkMarkers.js';
import { NO_WATERMARK, type WatermarkedBatch } from '../../../operators/types.js';
import { marbles } from './marbles.js';

interface Rec {
  t: number;
  src: string;
  off: number;
}
const r = (src: string, off: number, t: number): Rec => ({ t, src, off });
const opts: CanonicalOrderBufferOptions<Rec> = {
  eventTimeOf: (x) => x.t,
  sourceOf: (x) => x.src,
  offsetOf: (x) => x.off,
};

describe('CanonicalOrderBuffer (core)', () => {
  test('releases records with event_time < W sorted by (event_time, source, offset)', () => {
    const b = new CanonicalOrderBuffer(opts);
    assert.deepEqual(
      b.push([r('p1', 7, 5), r('p0', 3, 5), r('p1', 2, 5), r('p0', 4, 9), r('p0', 1, 2), r('p1', 9, 10)]),
      [],
    );
    assert.equal(b.size, 6);
    assert.deepEqual(b.release(5), [r('p0', 1, 2)], 'event_time 5 is not below W=5');
    assert.deepEqual(b.release(10), [r('p0', 3, 5), r('p1', 2, 5), r('p1', 7, 5), r('p0', 4, 9)]);
    assert.deepEqual(b.release(10), [], 'same watermark: nothing');
    assert.deepEqual(b.release(3), [], 'a watermark going back: nothing');
    assert.equal(b.watermark, 10);
    assert.equal(b.size, 1);
    assert.deepEqual(b.buffered(), [r('p1', 9, 10)]);
  });

  test('a record below the last release watermark is returned as late (counted), not buffered', () => {
    const b = new CanonicalOrderBuffer(opts);
    b.release(10);
    assert.deepEqual(b.push([r('p0', 1, 9), r('p0', 2, 10)]), [r('p0', 1, 9)]);
    assert.equal(b.lateCount, 1);
    assert.equal(b.size, 1);
  });

  test('size and overCapacity report the bound for backpressure', () => {
    const b = new CanonicalOrderBuffer({ ...opts, capacity: 2 });
    b.push([r('a', 0, 1), r('a', 1, 2)]);
    assert.equal(b.overCapacity, false);
    b.push([r('a', 2, 3)]);
    assert.equal(b.overCapacity, true);
    b.release(2);
    assert.equal(b.size, 2);
    assert.equal(b.overCapacity, false);
  });

  test('snapshot is canonical plain JSON; restore continues identically', () => {
    const a = new CanonicalOrderBuffer(opts);
    const b = new CanonicalOrderBuffer(opts);
    a.push([r('p1', 0, 4), r('p0', 0, 4), r('p0', 1, 1)]);
    b.push([r('p0', 1, 1), r('p0', 0, 4)]);
    b.push([r('p1', 0, 4)]);
    assert.deepEqual(a.snapshot(), b.snapshot(), 'same content, different arrival order: same snapshot');
    assert.deepEqual(a.snapshot(), {
      releasedUpTo: NO_WATERMARK,
      records: [r('p0', 1, 1), r('p0', 0, 4), r('p1', 0, 4)],
    });
    a.release(2);
    const snap: CanonicalOrderBufferSnapshot<Rec> = JSON.parse(JSON.stringify(a.snapshot()));
    const c = CanonicalOrderBuffer.restore(opts, snap);
    assert.deepEqual(
      c.push([r('p0', 2, 1)]),
      [r('p0', 2, 1)],
      'restored release floor still rejects late records',
    );
    assert.deepEqual(c.release(5), [r('p0', 0, 4), r('p1', 0, 4)]);
  });
});

describe('CanonicalOrderBuffer: same released sequence whatever the interleaving (crash-recovery guarantee)', () => {
  // Models the real dataflow: each upstream source has a fixed record order. Its stage-1 task drops
  // records late against its own watermark (wm = max - ooo), cuts its log into random batches and
  // sends a marker (source, wm) after each. The sources' batches interleave at random; stage 2
  // pushes records, folds markers, and releases below (combined W - lateness). Optionally the
  // stage "crashes": buffer and combiner go through a JSON snapshot into fresh instances.
  const OOO = 3;
  const LATENESS = 2;
  const eventTimes = fc.array(fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 14 }), {
    minLength: 1,
    maxLength: 4,
  });

  function forwardedBySource(times: number[][]): Rec[][] {
    return times.map((ts, p) => {
      let max = NO_WATERMARK;
      const out: Rec[] = [];
      ts.forEach((t, off) => {
        const wm = max === NO_WATERMARK ? NO_WATERMARK : max - OOO;
        if (wm !== NO_WATERMARK && t < wm - LATENESS) return; // late at stage 1: depends on p's order only
        if (t > max) max = t;
        out.push(r(`p${p}`, off, t));
      });
      return out;
    });
  }

  function runStage2(times: number[][], seed: number, crashAt: number): { released: Rec[]; late: number } {
    const rng = new Rng(seed);
    const perSource = forwardedBySource(times);
    // Stage-1 output per source: batches of records, each followed by a marker; a final idle marker.
    type Item =
      | { kind: 'records'; records: Rec[] }
      | { kind: 'marker'; source: string; watermark: number; idle: boolean };
    const streams: Item[][] = perSource.map((recs, p) => {
      const items: Item[] = [];
      let max = NO_WATERMARK;
      for (let i = 0; i < recs.length;) {
        const n = 1 + rng.int(4);
        const batch = recs.slice(i, i + n);
        i += n;
        for (const x of batch) if (x.t > max) max = x.t;
        items.push(
          { kind: 'records', records: batch },
          { kind: 'marker', source: `p${p}`, watermark: max - OOO, idle: false },
        );
      }
      items.push({
        kind: 'marker',
        source: `p${p}`,
        watermark: max === NO_WATERMARK ? NO_WATERMARK : max - OOO,
        idle: true,
      });
      return items;
    });
    const sources = times.map((_, p) => `p${p}`);
    let buffer = new CanonicalOrderBuffer(opts);
    let combiner = new WatermarkMarkerCombiner({ expectedSources: sources });
    const released: Rec[] = [];
    let late = 0;
    let step = 0;
    const cursors = streams.map(() => 0);
    for (;;) {
      const live = cursors.map((c, p) => (c < streams[p].length ? p : -1)).filter((p) => p >= 0);
      if (live.length === 0) break;
      const p = live[rng.int(live.length)];
      const item = streams[p][cursors[p]++];
      if (item.kind === 'records') late += buffer.push(item.records).length;
      else {
        const w = combiner.onMarker(item);
        if (w !== NO_WATERMARK) released.push(...buffer.release(w - LATENESS));
      }
      if (++step === crashAt) {
        const b: CanonicalOrderBufferSnapshot<Rec> = JSON.parse(JSON.stringify(buffer.snapshot()));
        const c: WatermarkMarkerCombinerSnapshot = JSON.parse(JSON.stringify(combiner.snapshot()));
        buffer = CanonicalOrderBuffer.restore(opts, b);
        combiner = WatermarkMarkerCombiner.restore({ expectedSources: sources }, c);
      }
    }
    released.push(...buffer.release(Number.MAX_SAFE_INTEGER)); // end of input
    return { released, late };
  }

  const canonical = (times: number[][]): Rec[] =>
    forwardedBySource(times)
      .flat()
      .sort((a, b) => a.t - b.t || (a.src < b.src ? -1 : a.src > b.src ? 1 : 0) || a.off - b.off);

  test('any two interleavings/batchings release the identical sequence: the canonical order, nothing late', () => {
    fc.assert(
      fc.property(eventTimes, fc.integer(), fc.integer(), (times, seedA, seedB) => {
        const a = runStage2(times, seedA, -1);
        const b = runStage2(times, seedB, -1);
        assert.equal(a.late, 0);
        assert.equal(b.late, 0);
        assert.deepEqual(a.released, b.released);
        assert.deepEqual(a.released, canonical(times));
      }),
      { numRuns: 200 },
    );
  });

  test('a snapshot/restore at any step does not change the released sequence', () => {
    fc.assert(
      fc.property(eventTimes, fc.integer(), fc.nat({ max: 80 }), (times, seed, crashAt) => {
        assert.deepEqual(runStage2(times, seed, crashAt), runStage2(times, seed, -1));
      }),
      { numRuns: 200 },
    );
  });

  test('counter-check: without expected sources the first marker can overtake a silent source (late records)', () => {
    // p1 is silent until p0's marker moved W past p1's records: this is why stage 2 registers its sources.
    const b = new CanonicalOrderBuffer(opts);
    const c = new WatermarkMarkerCombiner();
    b.push([r('p0', 0, 20)]);
    b.release(c.onMarker({ source: 'p0', watermark: 17, idle: false }));
    assert.deepEqual(b.push([r('p1', 0, 5)]), [r('p1', 0, 5)]);
  });
});

describe('releaseBelowWatermark (operator)', () => {
  const wb = (records: Rec[], watermark: number): WatermarkedBatch<Rec> => ({ records, watermark });

  test('emits released records per batch in canonical order; late ones go to the side output', () => {
    const late: Rec[] = [];
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('-a-b-c-|', {
        a: wb([r('p1', 0, 5), r('p0', 0, 3)], 4),
        b: wb([r('p0', 1, 4), r('p0', 2, 1)], 9), // 1 < 4: late
        c: wb([], 9),
      });
      expectObservable(src.pipe(releaseBelowWatermark(opts, (x) => late.push(x)))).toBe('-a-b---|', {
        a: [r('p0', 0, 3)],
        b: [r('p0', 1, 4), r('p1', 0, 5)],
      });
      expectSubscriptions(src.subscriptions).toBe('^------!');
    });
    assert.deepEqual(late, [r('p0', 2, 1)]);
  });

  test('never, empty, error, early unsubscribe; teardown frees a per-subscription buffer', () => {
    const made: CanonicalOrderBuffer<Rec>[] = [];
    const factory = () => {
      const b = new CanonicalOrderBuffer(opts);
      made.push(b);
      return b;
    };
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      expectObservable(cold<WatermarkedBatch<Rec>>('-').pipe(releaseBelowWatermark(opts, () => {}))).toBe(
        '-',
      );
      expectObservable(cold<WatermarkedBatch<Rec>>('|').pipe(releaseBelowWatermark(opts, () => {}))).toBe(
        '|',
      );
      expectObservable(cold<WatermarkedBatch<Rec>>('--#').pipe(releaseBelowWatermark(opts, () => {}))).toBe(
        '--#',
      );
      const src = hot('-a--b-|', { a: wb([r('p0', 0, 1), r('p0', 1, 8)], 2), b: wb([], 20) });
      expectObservable(src.pipe(releaseBelowWatermark(factory, () => {})), '^--!').toBe('-a-', {
        a: [r('p0', 0, 1)],
      });
      expectSubscriptions(src.subscriptions).toBe('^--!');
    });
    assert.equal(made.length, 1);
    assert.equal(made[0].size, 0, 'the record at 8 was freed on unsubscribe');
  });

  test('a throwing event-time extractor errors the stream', () => {
    marbles(({ cold, expectObservable }) => {
      const bad = releaseBelowWatermark<Rec>(
        {
          ...opts,
          eventTimeOf: () => {
            throw new Error('no event time');
          },
        },
        () => {},
      );
      expectObservable(cold('-a', { a: wb([r('p0', 0, 1)], 5) }).pipe(bad)).toBe(
        '-#',
        undefined,
        new Error('no event time'),
      );
    });
  });
});
