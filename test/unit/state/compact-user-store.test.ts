import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAgentConfig } from '../../../agents/config.js';
import { applyUserInteraction, newUserState, type UserAgentState } from '../../../agents/user.js';
import { ThermostatError } from '../../../core/errors.js';
import { userStateCodec } from '../../../pipelines/state-codecs.js';
import { CompactUserStore } from '../../../state/compact-user-store.js';
import type { CheckpointEntry, StoredEntry } from '../../../state/store.js';
import { VersionedCache, type TaskCache } from '../../../state/versioned-cache.js';
import type { UserInteraction } from '../../../schemas/types.js';

const cfg = parseAgentConfig({});
const codec = userStateCodec(cfg);

/** A checkpoint store over a map: drained entries are written, then acknowledged. */
function backend() {
  const data = new Map<string, StoredEntry>();
  const calls: string[][] = [];
  const loader = async (keys: readonly string[]) => {
    calls.push([...keys]);
    const out = new Map<string, StoredEntry>();
    for (const k of keys) if (data.has(k)) out.set(k, data.get(k)!);
    return out;
  };
  const write = (entries: readonly CheckpointEntry[]) => {
    for (const e of entries) {
      const fields: Record<string, Buffer> | null =
        e.fields === null
          ? null
          : Object.fromEntries(Object.entries(e.fields).map(([k, v]) => [k, Buffer.from(v)]));
      data.set(e.key, { version: e.version, epoch: 1, fields });
    }
  };
  return { data, calls, loader, write };
}

function open(
  kind: 'map' | 'compact',
  maxEntries: number,
  b: ReturnType<typeof backend>,
  authoritative: boolean,
): TaskCache<UserAgentState> {
  const opts = { name: 'user-mind', codec, maxEntries, loader: b.loader, authoritative };
  const c = kind === 'map' ? new VersionedCache<UserAgentState>(opts) : new CompactUserStore(opts);
  c.init();
  return c;
}

const ev = (user: string, i: number, cat: string, t: number, click: boolean): UserInteraction => ({
  event_id: `e${i % 7}`, // repeats: the dedupe horizon is exercised
  user_id: user,
  content_id: 'c1',
  category: cat,
  event_time: t,
  click,
  dwell_ms: 1000,
  completion: (i % 5) / 4,
  shared: i % 3 === 0,
  is_new_content: i % 2 === 0,
  heated: i % 4 === 0,
  allocation_id: null,
  user_registered_at: i % 11 === 0 ? t - 1000 : null,
});

/** A real state (agent rules applied n times), with audience marks; or a shape the columns cannot hold. */
const stateArb = (key: string) =>
  fc
    .oneof(
      {
        weight: 6,
        arbitrary: fc.tuple(
          fc.nat(40),
          fc.integer({ min: 0, max: 2 ** 40 }),
          fc.array(fc.integer({ min: -5, max: 2 ** 31 - 1 }), { maxLength: 4 }),
        ),
      },
      { weight: 1, arbitrary: fc.constant(null) },
    )
    .map((spec) => {
      if (spec === null) {
        // Does not fit the columns: a fractional run, a foreign id and a long list.
        const s = newUserState(`${key}-other`, cfg);
        s.run = 1.5;
        s.seq = Array.from({ length: 300 }, (_, i) => i);
        s.lastCat = -0;
        return s;
      }
      const [n, t0, aCats] = spec;
      const s = newUserState(key, cfg);
      const cats = ['tech', 'food', 'music', 'pets'];
      for (let i = 0; i < n; i++)
        applyUserInteraction(s, ev(key, i, cats[(i * 7) % 4], t0 + i * 90_000, i % 3 !== 1), i, cfg);
      s.aTick = aCats.length > 0 ? aCats[0] : -1;
      s.aCats = aCats;
      return s;
    });

type Op =
  | { op: 'load'; keys: string[] }
  | { op: 'get'; key: string }
  | { op: 'version'; key: string }
  | { op: 'put'; key: string; value: UserAgentState; bump: number }
  | { op: 'delete'; key: string; bump: number }
  | { op: 'checkpoint'; ack: boolean }
  | { op: 'restore' };

const KEYS = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
const keyArb = fc.constantFrom(...KEYS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('load' as const),
    keys: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({ op: fc.constant('get' as const), key: keyArb }),
  fc.record({ op: fc.constant('version' as const), key: keyArb }),
  keyArb.chain((key) =>
    fc.record({
      op: fc.constant('put' as const),
      key: fc.constant(key),
      value: stateArb(key),
      bump: fc.integer({ min: 0, max: 3 }),
    }),
  ),
  fc.record({ op: fc.constant('delete' as const), key: keyArb, bump: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ op: fc.constant('checkpoint' as const), ack: fc.boolean() }),
  fc.constant({ op: 'restore' as const }),
);

/** Runs one operation; the observable result (value, error reason, drained entries). */
async function step(
  c: TaskCache<UserAgentState>,
  b: ReturnType<typeof backend>,
  o: Op,
  pending: CheckpointEntry[][],
): Promise<unknown> {
  const guard = async (f: () => unknown) => {
    try {
      return { ok: await f() };
    } catch (e) {
      if (e instanceof ThermostatError) return { err: e.reason };
      throw e;
    }
  };
  switch (o.op) {
    case 'load':
      return guard(() => c.ensureLoaded(o.keys));
    case 'get':
      return guard(() => c.get(o.key));
    case 'version':
      return guard(() => c.version(o.key));
    case 'put':
      return guard(() => c.put(o.key, structuredClone(o.value), (c.version(o.key) ?? -1) + o.bump));
    case 'delete':
      return guard(() => c.delete(o.key, (c.version(o.key) ?? -1) + o.bump));
    case 'checkpoint': {
      const drained = c.drainDirty();
      b.write(drained);
      pending.push(drained);
      if (o.ack) for (const p of pending.splice(0)) c.markDurable(p);
      return drained;
    }
    case 'restore':
      return null; // handled by the caller (a new instance over the same backend)
  }
}

test('compact store behaves like VersionedCache for any get/put/delete/load/evict/checkpoint/restore sequence', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1, max: 5 }),
      fc.boolean(),
      async (ops, maxEntries, authoritative) => {
        const bm = backend();
        const bc = backend();
        let m = open('map', maxEntries, bm, authoritative);
        let c = open('compact', maxEntries, bc, authoritative);
        const pm: CheckpointEntry[][] = [];
        const pc: CheckpointEntry[][] = [];
        for (const o of ops) {
          if (o.op === 'restore') {
            // Crash: local state is lost, the durable checkpoint is reloaded on demand.
            m.close();
            c.close();
            m = open('map', maxEntries, bm, false);
            c = open('compact', maxEntries, bc, false);
            pm.length = 0;
            pc.length = 0;
            continue;
          }
          const rm = await step(m, bm, o, pm);
          const rc = await step(c, bc, o, pc);
          assert.deepStrictEqual(rc, rm, `${o.op}`);
          assert.deepStrictEqual(c.stats(), m.stats());
          assert.deepStrictEqual([...c.entries()], [...m.entries()]);
        }
        assert.deepStrictEqual(bc.calls, bm.calls);
        assert.deepStrictEqual(bc.data, bm.data);
      },
    ),
    { numRuns: 300, seed: 8 },
  );
});

test('checkpoint bytes are those of the Map-based cache for a real user history', async () => {
  const bm = backend();
  const bc = backend();
  const m = open('map', 100, bm, true);
  const c = open('compact', 100, bc, true);
  const cats = ['tech', 'food', 'travel'];
  for (let i = 0; i < 200; i++) {
    const user = `u${i % 7}`;
    for (const s of [m, c]) {
      await s.ensureLoaded([user]);
      const st = s.get(user) ?? newUserState(user, cfg);
      const e = {
        ...ev(user, i, cats[i % 3], 1_700_000_000_000 + i * 45_000, i % 4 !== 0),
        event_id: `x${i}`,
      };
      const r = applyUserInteraction(st, e, i, cfg);
      if (r.applied) s.put(user, st, i);
    }
  }
  const dm = m.drainDirty();
  const dc = c.drainDirty();
  assert.equal(dc.length, 7);
  assert.deepStrictEqual(dc, dm);
  // Full 20-step histories came through the columns, not the fallback.
  const u0 = c.get('u0')!;
  assert.equal(u0.seq.length, cfg.user.sequenceLength);
  assert.equal(u0.ids.length, cfg.user.sequenceLength);
  assert.deepStrictEqual(u0, m.get('u0'));
});

test('a returned state is a copy: mutating it changes nothing until put', async () => {
  const c = open('compact', 10, backend(), true);
  await c.ensureLoaded(['a']);
  const s = newUserState('a', cfg);
  applyUserInteraction(s, ev('a', 1, 'tech', 1000, true), 0, cfg);
  c.put('a', s, 0);
  s.seq.push(1);
  const got = c.get('a')!;
  assert.equal(got.seq.length, 1);
  got.curiosity = 0.99;
  got.aCats.push(5);
  assert.notEqual(c.get('a')!.curiosity, 0.99);
  assert.deepStrictEqual(c.get('a')!.aCats, []);
});

test('resident user memory: columns and list blocks of ≈ 150 B for a one-interaction user', async () => {
  const n = 5000;
  const c = new CompactUserStore({
    name: 'user-mind',
    codec,
    maxEntries: n,
    loader: async () => new Map(),
    authoritative: true,
  });
  c.init();
  for (let i = 0; i < n; i++) {
    const s = newUserState(`u${i}`, cfg);
    applyUserInteraction(s, ev(`u${i}`, i, 'tech', 1_700_000_000_000, true), i, cfg);
    c.put(`u${i}`, s, i);
  }
  // 12 float64 + 3 × 4 B + 5 B per slot (one 4096-slot chunk is the growth step) + one list block of ≤ 8 words (owner word included).
  const perSlot = 12 * 8 + 3 * 4 + 5;
  const chunks = Math.ceil(n / 4096);
  assert.ok(c.arrayBytes() >= chunks * 4096 * perSlot);
  assert.ok(c.arrayBytes() <= chunks * 4096 * perSlot + n * 8 * 4 + 4 * 65536, `${c.arrayBytes()}`);
});

test('CLOCK second chance as in VersionedCache: a key read since the last sweep survives', async () => {
  for (const kind of ['map', 'compact'] as const) {
    const b = backend();
    const seed = open('map', 10, b, true);
    for (const k of ['a', 'b', 'c', 'd', 'e']) seed.put(k, newUserState(k, cfg), 1);
    b.write(seed.drainDirty());
    const c = open(kind, 3, b, false);
    await c.ensureLoaded(['a', 'b', 'c']);
    await c.ensureLoaded(['d']); // first turn clears every reference bit, second evicts a
    assert.deepStrictEqual(
      [...c.entries()].map(([k]) => k),
      ['b', 'c', 'd'],
      kind,
    );
    c.get('b'); // b referenced again; c is not
    await c.ensureLoaded(['e']); // the hand passes b (second chance) and evicts c
    assert.deepStrictEqual(
      [...c.entries()].map(([k]) => k),
      ['b', 'd', 'e'],
      kind,
    );
    assert.equal(c.stats().evictions, 2);
  }
});

test('list blocks stay right when users shrink, are deleted, evicted and re-added (the pool moves blocks)', async () => {
  const run = async (kind: 'map' | 'compact') => {
    const b = backend();
    const c = open(kind, 40, b, true);
    const cats = ['tech', 'food', 'music'];
    let offset = 0;
    const touch = async (user: string, steps: number) => {
      await c.ensureLoaded([user]);
      const s = c.get(user) ?? newUserState(user, cfg);
      for (let k = 0; k < steps; k++) {
        const e = {
          ...ev(user, offset, cats[offset % 3], 1_700_000_000_000 + offset * 1000, offset % 2 === 0),
          event_id: `x${offset}`,
        };
        applyUserInteraction(s, e, offset++, cfg);
      }
      c.put(user, s, offset);
    };
    for (let i = 0; i < 30; i++) await touch(`u${i}`, 1 + (i % 4));
    for (let i = 0; i < 30; i += 3) c.delete(`u${i}`, offset++);
    for (let i = 30; i < 45; i++) await touch(`u${i}`, 1 + (i % 3));
    for (let i = 1; i < 30; i += 4) await touch(`u${i}`, 6);
    const drained = c.drainDirty();
    b.write(drained);
    c.markDurable(drained); // clean: evictable
    for (let i = 45; i < 70; i++) await touch(`u${i}`, 1 + (i % 2)); // evicts clean users, reuses their blocks
    for (let i = 0; i < 70; i += 5) await touch(`u${i}`, 2); // reloads some evicted ones
    return { entries: [...c.entries()], drained: c.drainDirty(), stats: c.stats() };
  };
  const m = await run('map');
  const c = await run('compact');
  assert.ok(m.stats.evictions > 0);
  assert.deepStrictEqual(c, m);
});
