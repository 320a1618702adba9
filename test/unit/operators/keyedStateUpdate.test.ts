/** @test {keyedStateUpdate} */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FencedError } from '../../../core/errors.js';
import {
  KeyedState,
  KeyedStateUpdater,
  type KeyValueStoreLike,
  type KeyedStateUpdateOptions,
  MapKeyValueStore,
  keyedStateUpdate,
} from '../../../operators/keyedStateUpdate.js';
import type { KeyValueStore } from '../../../state/store.js';
import { marbles } from './marbles.js';

// Compile-time contract: a state/ store can be passed to keyedStateUpdate as is.
type StoreFits = KeyValueStore<string, number> extends KeyValueStoreLike<number> ? true : false;
const storeFits: StoreFits = true;
void storeFits;

interface Rec {
  k: string;
  n: number;
  off: number;
}
const r = (k: string, n: number, off = 0): Rec => ({ k, n, off });
// A counter: n > 0 adds, n = 0 is "no change" (same reference), n < 0 deletes the key.
const counter: KeyedStateUpdateOptions<Rec, number> = {
  keyOf: (x) => x.k,
  step: (s, x) => (x.n === 0 ? s : x.n < 0 ? undefined : (s ?? 0) + x.n),
};

describe('KeyedStateUpdater (core)', () => {
  test('applies the step in order, writes through the store with versions, returns changed keys once (final value)', () => {
    const store = new MapKeyValueStore<number>();
    const state = new KeyedState(store);
    const u = new KeyedStateUpdater(counter);
    assert.deepEqual(u.apply([r('a', 1), r('b', 1), r('a', 1), r('c', 0)], state), [
      { key: 'a', value: 2, version: 2 },
      { key: 'b', value: 1, version: 1 },
    ]);
    assert.equal(store.get('a'), 2);
    assert.equal(store.version('a'), 2);
    assert.equal(store.version('c'), undefined, 'an unchanged absent key is not written');
    // Delete at a new version (a tombstone), then re-create above it: versions never go back.
    assert.deepEqual(u.apply([r('b', 0), r('a', -1)], state), [{ key: 'a', value: undefined, version: 3 }]);
    assert.equal(store.get('a'), undefined);
    assert.equal(store.version('a'), 3);
    assert.deepEqual(u.apply([r('a', 5)], state), [{ key: 'a', value: 5, version: 4 }]);
  });

  test('KeyedState flushes each changed key once, latest state, first-change order; deleted keys skipped', () => {
    const state = new KeyedState(new MapKeyValueStore<number>());
    state.put('b', 1, 1);
    state.put('a', 1, 1);
    state.markChanged('c'); // stored after a batched call
    state.put('b', 2, 2);
    state.put('c', 7, 1);
    state.put('d', 1, 1);
    state.delete('d', 2);
    const flushed: [string, number][] = [];
    state.flushChanged((k, v) => flushed.push([k, v]));
    assert.deepEqual(flushed, [
      ['b', 2],
      ['a', 1],
      ['c', 7],
    ]);
    state.flushChanged((k, v) => flushed.push([k, v]));
    assert.equal(flushed.length, 3, 'forgotten after a flush');
  });

  test('the step sees the key and the current version in a reused context; versions from source offsets', () => {
    const seen: [string, number][] = [];
    const u = new KeyedStateUpdater<Rec, number>({
      keyOf: (x) => x.k,
      step: (s, x, ctx) => {
        seen.push([ctx.key, ctx.version]);
        return (s ?? 0) + x.n;
      },
      nextVersion: (x) => x.off,
    });
    const store = new MapKeyValueStore<number>();
    assert.deepEqual(u.apply([r('a', 1, 10), r('a', 1, 11), r('b', 5, 12)], new KeyedState(store)), [
      { key: 'a', value: 2, version: 11 },
      { key: 'b', value: 5, version: 12 },
    ]);
    assert.deepEqual(seen, [
      ['a', 0],
      ['a', 10],
      ['b', 0],
    ]);
  });
});

describe('keyedStateUpdate (operator)', () => {
  test('emits the changed keys per batch; a batch without changes emits nothing', () => {
    const store = new MapKeyValueStore<number>();
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('-a-b-c-|', { a: [r('a', 1), r('b', 1), r('a', 1)], b: [r('a', 0)], c: [r('b', 2)] });
      expectObservable(src.pipe(keyedStateUpdate(counter, store))).toBe('-a---c-|', {
        a: [
          { key: 'a', value: 2, version: 2 },
          { key: 'b', value: 1, version: 1 },
        ],
        c: [{ key: 'b', value: 3, version: 2 }],
      });
      expectSubscriptions(src.subscriptions).toBe('^------!');
    });
  });

  test('teardown frees the per-key state of a store made per subscription; a shared store is kept', () => {
    const made: MapKeyValueStore<number>[] = [];
    const shared = new MapKeyValueStore<number>();
    marbles(({ hot, expectObservable, expectSubscriptions }) => {
      const src = hot('-a--b-|', { a: [r('x', 1), r('y', 1)], b: [r('x', 1)] });
      const factory = () => {
        const s = new MapKeyValueStore<number>();
        made.push(s);
        return s;
      };
      const one = [
        { key: 'x', value: 1, version: 1 },
        { key: 'y', value: 1, version: 1 },
      ];
      expectObservable(src.pipe(keyedStateUpdate(counter, factory)), '^--!').toBe('-a', { a: one });
      expectObservable(src.pipe(keyedStateUpdate(counter, shared)), '^--!').toBe('-a', { a: one });
      expectSubscriptions(src.subscriptions).toBe(['^--!', '^--!']);
    });
    assert.equal(made.length, 1);
    assert.equal(made[0].size, 0);
    assert.equal(made[0].isOpen, false);
    assert.equal(shared.size, 2);
  });

  test('never, empty, error, throwing step, fenced store write', () => {
    const fenced: KeyValueStoreLike<number> = {
      get: () => undefined,
      version: () => undefined,
      put: () => {
        throw new FencedError('epoch 3 < 4');
      },
      delete: () => {},
    };
    marbles(({ cold, expectObservable }) => {
      expectObservable(cold<Rec[]>('-').pipe(keyedStateUpdate(counter, new MapKeyValueStore()))).toBe('-');
      expectObservable(cold<Rec[]>('|').pipe(keyedStateUpdate(counter, new MapKeyValueStore()))).toBe('|');
      expectObservable(cold<Rec[]>('-#').pipe(keyedStateUpdate(counter, new MapKeyValueStore()))).toBe('-#');
      const boom: KeyedStateUpdateOptions<Rec, number> = {
        keyOf: (x) => x.k,
        step: () => {
          throw new Error('step bug');
        },
      };
      expectObservable(
        cold('-a', { a: [r('a', 1)] }).pipe(keyedStateUpdate(boom, new MapKeyValueStore())),
      ).toBe('-#', undefined, new Error('step bug'));
      expectObservable(cold('-a', { a: [r('a', 1)] }).pipe(keyedStateUpdate(counter, fenced))).toBe(
        '-#',
        undefined,
        new FencedError('epoch 3 < 4'),
      );
    });
  });
});
