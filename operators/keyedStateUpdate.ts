// Keyed state of a task: writes through a KeyValueStore-like store, remembering the keys changed
// since the last changelog flush. The stages' agent updates (which mutate a state in place and
// choose its version) and the pure-step operator below both write through `KeyedState`.
import type { OperatorFunction } from 'rxjs';
import { batchOperator } from './internal/coreOperator.js';

/**
 * The part of a `state/` store (`KeyValueStore<string, V>`) this operator needs, so a versioned
 * cache can be passed as is. `get` returns undefined for an absent (never written or deleted) key;
 * `version` is the version of the key's value or tombstone (undefined when never written). `put` and
 * `delete` carry a version strictly greater than the key's current one (stores may throw on a stale
 * one, e.g. `FencedError`). `close` frees every key (teardown).
 */
export interface KeyValueStoreLike<V> {
  get(key: string): V | undefined;
  version(key: string): number | undefined;
  put(key: string, value: V, version: number): void;
  delete(key: string, version: number): void;
  close?(): void;
}

/** In-memory store for tests and the simulator (tombstones keep their version). */
export class MapKeyValueStore<V> implements KeyValueStoreLike<V> {
  private readonly map = new Map<string, { value: V | undefined; version: number }>();
  private open = true;
  get(key: string): V | undefined {
    return this.map.get(key)?.value;
  }
  version(key: string): number | undefined {
    return this.map.get(key)?.version;
  }
  put(key: string, value: V, version: number): void {
    this.map.set(key, { value, version });
  }
  delete(key: string, version: number): void {
    this.map.set(key, { value: undefined, version });
  }
  close(): void {
    this.map.clear();
    this.open = false;
  }
  /** Keys held, tombstones included. */
  get size(): number {
    return this.map.size;
  }
  get isOpen(): boolean {
    return this.open;
  }
}

/**
 * A task's keyed state: the store, plus the keys written since the last `flushChanged` (first-write
 * order, so the changelog is deterministic). The content and user stages read their cache, apply
 * the agent and `put` through it; `KeyedStateUpdater` does the same for a pure step function.
 */
export class KeyedState<S> {
  private readonly changed = new Set<string>();

  constructor(readonly store: KeyValueStoreLike<S>) {}

  /** Writes the key's state at `version` and marks it changed. */
  put(key: string, state: S, version: number): void {
    this.store.put(key, state, version);
    this.changed.add(key);
  }

  /** Deletes the key at `version` (a tombstone) and marks it changed. */
  delete(key: string, version: number): void {
    this.store.delete(key, version);
    this.changed.add(key);
  }

  /** Marks a key changed whose `put` comes later (a batch of states stored after one batched call). */
  markChanged(key: string): void {
    this.changed.add(key);
  }

  /**
   * Hands each key changed since the last flush with its latest state to `emit` (a deleted key is
   * skipped), in first-change order, then forgets them: a task's changelog flush.
   */
  flushChanged(emit: (key: string, state: S) => void): void {
    for (const key of this.changed) {
      const state = this.store.get(key);
      if (state !== undefined) emit(key, state);
    }
    this.changed.clear();
  }
}

/**
 * What a step sees besides state and record. One object is reused for every record: it is only
 * valid during the call, do not keep it.
 */
export interface StepContext {
  /** The record's key. */
  key: string;
  /** Version of the key's current value or tombstone (0 when never written). */
  version: number;
}

/** Pure: returns the new state, the same reference for "no change", or undefined to delete. */
export type StepFunction<S, T> = (state: S | undefined, record: T, ctx: StepContext) => S | undefined;

export interface KeyedStateUpdateOptions<T, S> {
  readonly keyOf: (record: T) => string;
  readonly step: StepFunction<S, T>;
  /**
   * Version of a changed key (also of a delete). Default: previous + 1 (the first write gets 1).
   * The user stage uses the record's source offset, which is strictly increasing per key and makes
   * replays idempotent.
   */
  readonly nextVersion?: (record: T, previousVersion: number) => number;
}

/** A key whose state changed in a batch, with its final value (undefined: deleted) and version. */
export interface StateChange<S> {
  readonly key: string;
  readonly value: S | undefined;
  readonly version: number;
}

/** The core: runs `step` for each record in order; returns the changed keys (first-change order). */
export class KeyedStateUpdater<T, S> {
  private readonly keyOf: (record: T) => string;
  private readonly step: StepFunction<S, T>;
  private readonly nextVersion: (record: T, previousVersion: number) => number;
  private readonly ctx: StepContext = { key: '', version: 0 };

  constructor(options: KeyedStateUpdateOptions<T, S>) {
    this.keyOf = options.keyOf;
    this.step = options.step;
    this.nextVersion = options.nextVersion ?? ((_r, v) => v + 1);
  }

  apply(records: readonly T[], state: KeyedState<S>): StateChange<S>[] {
    const store = state.store;
    const changed = new Map<string, { key: string; value: S | undefined; version: number }>();
    const ctx = this.ctx;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      const key = this.keyOf(r);
      const prev = store.get(key);
      const prevVersion = store.version(key) ?? 0;
      ctx.key = key;
      ctx.version = prevVersion;
      const next = this.step(prev, r, ctx);
      if (Object.is(next, prev)) continue;
      const version = this.nextVersion(r, prevVersion);
      if (next === undefined) state.delete(key, version);
      else state.put(key, next, version);
      const c = changed.get(key);
      if (c === undefined) changed.set(key, { key, value: next, version });
      else {
        c.value = next;
        c.version = version;
      }
    }
    ctx.key = '';
    return [...changed.values()];
  }
}

/**
 * Applies `step` per record through the store and emits, per batch, the keys that changed
 * (nothing when none changed).
 *
 * `--[a:+1 b:+1 a:+1]--|` (counter step) becomes `--[{a,2,v2} {b,1,v1}]--|`.
 *
 * @param store a shared store, or a factory: a store made by the factory belongs to the
 * subscription and is closed (freeing every key's state) on teardown.
 */
export function keyedStateUpdate<T, S>(
  options: KeyedStateUpdateOptions<T, S>,
  store: KeyValueStoreLike<S> | (() => KeyValueStoreLike<S>),
): OperatorFunction<readonly T[], StateChange<S>[]> {
  return batchOperator(() => {
    const core = new KeyedStateUpdater(options);
    const kv = typeof store === 'function' ? store() : store;
    const state = new KeyedState(kv);
    return {
      step: (batch: readonly T[]) => core.apply(batch, state),
      teardown: typeof store === 'function' ? () => kv.close?.() : undefined,
    };
  });
}
