/** @test {dedupe} */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../core/errors.js';
import { Dedupe, type DedupeOptions, type DedupeSnapshot, dedupe } from '../../../operators/dedupe.js';
import { marbles } from './marbles.js';

interface Ev {
  id: string;
  t: number;
}
const e = (id: string, t = 0): Ev => ({ id, t });
const byCount: DedupeOptions<Ev> = { idOf: (x) => x.id, maxIds: 2 };
const byTime: DedupeOptions<Ev> = { idOf: (x) => x.id, eventTimeOf: (x) => x.t, horizonMs: 10 };

describe('Dedupe (core)', () => {
  test('maxIds bounds memory; the oldest id leaves first; decisions do not depend on batching', () => {
    const input = [e('a'), e('b'), e('a'), e('c'), e('a'), e('c')];
    const whole = new Dedupe(byCount);
    assert.deepEqual(whole.filter(input), [e('a'), e('b'), e('c'), e('a')]);
    assert.equal(whole.dropped, 2);
    assert.equal(whole.size, 2);
    const split = new Dedupe(byCount);
    const out = [
      ...split.filter(input.slice(0, 1)),
      ...split.filter(input.slice(1, 4)),
      ...split.filter(input.slice(4)),
    ];
    assert.deepEqual(out, [e('a'), e('b'), e('c'), e('a')]);
    assert.deepEqual(split.snapshot(), whole.snapshot());
  });

  test('event-time horizon: an id is forgotten once it is older than max event time - horizon', () => {
    const d = new Dedupe(byTime);
    assert.deepEqual(d.filter([e('a', 0), e('b', 5), e('a', 8), e('b', 15)]), [e('a', 0), e('b', 5)]);
    assert.deepEqual(d.snapshot(), {
      maxEventTime: 5,
      dropped: 2,
      entries: [
        ['a', 0],
        ['b', 5],
      ],
    });
    assert.deepEqual(d.filter([e('c', 16)]), [e('c', 16)]); // cutoff 6: a (0) and b (5) leave
    assert.deepEqual(d.snapshot(), { maxEventTime: 16, dropped: 2, entries: [['c', 16]] });
    assert.deepEqual(d.filter([e('a', 17), e('c', 17)]), [e('a', 17)]);
    assert.equal(d.dropped, 3);
  });

  test('accept (per record) agrees with filter', () => {
    const d = new Dedupe(byCount);
    assert.deepEqual(
      [e('a'), e('a'), e('b'), e('c'), e('a')].map((x) => d.accept(x)),
      [true, false, true, true, true],
    );
    assert.equal(d.dropped, 1);
  });

  test('snapshot round-trips through JSON and restore continues identically', () => {
    const d = new Dedupe({ ...byTime, maxIds: 3 });
    d.filter([e('x', 1), e('y', 2), e('x', 3)]);
    const snap: DedupeSnapshot = JSON.parse(JSON.stringify(d.snapshot()));
    const r = Dedupe.restore({ ...byTime, maxIds: 3 }, snap);
    const more = [e('y', 4), e('z', 5), e('w', 6), e('x', 7)];
    assert.deepEqual(
      r.filter(more),
      [e('z', 5), e('w', 6), e('x', 7)],
      'y is a duplicate; w pushes x out (maxIds 3), so x passes again',
    );
    assert.deepEqual(d.filter(more), [e('z', 5), e('w', 6), e('x', 7)]);
    assert.deepEqual(r.snapshot(), {
      maxEventTime: 7,
      dropped: 2,
      entries: [
        ['z', 5],
        ['w', 6],
        ['x', 7],
      ],
    });
    assert.deepEqual(r.snapshot(), d.snapshot());
  });

  test('memory must be bounded: configuration errors name the key', () => {
    const key = (o: DedupeOptions<Ev>, k: string) =>
      assert.throws(
        () => new Dedupe(o),
        (err: unknown) => err instanceof ConfigError && err.key === k,
      );
    key({ idOf: (x) => x.id }, 'dedupe');
    key({ idOf: (x) => x.id, horizonMs: 5 }, 'dedupe.eventTimeOf');
    key({ idOf: (x) => x.id, maxIds: 0 }, 'dedupe.maxIds');
  });
});

describe('dedupe (operator)', () => {
  test('drops duplicates across batches; an all-duplicate batch emits nothing', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('-a-b-c-|', { a: [e('1'), e('2'), e('1')], b: [e('2')], c: [e('3'), e('3')] });
      expectObservable(src.pipe(dedupe({ idOf: (x) => x.id, maxIds: 10 }))).toBe('-a---c-|', {
        a: [e('1'), e('2')],
        c: [e('3')],
      });
      expectSubscriptions(src.subscriptions).toBe('^------!');
    });
  });

  test('never, empty, error, early unsubscribe and teardown of a per-subscription core; shared core keeps its ids', () => {
    const made: Dedupe<Ev>[] = [];
    const shared = new Dedupe(byCount);
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      expectObservable(cold<Ev[]>('-').pipe(dedupe(byCount))).toBe('-');
      expectObservable(cold<Ev[]>('|').pipe(dedupe(byCount))).toBe('|');
      expectObservable(cold('a#', { a: [e('1')] }).pipe(dedupe(byCount))).toBe('a#', { a: [e('1')] });
      const src = hot('-a--b-|', { a: [e('1')], b: [e('2')] });
      const factory = () => {
        const d = new Dedupe(byCount);
        made.push(d);
        return d;
      };
      expectObservable(src.pipe(dedupe(factory)), '^--!').toBe('-a', { a: [e('1')] });
      expectObservable(src.pipe(dedupe(shared))).toBe('-a--b-|', { a: [e('1')], b: [e('2')] });
      expectSubscriptions(src.subscriptions).toBe(['^--!', '^-----!']);
    });
    assert.equal(made[0].size, 0);
    assert.equal(shared.size, 2);
  });

  test('a throwing id function errors the stream', () => {
    marbles(({ cold, expectObservable }) => {
      const bad = dedupe<Ev>({
        idOf: () => {
          throw new Error('no id');
        },
        maxIds: 1,
      });
      expectObservable(cold('-a', { a: [e('1')] }).pipe(bad)).toBe('-#', undefined, new Error('no id'));
    });
  });
});
