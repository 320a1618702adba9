// The bookkeeping every task cache shares, whatever its storage (VersionedCache: a Map of entry
// objects; CompactUserStore: typed-array slots): per-key versions, CLEAN/DIRTY/PENDING states,
// dirty keys drained in first-dirtied order, batched reload on miss, and CLOCK eviction of clean
// entries only. Subclasses supply the storage primitives over their entry handle `H`.
//
// Entry states: CLEAN (equals what the store holds), DIRTY (changed since the last `drainDirty`),
// PENDING (drained, not yet durable). Only CLEAN entries are evicted: evicting a PENDING one and
// reloading it before its write lands would read an older value back.
import { ThermostatError } from '../core/errors.js';
import type { ValueCodec } from './codecs.js';
import type { CheckpointEntry, KeyValueStore, StoredEntry } from './store.js';

export const CLEAN = 0;
export const DIRTY = 1;
export const PENDING = 2;

/** Fetches keys in ONE round trip; absent keys are absent from the result. */
export type BatchLoader = (keys: readonly string[]) => Promise<Map<string, StoredEntry>>;

export interface CacheCoreOptions<V> {
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
  /** Readable without a load: in memory, or known absent (pipelines park records of other keys while loads fail). */
  isResident(key: string): boolean;
  drainDirty(): CheckpointEntry[];
  markDurable(entries: readonly CheckpointEntry[]): void;
  stats(): CacheStats;
}

export abstract class CacheCore<V, H> implements TaskCache<V> {
  readonly name: string;
  protected readonly codec: ValueCodec<V>;
  private readonly maxEntries: number;
  private readonly loader: BatchLoader;
  private authoritative: boolean;
  private readonly replace: boolean;
  /** Dirty keys in first-dirtied order (drained in that order: deterministic checkpoints). */
  private readonly dirtyKeys = new Set<string>();
  private pendingCount = 0;
  private hand: IterableIterator<[string, H]> | null = null;
  private open = false;
  private evictions = 0;
  private loads = 0;
  private loadedKeys = 0;

  constructor(opts: CacheCoreOptions<V>) {
    if (!Number.isInteger(opts.maxEntries) || opts.maxEntries < 1)
      throw new RangeError('maxEntries must be a positive integer');
    this.name = opts.name;
    this.codec = opts.codec;
    this.maxEntries = opts.maxEntries;
    this.loader = opts.loader;
    this.authoritative = opts.authoritative ?? false;
    this.replace = opts.codec.variableFields ?? false;
  }

  // ---- storage primitives ----
  /** The resident entry of `key`, without touching its reference bit. */
  protected abstract lookup(key: string): H | undefined;
  /** Resident entries, in insertion order (the CLOCK hand walks them; deleting the current one is allowed). */
  protected abstract handles(): IterableIterator<[string, H]>;
  protected abstract size(): number;
  protected abstract stateOf(h: H): number;
  protected abstract setStateOf(h: H, state: number): void;
  protected abstract versionOf(h: H): number;
  protected abstract valueOf(key: string, h: H): V | undefined;
  protected abstract referenced(h: H): boolean;
  protected abstract setReferenced(h: H, ref: boolean): void;
  /** A new resident entry, referenced. */
  protected abstract insert(key: string, value: V | undefined, version: number, state: number): void;
  /** Overwrites value and version of a resident entry; it becomes DIRTY and referenced. */
  protected abstract overwrite(key: string, h: H, value: V | undefined, version: number): void;
  protected abstract remove(key: string, h: H): void;
  protected abstract clearStorage(): void;

  // ---- lifecycle ----
  init(): void {
    this.open = true;
  }
  isOpen(): boolean {
    return this.open;
  }
  close(): void {
    this.open = false;
    this.clearStorage();
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
    const h = this.resident(key);
    return h === undefined ? undefined : this.valueOf(key, h);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  isResident(key: string): boolean {
    this.assertOpen();
    return this.authoritative || this.lookup(key) !== undefined;
  }

  version(key: string): number | undefined {
    this.assertOpen();
    const h = this.lookup(key);
    if (h === undefined) return undefined;
    const v = this.versionOf(h);
    return v < 0 ? undefined : v;
  }

  *entries(): IterableIterator<[string, V]> {
    this.assertOpen();
    for (const [k, h] of this.handles()) {
      const v = this.valueOf(k, h);
      if (v !== undefined) yield [k, v];
    }
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
      const h = this.lookup(k);
      if (h !== undefined) this.setReferenced(h, true);
      else if (this.authoritative) this.insert(k, undefined, -1, CLEAN);
      else misses.push(k);
    }
    this.evict(misses.length, batch);
    if (misses.length === 0) return;
    const loaded = await this.loader(misses);
    this.loads++;
    this.loadedKeys += misses.length;
    for (const k of misses) {
      if (this.lookup(k) !== undefined) continue; // written while loading: the local value is newer
      const s = loaded.get(k);
      const value = s === undefined || s.fields === null ? undefined : this.codec.decode(s.fields, s.version);
      this.insert(k, value, s === undefined ? -1 : s.version, CLEAN);
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
      const h = this.lookup(k)!;
      this.setStateOf(h, PENDING);
      this.pendingCount++;
      const value = this.valueOf(k, h);
      out.push({
        store: this.name,
        key: k,
        version: this.versionOf(h),
        fields: value === undefined ? null : this.codec.encode(value),
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
      const h = this.lookup(c.key);
      if (h !== undefined && this.stateOf(h) === PENDING && this.versionOf(h) === c.version) {
        this.setStateOf(h, CLEAN);
        this.pendingCount--;
      }
    }
  }

  /** True when `incoming` more entries fit: an ensureLoaded of that many keys evicts nothing. */
  fits(incoming: number): boolean {
    return this.size() + incoming <= this.maxEntries;
  }

  stats(): CacheStats {
    const dirty = this.dirtyKeys.size;
    const entries = this.size();
    return {
      entries,
      dirty,
      pending: this.pendingCount,
      clean: entries - dirty - this.pendingCount,
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
    const h = this.lookup(key);
    if (h === undefined) {
      // Blind write to a non-resident key: the checkpoint's version check guards the store.
      this.insert(key, value, version, DIRTY);
      this.dirtyKeys.add(key);
      return;
    }
    const current = this.versionOf(h);
    if (version <= current)
      throw new ThermostatError(
        'INTERNAL',
        `${this.name}/${key}: version ${version} not above current ${current}`,
        {
          key,
        },
      );
    const st = this.stateOf(h);
    if (st === PENDING) this.pendingCount--;
    if (st !== DIRTY) this.dirtyKeys.add(key);
    this.overwrite(key, h, value, version);
  }

  /** The resident entry of a key read by the current batch (its reference bit set). */
  protected resident(key: string): H | undefined {
    this.assertOpen();
    const h = this.lookup(key);
    if (h !== undefined) {
      this.setReferenced(h, true);
      return h;
    }
    if (this.authoritative) return undefined;
    throw new ThermostatError('INTERNAL', `${this.name}/${key} read before ensureLoaded`, { key });
  }

  /** CLOCK sweep: frees room for `incoming` entries, skipping dirty/pending and the current batch. */
  private evict(incoming: number, protect: Set<string>): void {
    let excess = this.size() + incoming - this.maxEntries;
    if (excess <= 0) return;
    // Two full turns at most: the first may only clear reference bits.
    let budget = 2 * this.size() + 2; // +2: the hand may hit the end twice
    while (excess > 0 && budget-- > 0) {
      if (this.hand === null) this.hand = this.handles();
      const next = this.hand.next();
      if (next.done) {
        this.hand = null;
        continue;
      }
      const [k, h] = next.value;
      if (this.stateOf(h) !== CLEAN || protect.has(k)) continue;
      if (this.referenced(h)) {
        this.setReferenced(h, false);
        continue;
      }
      this.remove(k, h);
      this.evictions++;
      this.authoritative = false; // an absent key may now be an evicted one
      excess--;
    }
  }

  protected assertOpen(): void {
    if (!this.open) throw new ThermostatError('INTERNAL', `store ${this.name} is not open`);
  }
}
