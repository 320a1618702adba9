// A task's working state (Flink's keyed backend role): a bounded, versioned local cache in front
// of the checkpoint store. Writes coalesce per key between checkpoints (only the latest value is
// checkpointed, like Kafka Streams' record cache), so Redis sees one write per distinct dirty key
// per checkpoint instead of one per event (seed 坑8).
//
// Entry states: CLEAN (equals what the store holds), DIRTY (changed since the last `drainDirty`),
// PENDING (drained, not yet durable). Only CLEAN entries are evicted: evicting a PENDING one and
// reloading it before its write lands would read an older value back.
import { ThermostatError } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import type { ValueCodec } from './codecs.js';
import type { CheckpointEntry, KeyValueStore, StoredEntry } from './store.js';

const CLEAN = 0;
const DIRTY = 1;
const PENDING = 2;
type EntryState = typeof CLEAN | typeof DIRTY | typeof PENDING;

interface Entry<V> {
  /** undefined: absent (never written, or deleted at `version`). */
  value: V | undefined;
  /** -1: absent and never written anywhere we know of. */
  version: number;
  state: EntryState;
  /** CLOCK reference bit: set on access, cleared by the sweeping hand (second chance). */
  ref: boolean;
}

/** Fetches keys in ONE round trip; absent keys are absent from the result. */
export type BatchLoader = (keys: readonly string[]) => Promise<Map<string, StoredEntry>>;

export interface VersionedCacheOptions<V> {
  /** Store name: Redis key segment and metric label. */
  name: string;
  codec: ValueCodec<V>;
  /** Soft bound on resident entries: dirty/pending entries and the current batch are never evicted. */
  maxEntries: number;
  loader: BatchLoader;
  /**
   * True when the backing store is known to hold nothing for this task (acquire returned no
   * metadata): misses are then absent without a round trip, until the first eviction.
   */
  authoritative?: boolean;
}

export interface CacheStats {
  entries: number;
  dirty: number;
  pending: number;
  clean: number;
  evictions: number;
  loads: number;
  loadedKeys: number;
}

/**
 * What a task and its runtime need from a keyed state cache: VersionedCache, or the user stage's
 * struct-of-arrays CompactUserStore (state/compact-user-store.ts) with the same semantics.
 */
export interface TaskCache<V> extends KeyValueStore<string, V> {
  ensureLoaded(keys: Iterable<string>): Promise<void>;
  drainDirty(): CheckpointEntry[];
  markDurable(entries: readonly CheckpointEntry[]): void;
  stats(): CacheStats;
}

export class VersionedCache<V> implements TaskCache<V> {
  readonly name: string;
  private readonly codec: ValueCodec<V>;
  private readonly maxEntries: number;
  private readonly loader: BatchLoader;
  private authoritative: boolean;
  private readonly replace: boolean;
  private readonly map = new Map<string, Entry<V>>();
  /** Dirty keys in first-dirtied order (drained in that order: deterministic checkpoints). */
  private readonly dirtyKeys = new Set<string>();
  private pendingCount = 0;
  private hand: IterableIterator<[string, Entry<V>]> | null = null;
  private open = false;
  private evictions = 0;
  private loads = 0;
  private loadedKeys = 0;

  constructor(opts: VersionedCacheOptions<V>) {
    if (!Number.isInteger(opts.maxEntries) || opts.maxEntries < 1)
      throw new RangeError('maxEntries must be a positive integer');
    this.name = opts.name;
    this.codec = opts.codec;
    this.maxEntries = opts.maxEntries;
    this.loader = opts.loader;
    this.authoritative = opts.authoritative ?? false;
    this.replace = opts.codec.variableFields ?? false;
  }

  // ---- lifecycle ----
  init(): void {
    this.open = true;
  }
  isOpen(): boolean {
    return this.open;
  }
  close(): void {
    this.open = false;
    this.map.clear();
    this.dirtyKeys.clear();
    this.pendingCount = 0;
    this.hand = null;
  }
  /** Lifecycle name of `drainDirty` (the snapshot hook). */
  commit(): CheckpointEntry[] {
    return this.drainDirty();
  }

  // ---- access ----
  get(key: string): V | undefined {
    const e = this.resident(key);
    return e === undefined ? undefined : e.value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  version(key: string): number | undefined {
    this.assertOpen();
    const e = this.map.get(key);
    return e === undefined || e.version < 0 ? undefined : e.version;
  }

  *entries(): IterableIterator<[string, V]> {
    this.assertOpen();
    for (const [k, e] of this.map) if (e.value !== undefined) yield [k, e.value];
  }

  put(key: string, value: V, version: number): void {
    if (value === undefined || value === null)
      throw new ThermostatError('INTERNAL', `put(${key}) with no value: use delete`);
    this.write(key, value, version);
  }

  delete(key: string, version: number): void {
    this.write(key, undefined, version);
  }

  /**
   * Makes `keys` resident, fetching every miss in ONE loader call. Call once per micro-batch
   * before touching its keys. Eviction happens here (never in put/get), and never evicts a key
   * of this batch, so everything loaded stays readable for the batch.
   */
  async ensureLoaded(keys: Iterable<string>): Promise<void> {
    this.assertOpen();
    const batch = new Set<string>();
    const misses: string[] = [];
    for (const k of keys) {
      if (batch.has(k)) continue;
      batch.add(k);
      const e = this.map.get(k);
      if (e !== undefined) e.ref = true;
      else if (this.authoritative)
        this.map.set(k, { value: undefined, version: -1, state: CLEAN, ref: true });
      else misses.push(k);
    }
    this.evict(misses.length, batch);
    if (misses.length === 0) return;
    const loaded = await this.loader(misses);
    this.loads++;
    this.loadedKeys += misses.length;
    for (const k of misses) {
      if (this.map.has(k)) continue; // written while loading: the local value is newer
      const s = loaded.get(k);
      const value = s === undefined || s.fields === null ? undefined : this.codec.decode(s.fields, s.version);
      this.map.set(k, { value, version: s === undefined ? -1 : s.version, state: CLEAN, ref: true });
    }
  }

  /**
   * Entries changed since the last drain, latest value per key, encoded for the checkpoint.
   * They become PENDING (not evictable) until `markDurable` reports them written.
   */
  drainDirty(): CheckpointEntry[] {
    this.assertOpen();
    const out: CheckpointEntry[] = [];
    for (const k of this.dirtyKeys) {
      const e = this.map.get(k)!;
      e.state = PENDING;
      this.pendingCount++;
      out.push({
        store: this.name,
        key: k,
        version: e.version,
        fields: e.value === undefined ? null : this.codec.encode(e.value),
        replace: this.replace,
      });
    }
    this.dirtyKeys.clear();
    return out;
  }

  /** The checkpoint holding these entries is durable: entries still at that version become CLEAN. */
  markDurable(entries: readonly CheckpointEntry[]): void {
    if (!this.open) return;
    for (const c of entries) {
      if (c.store !== this.name) continue;
      const e = this.map.get(c.key);
      if (e !== undefined && e.state === PENDING && e.version === c.version) {
        e.state = CLEAN;
        this.pendingCount--;
      }
    }
  }

  /** True when `incoming` more entries fit: an ensureLoaded of that many keys evicts nothing. */
  fits(incoming: number): boolean {
    return this.map.size + incoming <= this.maxEntries;
  }

  stats(): CacheStats {
    const dirty = this.dirtyKeys.size;
    return {
      entries: this.map.size,
      dirty,
      pending: this.pendingCount,
      clean: this.map.size - dirty - this.pendingCount,
      evictions: this.evictions,
      loads: this.loads,
      loadedKeys: this.loadedKeys,
    };
  }

  // ---- internals ----
  private write(key: string, value: V | undefined, version: number): void {
    this.assertOpen();
    if (!Number.isSafeInteger(version) || version < 0)
      throw new ThermostatError(
        'INTERNAL',
        `${this.name}/${key}: version ${version} is not a safe integer >= 0`,
      );
    let e = this.map.get(key);
    if (e !== undefined && version <= e.version) {
      throw new ThermostatError(
        'INTERNAL',
        `${this.name}/${key}: version ${version} not above current ${e.version}`,
        { key },
      );
    }
    if (e === undefined) {
      // Blind write to a non-resident key: the checkpoint's version check guards the store.
      e = { value, version, state: DIRTY, ref: true };
      this.map.set(key, e);
      this.dirtyKeys.add(key);
      return;
    }
    if (e.state === PENDING) this.pendingCount--;
    if (e.state !== DIRTY) this.dirtyKeys.add(key);
    e.state = DIRTY;
    e.value = value;
    e.version = version;
    e.ref = true;
  }

  private resident(key: string): Entry<V> | undefined {
    this.assertOpen();
    const e = this.map.get(key);
    if (e !== undefined) {
      e.ref = true;
      return e;
    }
    if (this.authoritative) return undefined;
    throw new ThermostatError('INTERNAL', `${this.name}/${key} read before ensureLoaded`, { key });
  }

  /** CLOCK sweep: frees room for `incoming` entries, skipping dirty/pending and the current batch. */
  private evict(incoming: number, protect: Set<string>): void {
    let excess = this.map.size + incoming - this.maxEntries;
    if (excess <= 0) return;
    // Two full turns at most: the first may only clear reference bits.
    let budget = 2 * this.map.size + 2; // +2: the hand may hit the end of the map twice
    while (excess > 0 && budget-- > 0) {
      if (this.hand === null) this.hand = this.map.entries();
      const next = this.hand.next();
      if (next.done) {
        this.hand = null;
        continue;
      }
      const [k, e] = next.value;
      if (e.state !== CLEAN || protect.has(k)) continue;
      if (e.ref) {
        e.ref = false;
        continue;
      }
      this.map.delete(k); // Map iterators tolerate deletion of the current entry
      this.evictions++;
      this.authoritative = false; // an absent key may now be an evicted one
      excess--;
    }
  }

  private assertOpen(): void {
    if (!this.open) throw new ThermostatError('INTERNAL', `store ${this.name} is not open`);
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
