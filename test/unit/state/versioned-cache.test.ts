import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { VersionedCache } from '../../../state/versioned-cache.js';
import { bytesCodec, jsonCodec } from '../../../state/codecs.js';
import type { StoredEntry } from '../../../state/store.js';
import { ThermostatError } from '../../../core/errors.js';

/** A loader over a plain map that records every call (to count round trips). */
function fakeBackend(initial: Record<string, { version: number; v: number }> = {}) {
  const data = new Map<string, StoredEntry>();
  for (const [k, { version, v }] of Object.entries(initial))
    data.set(k, { version, epoch: 1, fields: { v: Buffer.from(JSON.stringify(v)) } });
  const calls: string[][] = [];
  const loader = async (keys: readonly string[]) => {
    calls.push([...keys]);
    const out = new Map<string, StoredEntry>();
    for (const k of keys) if (data.has(k)) out.set(k, data.get(k)!);
    return out;
  };
  return { data, calls, loader };
}

function cache(maxEntries: number, b = fakeBackend(), authoritative = false) {
  const c = new VersionedCache<number>({
    name: 'n',
    codec: jsonCodec<number>(),
    maxEntries,
    loader: b.loader,
    authoritative,
  });
  c.init();
  return c;
}

test('put requires a strictly increasing version per key', async () => {
  const c = cache(10, fakeBackend({ a: { version: 5, v: 1 } }));
  await c.ensureLoaded(['a', 'b']);
  assert.equal(c.get('a'), 1);
  assert.equal(c.version('a'), 5);
  assert.throws(
    () => c.put('a', 2, 5),
    (e: unknown) => e instanceof ThermostatError && e.reason === 'INTERNAL',
  );
  assert.throws(() => c.put('a', 2, 4), ThermostatError);
  c.put('a', 2, 6);
  assert.throws(() => c.put('a', 3, 6), ThermostatError);
  c.put('b', 7, 0); // absent key: any version >= 0
  assert.throws(() => c.delete('b', 0), ThermostatError);
  assert.throws(() => c.put('b', 1, 1.5), ThermostatError);
  assert.throws(() => c.put('b', 1, -1), ThermostatError);
  c.delete('b', 1);
  assert.equal(c.get('b'), undefined);
  assert.equal(c.has('b'), false);
  assert.equal(c.version('b'), 1);
});

test('dirty writes coalesce per key: one entry with the latest value and version', async () => {
  const c = cache(100);
  await c.ensureLoaded(['x', 'y']);
  for (let v = 1; v <= 50; v++) c.put('x', v * 10, v);
  c.put('y', 1, 3);
  c.delete('y', 4);
  assert.equal(c.stats().dirty, 2);
  const d = c.drainDirty();
  assert.deepEqual(
    d.map((e) => ({ key: e.key, version: e.version, v: e.fields === null ? null : String(e.fields.v) })),
    [
      { key: 'x', version: 50, v: '500' },
      { key: 'y', version: 4, v: null },
    ],
  );
  assert.deepEqual(c.drainDirty(), []);
  assert.deepEqual(
    { ...c.stats(), loads: 0, loadedKeys: 0 },
    { entries: 2, dirty: 0, pending: 2, clean: 0, evictions: 0, loads: 0, loadedKeys: 0 },
  );
  // A write after drain makes the key dirty again; the ack of the older version does not clean it.
  c.put('x', 7, 51);
  c.markDurable(d);
  assert.deepEqual([c.stats().dirty, c.stats().pending, c.stats().clean], [1, 0, 1]);
});

test('eviction only drops clean entries, never dirty or pending ones', async () => {
  const b = fakeBackend();
  const c = cache(4, b);
  await c.ensureLoaded(['d1', 'd2', 'p1', 'p2']);
  c.put('p1', 1, 1);
  c.put('p2', 1, 1);
  const pend = c.drainDirty(); // p1, p2 pending
  c.put('d1', 1, 1);
  c.put('d2', 1, 1); // d1, d2 dirty
  // 4 resident, all unevictable: loading 3 more overflows the soft bound rather than drop anything.
  await c.ensureLoaded(['n1', 'n2', 'n3']);
  assert.equal(c.stats().evictions, 0);
  assert.equal(c.stats().entries, 7);
  // Next batch: the 3 clean ones (n1..n3) are the only candidates.
  await c.ensureLoaded(['m1', 'm2', 'm3']);
  assert.equal(c.stats().evictions, 3);
  for (const k of ['d1', 'd2', 'p1', 'p2']) assert.equal(c.get(k), 1, k);
  // Once durable, p1/p2 become evictable.
  c.markDurable(pend);
  await c.ensureLoaded(['z1', 'z2']);
  // 7 resident + 2 incoming, bound 4: all 5 clean ones (p1, p2, m1..m3) go, dirty d1/d2 stay.
  assert.equal(c.stats().entries, 4);
  assert.equal(c.stats().evictions, 8);
  assert.equal(c.get('d1'), 1);
  assert.equal(c.get('d2'), 1);
});

test('property: whatever the access pattern, no dirty or pending value is ever lost by eviction', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.boolean(), fc.boolean()), {
        minLength: 1,
        maxLength: 200,
      }),
      async (ops) => {
        const b = fakeBackend();
        const c = cache(5, b);
        const truth = new Map<string, { v: number; version: number }>();
        let version = 0;
        for (const [k, write, checkpoint] of ops) {
          const key = `k${k}`;
          await c.ensureLoaded([key]);
          const want = truth.get(key);
          assert.equal(c.get(key), want?.v);
          if (write) {
            version++;
            c.put(key, version, version);
            truth.set(key, { v: version, version });
          }
          if (checkpoint) {
            // Durable immediately: write to the fake backend, then ack.
            const d = c.drainDirty();
            for (const e of d)
              b.data.set(e.key, {
                version: e.version,
                epoch: 1,
                fields: e.fields === null ? null : { v: Buffer.from(String(e.fields.v)) },
              });
            c.markDurable(d);
          }
        }
      },
    ),
    { numRuns: 200, seed: 7 },
  );
});

test('misses of a batch are fetched in ONE loader call; hits and repeats are not refetched', async () => {
  const b = fakeBackend({ a: { version: 1, v: 10 }, c: { version: 2, v: 30 } });
  const c = cache(100, b);
  await c.ensureLoaded(['a', 'b', 'c', 'a', 'b']);
  assert.deepEqual(b.calls, [['a', 'b', 'c']]);
  assert.equal(c.get('a'), 10);
  assert.equal(c.get('b'), undefined); // absent in the store: known absent now
  assert.equal(c.get('c'), 30);
  await c.ensureLoaded(['a', 'b', 'd']);
  assert.deepEqual(b.calls, [['a', 'b', 'c'], ['d']]);
  await c.ensureLoaded(['a']);
  assert.equal(b.calls.length, 2);
  assert.throws(
    () => c.get('never-loaded'),
    (e: unknown) => e instanceof ThermostatError && e.reason === 'INTERNAL',
  );
});

test('an evicted key is reloaded on miss with its stored version', async () => {
  const b = fakeBackend({ a: { version: 9, v: 1 } });
  const c = cache(2, b);
  await c.ensureLoaded(['a']);
  await c.ensureLoaded(['b', 'c']); // evicts a (clean)
  assert.equal(c.stats().evictions, 1);
  await c.ensureLoaded(['a']);
  assert.equal(c.get('a'), 1);
  assert.equal(c.version('a'), 9);
  assert.throws(() => c.put('a', 2, 9), ThermostatError); // the reloaded version still fences
  assert.deepEqual(b.calls, [['a'], ['b', 'c'], ['a']]);
});

test('authoritative cache (task never checkpointed) answers misses locally until the first eviction', async () => {
  const b = fakeBackend();
  const c = cache(2, b, true);
  await c.ensureLoaded(['a', 'b']);
  assert.equal(c.get('a'), undefined);
  assert.equal(b.calls.length, 0);
  await c.ensureLoaded(['c']); // evicts one: no longer authoritative
  assert.equal(c.stats().evictions, 1);
  await c.ensureLoaded(['d']);
  assert.deepEqual(b.calls.at(-1), ['d']);
});

test('lifecycle: closed store refuses access; bytes codec round-trips binary', async () => {
  const c = new VersionedCache<Buffer>({
    name: 'b',
    codec: bytesCodec,
    maxEntries: 4,
    loader: fakeBackend().loader,
    authoritative: true,
  });
  assert.equal(c.isOpen(), false);
  assert.throws(() => c.get('x'), ThermostatError);
  c.init();
  await c.ensureLoaded(['x']);
  const bin = Buffer.from([0, 255, 1, 0]);
  c.put('x', bin, 0);
  const [e] = c.commit();
  assert.deepEqual(bytesCodec.decode(e.fields as Record<string, Buffer>, 0), bin);
  assert.deepEqual(
    [...c.entries()].map(([k]) => k),
    ['x'],
  );
  c.close();
  c.close();
  assert.equal(c.isOpen(), false);
  assert.throws(() => c.get('x'), ThermostatError);
});

test('recordCacheGauges sums resident entries per store name across tasks', async () => {
  const { Registry } = await import('prom-client');
  const { createMetrics } = await import('../../../core/metrics.js');
  const { recordCacheGauges } = await import('../../../state/versioned-cache.js');
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const a = cache(10, fakeBackend(), true);
  const b = cache(10, fakeBackend(), true);
  await a.ensureLoaded(['x', 'y']);
  await b.ensureLoaded(['z']);
  recordCacheGauges(metrics, [a, b]);
  assert.deepEqual(
    (await metrics.stateEntries.get()).values.map((v) => [v.labels.store, v.value]),
    [['n', 3]],
  );
});
