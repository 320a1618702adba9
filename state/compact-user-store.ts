// The user stage's working state in struct-of-arrays form (≤ 200 B per resident user).
// Same contract and semantics as VersionedCache<UserAgentState> — versions, CLEAN/DIRTY/PENDING,
// CLOCK eviction of clean entries in the same order, reload on miss, and the same checkpoint
// entries (the codec encodes a materialised state, so Redis/changelog bytes are identical) — but
// a user costs one Map slot (key → dense slot index) plus typed-array columns instead of an Entry
// object, a state object and four small JS arrays.
//
// Layout per slot: 12 float64 (the doubles of UserAgentState and the entry version), lastCat
// (int32), run and a blob reference (uint32), five bytes (flags and the four list lengths). The
// variable-length lists (seq, ids, engaged pairs, aCats) share one blob in a size-classed word
// pool, so a user with one interaction holds 6 words, not 4 × 20. Columns and pools grow by fixed
// chunks (no doubling slack). Typed-array memory is off the V8 heap: measure heapUsed + arrayBuffers.
//
// `get` materialises a fresh UserAgentState (field order as newUserState, so JSON is identical);
// mutating it does not change the store until `put`. A state that does not fit the columns (an
// id other than the key, a list longer than 255, a non-int32 code, ...) is kept as a copied
// object instead, so every value round-trips exactly.
import type { UserAgentState } from '../agents/user.js';
import { CacheCore, DIRTY, type CacheCoreOptions } from './cache-core.js';

const STATE_MASK = 3;
const REF = 4;
const PRESENT = 8;
const SINCE_REGISTERED = 16;
const OVERFLOW = 32;

// float64 columns
const F_EXPLOITATION = 0;
const F_CURIOSITY = 1;
const F_FATIGUE = 2;
const F_SATISFACTION = 3;
const F_EXPLORE = 4;
const F_SINCE = 5;
const F_T = 6;
const F_VERSION = 7; // state.version
const F_CK = 8;
const F_UE = 9;
const F_ATICK = 10;
const F_ENTRY_VERSION = 11; // the cache entry's version (-1: absent, never written)
const NF = 12;
// uint32 columns
const U_RUN = 0;
const U_BLOB = 1;
const NU = 2;
// byte columns
const B_FLAGS = 0;
const B_SEQ = 1;
const B_IDS = 2;
const B_ENG = 3; // engaged pairs
const B_ACATS = 4;
const NB = 5;

const SLOT_SHIFT = 12;
const SLOTS_PER_CHUNK = 1 << SLOT_SHIFT;
const SLOT_MASK = SLOTS_PER_CHUNK - 1;
const NO_BLOB = 0xffffffff;
const MAX_LIST = 255;

// Every field of UserAgentState, in newUserState's order: a new field fails to compile here
// until the store knows how to keep it.
const FIELD_ORDER: Record<keyof UserAgentState, true> = {
  id: true,
  exploitation: true,
  curiosity: true,
  fatigue: true,
  satisfaction: true,
  explore: true,
  since: true,
  sinceRegistered: true,
  t: true,
  version: true,
  lastCat: true,
  run: true,
  seq: true,
  ids: true,
  engaged: true,
  ck: true,
  ue: true,
  aTick: true,
  aCats: true,
};
const FIELD_NAMES = Object.keys(FIELD_ORDER);
const FIELD_COUNT = FIELD_NAMES.length;

interface SlotChunk {
  f64: Float64Array;
  i32: Int32Array; // lastCat
  u32: Uint32Array;
  u8: Uint8Array;
}

const isInt32 = (v: number): boolean => Object.is(v | 0, v);
const isUint32 = (v: number): boolean => Object.is(v >>> 0, v);

/** Exact double ↔ two words. */
const f64Scratch = new Float64Array(1);
const u32Scratch = new Uint32Array(f64Scratch.buffer);

/**
 * Word blocks of a few size classes (×1.5 steps, ≤ 33 % rounding waste), each class in fixed
 * chunks of ≈ 64 KiB and kept dense: freeing a block moves the class's last block into the hole
 * (its owner's reference is updated through `onMove`), so users whose lists grow from class to
 * class leave no free blocks behind. Word 0 of a block is its owner slot. A reference is
 * classIndex << 26 | blockIndex.
 */
class WordPool {
  private static readonly SIZES: number[] = (() => {
    const s = [2, 3];
    while (s[s.length - 1] < 2048) s.push(s[s.length - 2] * 2);
    return s;
  })();
  private readonly chunks: Uint32Array[][] = WordPool.SIZES.map(() => []);
  private readonly used: number[] = WordPool.SIZES.map(() => 0);
  private readonly shift: number[] = WordPool.SIZES.map((w) => Math.max(4, Math.floor(Math.log2(16384 / w))));

  constructor(private readonly onMove: (owner: number, ref: number) => void) {}

  /** The class whose blocks hold `words` data words plus the owner word. */
  static classFor(words: number): number {
    const s = WordPool.SIZES;
    for (let c = 0; c < s.length; c++) if (s[c] > words) return c;
    throw new RangeError(`blob of ${words} words`);
  }

  alloc(cls: number, owner: number): number {
    const idx = this.used[cls]++;
    const sh = this.shift[cls];
    if (idx >>> sh >= this.chunks[cls].length)
      this.chunks[cls].push(new Uint32Array((1 << sh) * WordPool.SIZES[cls]));
    const ref = ((cls << 26) | idx) >>> 0;
    const [w, base] = this.locate(ref);
    w[base] = owner;
    return ref;
  }

  release(ref: number): void {
    const cls = ref >>> 26;
    const idx = ref & 0x3ffffff;
    const last = --this.used[cls];
    if (idx !== last) {
      const lastRef = ((cls << 26) | last) >>> 0;
      const [src, from] = this.locate(lastRef);
      const [dst, to] = this.locate(ref);
      dst.set(src.subarray(from, from + WordPool.SIZES[cls]), to);
      this.onMove(dst[to], ref);
    }
    // Keep at most one empty chunk per class (no churn at a chunk boundary).
    const chunks = this.chunks[cls];
    const sh = this.shift[cls];
    while (chunks.length >= 2 && this.used[cls] <= (chunks.length - 2) << sh) chunks.pop();
  }

  /** The chunk array and word offset of a block (data starts at offset + 1). */
  locate(ref: number): [Uint32Array, number] {
    const cls = ref >>> 26;
    const idx = ref & 0x3ffffff;
    const sh = this.shift[cls];
    return [this.chunks[cls][idx >>> sh], (idx & ((1 << sh) - 1)) * WordPool.SIZES[cls]];
  }

  bytes(): number {
    let n = 0;
    for (const cs of this.chunks) for (const c of cs) n += c.byteLength;
    return n;
  }
}

export type CompactUserStoreOptions = CacheCoreOptions<UserAgentState>;

export class CompactUserStore extends CacheCore<UserAgentState, number> {
  /** key → slot, in insertion order: the CLOCK hand walks it exactly as VersionedCache walks its map. */
  private readonly index = new Map<string, number>();
  private readonly chunks: SlotChunk[] = [];
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private pool = this.newPool();
  /** States that do not fit the columns, copied. */
  private readonly overflow = new Map<number, UserAgentState>();

  /** Presence from the flags, without materialising the state. */
  override has(key: string): boolean {
    const slot = this.resident(key);
    return slot !== undefined && (this.flags(slot) & PRESENT) !== 0;
  }

  /** Off-heap bytes held by the columns and the list pool (capacity, not just what is used). */
  arrayBytes(): number {
    let n = this.pool.bytes();
    for (const c of this.chunks)
      n += c.f64.byteLength + c.i32.byteLength + c.u32.byteLength + c.u8.byteLength;
    return n;
  }

  // ---- storage primitives (CacheCore) ----
  protected lookup(key: string): number | undefined {
    return this.index.get(key);
  }
  protected handles(): IterableIterator<[string, number]> {
    return this.index.entries();
  }
  protected size(): number {
    return this.index.size;
  }
  protected stateOf(slot: number): number {
    return this.flags(slot) & STATE_MASK;
  }
  protected setStateOf(slot: number, state: number): void {
    this.setState(slot, state);
  }
  protected versionOf(slot: number): number {
    return this.f64(slot, F_ENTRY_VERSION);
  }
  protected valueOf(key: string, slot: number): UserAgentState | undefined {
    return this.materialise(key, slot);
  }
  protected referenced(slot: number): boolean {
    return (this.flags(slot) & REF) !== 0;
  }
  protected setReferenced(slot: number, ref: boolean): void {
    if (ref) this.setFlag(slot, REF);
    else this.chunk(slot).u8[(slot & SLOT_MASK) * NB + B_FLAGS] = this.flags(slot) & ~REF;
  }
  protected overwrite(key: string, slot: number, value: UserAgentState | undefined, version: number): void {
    this.store(slot, key, value);
    this.setF64(slot, F_ENTRY_VERSION, version);
    this.setStateRef(slot, DIRTY);
  }
  protected remove(key: string, slot: number): void {
    this.index.delete(key); // Map iterators tolerate deletion of the current entry
    this.free(slot);
  }
  protected clearStorage(): void {
    this.index.clear();
    this.chunks.length = 0;
    this.freeSlots.length = 0;
    this.nextSlot = 0;
    this.pool = this.newPool();
    this.overflow.clear();
  }

  protected insert(key: string, value: UserAgentState | undefined, version: number, state: number): void {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.nextSlot++;
      if (slot >>> SLOT_SHIFT >= this.chunks.length)
        this.chunks.push({
          f64: new Float64Array(SLOTS_PER_CHUNK * NF),
          i32: new Int32Array(SLOTS_PER_CHUNK),
          u32: new Uint32Array(SLOTS_PER_CHUNK * NU),
          u8: new Uint8Array(SLOTS_PER_CHUNK * NB),
        });
    }
    const c = this.chunk(slot);
    const j = slot & SLOT_MASK;
    c.u32[j * NU + U_BLOB] = NO_BLOB;
    c.u8[j * NB + B_FLAGS] = 0;
    this.store(slot, key, value);
    c.f64[j * NF + F_ENTRY_VERSION] = version;
    this.setStateRef(slot, state);
    this.index.set(key, slot);
  }

  private free(slot: number): void {
    const c = this.chunk(slot);
    const j = slot & SLOT_MASK;
    const blob = c.u32[j * NU + U_BLOB];
    if (blob !== NO_BLOB) this.pool.release(blob);
    c.u32[j * NU + U_BLOB] = NO_BLOB;
    this.overflow.delete(slot);
    this.freeSlots.push(slot);
  }

  private newPool(): WordPool {
    return new WordPool((owner, ref) => {
      this.chunks[owner >>> SLOT_SHIFT].u32[(owner & SLOT_MASK) * NU + U_BLOB] = ref;
    });
  }

  // ---- internals: columns ----
  private chunk(slot: number): SlotChunk {
    return this.chunks[slot >>> SLOT_SHIFT];
  }
  private flags(slot: number): number {
    return this.chunks[slot >>> SLOT_SHIFT].u8[(slot & SLOT_MASK) * NB + B_FLAGS];
  }
  private setFlag(slot: number, bit: number): void {
    this.chunks[slot >>> SLOT_SHIFT].u8[(slot & SLOT_MASK) * NB + B_FLAGS] |= bit;
  }
  private setState(slot: number, state: number): void {
    const u8 = this.chunks[slot >>> SLOT_SHIFT].u8;
    const i = (slot & SLOT_MASK) * NB + B_FLAGS;
    u8[i] = (u8[i] & ~STATE_MASK) | state;
  }
  private setStateRef(slot: number, state: number): void {
    const u8 = this.chunks[slot >>> SLOT_SHIFT].u8;
    const i = (slot & SLOT_MASK) * NB + B_FLAGS;
    u8[i] = (u8[i] & ~STATE_MASK) | state | REF;
  }
  private f64(slot: number, f: number): number {
    return this.chunks[slot >>> SLOT_SHIFT].f64[(slot & SLOT_MASK) * NF + f];
  }
  private setF64(slot: number, f: number, v: number): void {
    this.chunks[slot >>> SLOT_SHIFT].f64[(slot & SLOT_MASK) * NF + f] = v;
  }

  /** Writes `value` (or absence) into the slot's columns; the entry version and state are the caller's. */
  private store(slot: number, key: string, value: UserAgentState | undefined): void {
    const c = this.chunk(slot);
    const j = slot & SLOT_MASK;
    const fi = j * NB + B_FLAGS;
    const keep = c.u8[fi] & (STATE_MASK | REF);
    this.overflow.delete(slot);
    if (value === undefined) {
      this.setBlob(c, j, slot, 0);
      c.u8[fi] = keep;
      return;
    }
    if (!fits(key, value)) {
      this.setBlob(c, j, slot, 0);
      this.overflow.set(slot, copyState(value));
      c.u8[fi] = keep | PRESENT | OVERFLOW;
      return;
    }
    const f = c.f64;
    const o = j * NF;
    f[o + F_EXPLOITATION] = value.exploitation;
    f[o + F_CURIOSITY] = value.curiosity;
    f[o + F_FATIGUE] = value.fatigue;
    f[o + F_SATISFACTION] = value.satisfaction;
    f[o + F_EXPLORE] = value.explore;
    f[o + F_SINCE] = value.since;
    f[o + F_T] = value.t;
    f[o + F_VERSION] = value.version;
    f[o + F_CK] = value.ck;
    f[o + F_UE] = value.ue;
    f[o + F_ATICK] = value.aTick;
    c.i32[j] = value.lastCat;
    c.u32[j * NU + U_RUN] = value.run;
    c.u8[fi] = keep | PRESENT | (value.sinceRegistered ? SINCE_REGISTERED : 0);
    const b = j * NB;
    const nSeq = value.seq.length;
    const nIds = value.ids.length;
    const nEng = value.engaged.length >> 1;
    const nA = value.aCats.length;
    c.u8[b + B_SEQ] = nSeq;
    c.u8[b + B_IDS] = nIds;
    c.u8[b + B_ENG] = nEng;
    c.u8[b + B_ACATS] = nA;
    const words = nSeq + nIds + 3 * nEng + nA;
    const ref = this.setBlob(c, j, slot, words);
    if (ref === NO_BLOB) return;
    const [w, base] = this.pool.locate(ref);
    let p = base + 1;
    for (let i = 0; i < nSeq; i++) w[p++] = value.seq[i];
    for (let i = 0; i < nIds; i++) w[p++] = value.ids[i];
    const e = value.engaged;
    for (let i = 0; i < e.length; i += 2) {
      w[p++] = e[i];
      f64Scratch[0] = e[i + 1];
      w[p++] = u32Scratch[0];
      w[p++] = u32Scratch[1];
    }
    for (let i = 0; i < nA; i++) w[p++] = value.aCats[i];
  }

  /** Makes the slot's blob hold `words` words (reusing it when its class fits); returns it. */
  private setBlob(c: SlotChunk, j: number, slot: number, words: number): number {
    const bi = j * NU + U_BLOB;
    const cur = c.u32[bi];
    if (words === 0) {
      if (cur !== NO_BLOB) this.pool.release(cur);
      c.u32[bi] = NO_BLOB;
      return NO_BLOB;
    }
    const cls = WordPool.classFor(words);
    if (cur !== NO_BLOB && cur >>> 26 === cls) return cur;
    c.u32[bi] = NO_BLOB;
    if (cur !== NO_BLOB) this.pool.release(cur);
    const ref = this.pool.alloc(cls, slot);
    c.u32[bi] = ref;
    return ref;
  }

  private materialise(key: string, slot: number): UserAgentState | undefined {
    const c = this.chunk(slot);
    const j = slot & SLOT_MASK;
    const fl = c.u8[j * NB + B_FLAGS];
    if ((fl & PRESENT) === 0) return undefined;
    if ((fl & OVERFLOW) !== 0) return copyState(this.overflow.get(slot)!);
    const b = j * NB;
    const nSeq = c.u8[b + B_SEQ];
    const nIds = c.u8[b + B_IDS];
    const nEng = c.u8[b + B_ENG];
    const nA = c.u8[b + B_ACATS];
    const seq: number[] = [];
    const ids: number[] = [];
    const engaged: number[] = [];
    const aCats: number[] = [];
    const ref = c.u32[j * NU + U_BLOB];
    if (ref !== NO_BLOB) {
      const [w, base] = this.pool.locate(ref);
      let p = base + 1;
      for (let i = 0; i < nSeq; i++) seq.push(w[p++]);
      for (let i = 0; i < nIds; i++) ids.push(w[p++] | 0);
      for (let i = 0; i < nEng; i++) {
        const cat = w[p++] | 0;
        u32Scratch[0] = w[p++];
        u32Scratch[1] = w[p++];
        engaged.push(cat, f64Scratch[0]);
      }
      for (let i = 0; i < nA; i++) aCats.push(w[p++] | 0);
    }
    const f = c.f64;
    const o = j * NF;
    // newUserState's field order: JSON.stringify of this object is byte-identical.
    return {
      id: key,
      exploitation: f[o + F_EXPLOITATION],
      curiosity: f[o + F_CURIOSITY],
      fatigue: f[o + F_FATIGUE],
      satisfaction: f[o + F_SATISFACTION],
      explore: f[o + F_EXPLORE],
      since: f[o + F_SINCE],
      sinceRegistered: (fl & SINCE_REGISTERED) !== 0,
      t: f[o + F_T],
      version: f[o + F_VERSION],
      lastCat: c.i32[j],
      run: c.u32[j * NU + U_RUN],
      seq,
      ids,
      engaged,
      ck: f[o + F_CK],
      ue: f[o + F_UE],
      aTick: f[o + F_ATICK],
      aCats,
    };
  }
}

/** True when `v` round-trips through the columns exactly (same fields, same order, same values). */
function fits(key: string, v: UserAgentState): boolean {
  if (v.id !== key || typeof v.sinceRegistered !== 'boolean') return false;
  if (!isInt32(v.lastCat) || !isUint32(v.run)) return false;
  if (
    typeof v.exploitation !== 'number' ||
    typeof v.curiosity !== 'number' ||
    typeof v.fatigue !== 'number' ||
    typeof v.satisfaction !== 'number' ||
    typeof v.explore !== 'number' ||
    typeof v.since !== 'number' ||
    typeof v.t !== 'number' ||
    typeof v.version !== 'number' ||
    typeof v.ck !== 'number' ||
    typeof v.ue !== 'number' ||
    typeof v.aTick !== 'number'
  )
    return false;
  const { seq, ids, engaged, aCats } = v;
  if (!Array.isArray(seq) || !Array.isArray(ids) || !Array.isArray(engaged) || !Array.isArray(aCats))
    return false;
  if (seq.length > MAX_LIST || ids.length > MAX_LIST || aCats.length > MAX_LIST) return false;
  if (engaged.length % 2 !== 0 || engaged.length > 2 * MAX_LIST) return false;
  for (const s of seq) if (typeof s !== 'number' || !isUint32(s)) return false;
  for (const s of ids) if (typeof s !== 'number' || !isInt32(s)) return false;
  for (const s of aCats) if (typeof s !== 'number' || !isInt32(s)) return false;
  for (let i = 0; i < engaged.length; i += 2)
    if (typeof engaged[i] !== 'number' || !isInt32(engaged[i]) || typeof engaged[i + 1] !== 'number')
      return false;
  // Same own keys in the same order (JSON output depends on it).
  let i = 0;
  for (const k in v) {
    if (FIELD_NAMES[i] !== k) return false;
    i++;
  }
  return i === FIELD_COUNT;
}

/** A detached copy: the store never shares mutable arrays with callers. */
function copyState(v: UserAgentState): UserAgentState {
  return structuredClone(v);
}
