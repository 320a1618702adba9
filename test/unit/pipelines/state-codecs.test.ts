import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAgentConfig } from '../../../agents/config.js';
import type { CheatVerdict } from '../../../agents/anticheat.js';
import { newContentState, type ContentAgentState } from '../../../agents/content.js';
import type { UserAgentState } from '../../../agents/user.js';
import { contentWithTraffic, userAfter as sampleUser } from '../../../bench/support/sample-states.js';
import { contentAgentCodec, userStateCodec } from '../../../pipelines/state-codecs.js';
import type { FieldValue } from '../../../state/store.js';

const cfg = parseAgentConfig({});
const codec = userStateCodec(cfg);

const asStored = (fields: Record<string, FieldValue>): Record<string, Buffer> =>
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Buffer.from(v)]));
const roundTrip = (s: UserAgentState): UserAgentState => codec.decode(asStored(codec.encode(s)), s.version);

const userAfter = (n: number): UserAgentState => sampleUser('user-123456', n, cfg);

test('a user state round-trips exactly, in the field order of a new state, at under half the bytes of JSON', () => {
  for (const n of [0, 1, 5, 40]) {
    const s = userAfter(n);
    const fields = codec.encode(s);
    assert.ok(Buffer.isBuffer(fields.s), 'binary form');
    assert.ok(
      fields.s.length < 0.5 * JSON.stringify(s).length,
      `${fields.s.length} bytes for ${n} interactions`,
    );
    const back = roundTrip(s);
    assert.deepEqual(back, s);
    assert.equal(JSON.stringify(back), JSON.stringify(s));
  }
});

test('any state round-trips: list values outside int32 fall back to JSON, which decode reads', () => {
  const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
  // JSON has no -0 (the fallback would write 0).
  const num = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x));
  const list = fc.oneof(
    fc.array(int32, { maxLength: 30 }),
    fc.array(fc.oneof(int32, fc.integer({ min: 2 ** 31, max: 2 ** 40 }), num), {
      maxLength: 5,
    }),
  );
  const userArb: fc.Arbitrary<UserAgentState> = fc
    .record({
      id: fc.string({ minLength: 1, maxLength: 20 }),
      exploitation: num,
      curiosity: num,
      fatigue: num,
      satisfaction: num,
      explore: num,
      since: num,
      sinceRegistered: fc.boolean(),
      t: num,
      version: num,
      lastCat: num,
      run: num,
      seq: list,
      ids: list,
      engaged: list,
      ck: num,
      ue: num,
      aTick: num,
      aCats: list,
    })
    .map((s) => ({ ...s })); // plain objects, as the agent builds them
  fc.assert(
    fc.property(userArb, (s) => {
      const stored = asStored(codec.encode(s));
      const fitsInt32 = [s.seq, s.ids, s.aCats].every((l) => l.every((v) => v === (v | 0)));
      assert.equal(stored.s[0] === 0x7b, !fitsInt32, 'JSON only when a list value is not an int32');
      assert.deepEqual(codec.decode(stored, s.version), s);
    }),
    { numRuns: 300 },
  );
});

test('a state checkpointed as JSON restores', () => {
  const s = userAfter(12);
  const fields = { ...codec.encode(s), s: JSON.stringify(s) };
  assert.deepEqual(codec.decode(asStored(fields), s.version), s);
});

test('a user state in an unknown form, or without its user_id field, is an error, not a wrong state', () => {
  const fields = asStored(codec.encode(userAfter(3)));
  assert.throws(
    () => codec.decode({ ...fields, s: Buffer.from([9, 1, 2]) }, 2),
    /unknown format \(first byte 9\)/,
  );
  const { user_id: _, ...noId } = fields;
  assert.throws(() => codec.decode(noId, 2), /no field "user_id"/);
});

const contentArb: fc.Arbitrary<ContentAgentState> = (() => {
  const num = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x));
  const outcome = fc
    .record({
      allocation_id: fc.string({ minLength: 1, maxLength: 16 }),
      content_id: fc.string({ maxLength: 12 }),
      impressions: fc.nat(),
      clicks: fc.nat(),
      completions: fc.nat(),
      shares: fc.nat(),
    })
    .map((o) => ({ ...o })); // plain objects, as the agent builds them
  return fc
    .record({
      id: fc.string({ minLength: 1, maxLength: 20 }),
      creator: fc.option(fc.string({ maxLength: 12 })),
      category: fc.string({ maxLength: 12 }),
      quality: num,
      publishedAt: fc.option(fc.integer({ min: 0, max: 2 ** 45 })),
      followers: fc.option(fc.nat()),
      exposure: fc.nat(),
      clicks: fc.nat(),
      engaged: fc.nat(),
      suspectClicks: fc.nat(),
      shares: fc.nat(),
      completionSum: num,
      heatedImpressions: fc.nat(),
      winIndex: fc.integer({ min: -1, max: 2 ** 40 }),
      winExposure: fc.nat(),
      winClicks: fc.nat(),
      winEngaged: fc.nat(),
      windowCtr: num,
      budget: num,
      flagged: fc.boolean(),
      flagReason: fc.constantFrom<CheatVerdict>(null, 'bought', 'collusion'),
      version: fc.nat(),
      updatedAt: fc.integer({ min: 0, max: 2 ** 45 }),
      outcomes: fc
        .array(outcome, { maxLength: 4 })
        .map((os) => Object.fromEntries(os.map((o) => [o.allocation_id, o]))),
    })
    .map((s) => ({ ...s }));
})();

test('a content state round-trips exactly, in the field order of a new state, binary unless an outcome is keyed __proto__', () => {
  fc.assert(
    fc.property(contentArb, (s) => {
      const fields = contentAgentCodec.encode(s);
      assert.equal(Buffer.isBuffer(fields.s), !Object.hasOwn(s.outcomes, '__proto__'), 'binary form');
      const back = contentAgentCodec.decode(asStored(fields), s.version);
      assert.deepEqual(back, s);
      assert.equal(JSON.stringify(back), JSON.stringify(s));
    }),
    { numRuns: 300 },
  );
  const fresh = newContentState('c1', 'tech', cfg);
  const fields = contentAgentCodec.encode(fresh);
  assert.ok(fields.s.length < 0.5 * JSON.stringify(fresh).length, `${fields.s.length} bytes`);
  assert.equal(JSON.stringify(contentAgentCodec.decode(asStored(fields), 0)), JSON.stringify(fresh));
});

test('a content state checkpointed as JSON restores', () => {
  fc.assert(
    fc.property(contentArb, (s) => {
      const fields = { ...contentAgentCodec.encode(s), s: JSON.stringify(s) };
      assert.deepEqual(contentAgentCodec.decode(asStored(fields), s.version), s);
    }),
    { numRuns: 50 },
  );
});

test('outcomes keyed by allocation ids that name Object properties restore as keys', () => {
  const s = contentWithTraffic('c9', cfg);
  for (const ids of [
    ['constructor', 'toString'],
    ['__proto__', 'constructor'],
  ]) {
    const state = { ...s, outcomes: { ...s.outcomes } };
    for (const id of ids)
      Object.defineProperty(state.outcomes, id, {
        value: { allocation_id: id, content_id: 'c9', impressions: 1, clicks: 0, completions: 0, shares: 0 },
        enumerable: true,
        writable: true,
        configurable: true,
      });
    const back = contentAgentCodec.decode(asStored(contentAgentCodec.encode(state)), state.version);
    assert.deepEqual(Object.keys(back.outcomes).sort(), Object.keys(state.outcomes).sort());
    assert.deepEqual(back, state);
  }
});
