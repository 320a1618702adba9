// A task's working state (Flink's keyed backend role): a bounded, versioned local cache in front
// of the checkpoint store. Writes coalesce per key between checkpoints (only the latest value is
// checkpointed, like Kafka Streams' record cache), so Redis sees one write per distinct dirty key
// per checkpoint instead of one per event (seed 坑8).
//
// The shared bookkeeping (states, eviction, reload, checkpoint drain) is state/cache-core.ts.
import type { Metrics } from '../core/metrics.js';
import { CacheCore, DIRTY, type CacheCoreOptions, type CacheStats } from './cache-core.js';

export { CacheCore, type BatchLoader, type CacheStats, type TaskCache } from './cache-core.js';

interface Entry<V> {
  /** undefined: absent (never written, or deleted at `version`). */
  value: V | undefined;
  /** -1: absent and never written anywhere we know of. */
  version: number;
  state: number;
  /** CLOCK reference bit: set on access, cleared by the sweeping hand (second chance). */
  ref: boolean;
}

export type VersionedCacheOptions<V> = CacheCoreOptions<V>;

/** Entries as objects in one Map: any value type (content, allocator, tests). */
export class VersionedCache<V> extends CacheCore<V, Entry<V>> {
  private readonly map = new Map<string, Entry<V>>();

  protected lookup(key: string): Entry<V> | undefined {
    return this.map.get(key);
  }
  protected handles(): IterableIterator<[string, Entry<V>]> {
    return this.map.entries(); // Map iterators tolerate deletion of the current entry
  }
  protected size(): number {
    return this.map.size;
  }
  protected stateOf(e: Entry<V>): number {
    return e.state;
  }
  protected setStateOf(e: Entry<V>, state: number): void {
    e.state = state;
  }
  protected versionOf(e: Entry<V>): number {
    return e.version;
  }
  protected valueOf(_key: string, e: Entry<V>): V | undefined {
    return e.value;
  }
  protected referenced(e: Entry<V>): boolean {
    return e.ref;
  }
  protected setReferenced(e: Entry<V>, ref: boolean): void {
    e.ref = ref;
  }
  protected insert(key: string, value: V | undefined, version: number, state: number): void {
    this.map.set(key, { value, version, state, ref: true });
  }
  protected overwrite(_key: string, e: Entry<V>, value: V | undefined, version: number): void {
    e.state = DIRTY;
    e.value = value;
    e.version = version;
    e.ref = true;
  }
  protected remove(key: string): void {
    this.map.delete(key);
  }
  protected clearStorage(): void {
    this.map.clear();
  }
}

/** Sets thermostat_state_entries{store} to the resident entries summed over tasks, per store name. */
export function recordCacheGauges(
  metrics: Metrics,
  caches: Iterable<{ readonly name: string; stats(): CacheStats }>,
): void {
  const sums = new Map<string, number>();
  for (const c of caches) sums.set(c.name, (sums.get(c.name) ?? 0) + c.stats().entries);
  for (const [store, n] of sums) metrics.stateEntries.set({ store }, n);
}
