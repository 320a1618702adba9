// Checkpoint entries packed into ONE script argument: a MessagePack array of strings that the Lua
// scripts turn back into the flat list (version, mode, [field count, field, value, ...] per entry)
// with the C decoder `cmsgpack.unpack`. One Buffer per call instead of ~20 RESP arguments per
// entry: the per-argument work in the client (string concatenation, Buffer.byteLength, copies)
// and in Redis (one object per argument) was ~18 % of the job's CPU.
//
// Only MessagePack str types are written: Redis' cmsgpack rejects bin types, and a str is decoded
// to a Lua string byte for byte, so Buffer field values pass unchanged.
import type { CheckpointEntry, FieldValue } from './store.js';

const ARRAY32 = 0xdd;
const STR8 = 0xd9;
const STR16 = 0xda;
const STR32 = 0xdb;
/** Strings up to this many UTF-16 units are copied by a JS loop when ASCII (cheaper than a native write). */
const SHORT = 64;

/** Growable buffer writing MessagePack strings. */
class StringArrayWriter {
  private buf: Buffer;
  private off = 5; // room for the array32 header
  private count = 0;

  constructor(sizeHint: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64, sizeHint));
  }

  string(s: string): void {
    this.count++;
    const n = s.length;
    this.reserve(5 + 3 * n);
    const b = this.buf;
    const o = this.off;
    if (n <= SHORT && this.ascii(s, o + 2)) {
      b[o] = STR8;
      b[o + 1] = n;
      this.off = o + 2 + n;
      return;
    }
    // A UTF-16 unit is at most 3 UTF-8 bytes: the header size follows from 3·length.
    if (3 * n <= 0xff) {
      const w = b.write(s, o + 2, 'utf8');
      b[o] = STR8;
      b[o + 1] = w;
      this.off = o + 2 + w;
    } else if (3 * n <= 0xffff) {
      const w = b.write(s, o + 3, 'utf8');
      b[o] = STR16;
      b.writeUInt16BE(w, o + 1);
      this.off = o + 3 + w;
    } else {
      const w = b.write(s, o + 5, 'utf8');
      b[o] = STR32;
      b.writeUInt32BE(w, o + 1);
      this.off = o + 5 + w;
    }
  }

  bytes(v: Buffer): void {
    this.count++;
    this.reserve(5 + v.length);
    const b = this.buf;
    b[this.off] = STR32;
    b.writeUInt32BE(v.length, this.off + 1);
    v.copy(b, this.off + 5);
    this.off += 5 + v.length;
  }

  field(v: FieldValue): void {
    if (typeof v === 'string') this.string(v);
    else this.bytes(v);
  }

  finish(): Buffer {
    this.buf[0] = ARRAY32;
    this.buf.writeUInt32BE(this.count, 1);
    return this.buf.subarray(0, this.off);
  }

  /** Copies `s` at `at` when every unit is ASCII; false (nothing committed) otherwise. */
  private ascii(s: string, at: number): boolean {
    const b = this.buf;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) return false;
      b[at + i] = c;
    }
    return true;
  }

  private reserve(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }
}

/**
 * Entries `from`..`to` of `all` as one MessagePack array of strings: per entry its version, then
 * `d` (tombstone), or `m`/`r` (merge / replace), the field count and the field name/value pairs.
 * The same list the scripts used to receive as separate arguments (see COMMIT_LUA).
 */
export function packEntries(all: readonly CheckpointEntry[], from: number, to: number): Buffer {
  // A user-stage entry packs to ~525 bytes (mostly its JSON state field); the buffer doubles when
  // entries are larger.
  const w = new StringArrayWriter((to - from) * 512);
  for (let i = from; i < to; i++) {
    const e = all[i];
    w.string(String(e.version));
    if (e.fields === null) {
      w.string('d');
      continue;
    }
    const names = Object.keys(e.fields);
    w.string(e.replace ? 'r' : 'm');
    w.string(String(names.length));
    for (const f of names) {
      w.string(f);
      w.field(e.fields[f]);
    }
  }
  return w.finish();
}
