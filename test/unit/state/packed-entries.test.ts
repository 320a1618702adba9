// packEntries: the checkpoint's entries as one MessagePack array of strings, decoded here by a
// minimal reader of the four types it may write (array32, str8, str16, str32), as Redis'
// cmsgpack.unpack reads them into the flat argument list the commit script walks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packEntries } from '../../../state/packed-entries.js';
import type { CheckpointEntry } from '../../../state/store.js';

/** Decodes packEntries' output to the list of byte strings (as Lua sees them). */
function unpack(b: Buffer): Buffer[] {
  assert.equal(b[0], 0xdd, 'array32 header');
  const count = b.readUInt32BE(1);
  const out: Buffer[] = [];
  let o = 5;
  for (let i = 0; i < count; i++) {
    const t = b[o];
    let len: number;
    if (t === 0xd9) [len, o] = [b[o + 1], o + 2];
    else if (t === 0xda) [len, o] = [b.readUInt16BE(o + 1), o + 3];
    else if (t === 0xdb) [len, o] = [b.readUInt32BE(o + 1), o + 5];
    else throw new Error(`unexpected type 0x${t.toString(16)} at ${o}`);
    out.push(b.subarray(o, o + len));
    o += len;
  }
  assert.equal(o, b.length, 'no trailing bytes');
  return out;
}
const strings = (b: Buffer) => unpack(b).map((x) => x.toString('utf8'));

test('entries unpack to version, mode, field count and field/value pairs, as the commit script reads them', () => {
  const entries: CheckpointEntry[] = [
    { store: 's', key: 'a', version: 7, fields: { x: '1', y: 'two' } },
    { store: 's', key: 'b', version: 12, fields: null },
    { store: 's', key: 'c', version: 3, fields: { id1: '{"n":1}' }, replace: true },
  ];
  assert.deepEqual(strings(packEntries(entries, 0, 3)), [
    ...['7', 'm', '2', 'x', '1', 'y', 'two'],
    ...['12', 'd'],
    ...['3', 'r', '1', 'id1', '{"n":1}'],
  ]);
  assert.deepEqual(strings(packEntries(entries, 1, 2)), ['12', 'd'], 'a sub-range only');
  assert.deepEqual(unpack(packEntries(entries, 3, 3)), [], 'an empty range is an empty array');
});

test('non-ASCII, long and binary values keep their exact bytes', () => {
  const accents = 'é'.repeat(40) + '😀'; // multi-byte UTF-8 in a short string
  const medium = 'x'.repeat(300); // past the str8 bound
  const long = 'ü'.repeat(30_000); // past the str16 bound (60 000 bytes)
  const bin = Buffer.from([0, 255, 128, 0xc3, 0x28, 10, 13]); // not valid UTF-8
  const entries: CheckpointEntry[] = [
    { store: 's', key: 'k', version: 1, fields: { a: accents, m: medium, l: long, b: bin, e: '' } },
  ];
  const got = unpack(packEntries(entries, 0, 1));
  assert.deepEqual(got.slice(0, 3).map(String), ['1', 'm', '5']);
  const fields = new Map<string, Buffer>();
  for (let i = 3; i < got.length; i += 2) fields.set(got[i].toString('utf8'), got[i + 1]);
  assert.deepEqual(fields.get('a'), Buffer.from(accents, 'utf8'));
  assert.deepEqual(fields.get('m'), Buffer.from(medium, 'utf8'));
  assert.deepEqual(fields.get('l'), Buffer.from(long, 'utf8'));
  assert.deepEqual(fields.get('b'), bin);
  assert.deepEqual(fields.get('e'), Buffer.alloc(0));
});

test('a large batch grows the buffer and stays decodable', () => {
  const entries: CheckpointEntry[] = Array.from({ length: 5000 }, (_, i) => ({
    store: 'user',
    key: `u${i}`,
    version: i,
    fields: { s: JSON.stringify({ id: `u${i}`, pad: 'p'.repeat(i % 900) }), n: String(i / 7) },
  }));
  const got = strings(packEntries(entries, 0, entries.length));
  assert.equal(got.length, 5000 * 7);
  assert.deepEqual(got.slice(7 * 4321, 7 * 4322), [
    '4321',
    'm',
    '2',
    's',
    JSON.stringify({ id: 'u4321', pad: 'p'.repeat(4321 % 900) }),
    'n',
    String(4321 / 7),
  ]);
});
