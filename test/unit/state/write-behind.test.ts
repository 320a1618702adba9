import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { MemoryCheckpointStore } from '../../../state/memory-checkpoint.js';
import type { Timers } from '../../../core/timers.js';
import { WriteBehind } from '../../../state/write-behind.js';
import { VersionedCache } from '../../../state/versioned-cache.js';
import { jsonCodec } from '../../../state/codecs.js';
import { ManualClock } from '../../../core/clock.js';
import { createMetrics } from '../../../core/metrics.js';
import { FencedError } from '../../../core/errors.js';
import type { SourceOffset, TaskId } from '../../../state/store.js';

/** Timers fired only by the test: retries happen exactly when the test says so. */
class ManualTimers implements Timers {
  private next = 1;
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const h = this.next++;
    this.pending.set(h, { fn, ms });
    return h;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  setInterval(): unknown {
    throw new Error('write-behind sets no interval');
  }
  clearInterval(): void {}
  delays(): number[] {
    return [...this.pending.values()].map((p) => p.ms);
  }
  fireAll(): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.fn();
  }
}

const tick = () => new Promise((r) => setImmediate(r));
const task: TaskId = { stage: 'user', partition: 0 };
const off = (o: number): SourceOffset[] => [{ topic: 'user-interactions', partition: 0, offset: String(o) }];

async function setup(maxQueuedEntries = 1000) {
  const store = new MemoryCheckpointStore();
  const timers = new ManualTimers();
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const durable: string[] = [];
  const wb = new WriteBehind({
    store,
    maxQueuedEntries,
    clock: new ManualClock(0),
    metrics,
    timers,
    backoff: { initialMs: 100, maxMs: 400 },
    onDurable: (_t, o) => durable.push(o[0].offset),
  });
  const { epoch, meta } = await wb.acquire(task);
  const cache = new VersionedCache<number>({
    name: 'user',
    codec: jsonCodec<number>(),
    maxEntries: 100,
    loader: (k) => store.load(task, 'user', k),
    authoritative: meta === null,
  });
  cache.init();
  return { store, timers, metrics, durable, wb, cache, epoch };
}

test('checkpoints are handed over without awaiting; offsets become durable only after the commit', async () => {
  const { store, wb, cache, durable } = await setup();
  await cache.ensureLoaded(['a', 'b']);
  cache.put('a', 1, 1);
  cache.put('b', 2, 2);
  wb.checkpoint(task, { stores: [cache], meta: Buffer.from('o2'), offsets: off(3) });
  assert.deepEqual(durable, []); // not yet: the commit is in flight
  assert.equal(cache.stats().pending, 2);
  await wb.flush(task);
  assert.deepEqual(durable, ['3']);
  assert.equal(cache.stats().clean, 2);
  assert.equal(store.inspect(task)?.meta?.toString(), 'o2');
});

test('outage: checkpoints coalesce per key (latest version wins), then all land with the latest meta', async () => {
  const { store, wb, cache, timers, durable, metrics } = await setup();
  await cache.ensureLoaded(['a', 'b', 'c']);
  store.setAvailable(false);
  for (let i = 1; i <= 30; i++) {
    const key = ['a', 'b', 'c'][i % 3];
    cache.put(key, i * 100, i);
    if (i % 5 === 0)
      wb.checkpoint(task, { stores: [cache], meta: Buffer.from(`m${i}`), offsets: off(i + 1) });
    await tick();
    if (timers.pending.size > 0 && i % 10 === 0) timers.fireAll(); // retries fail while down
    await tick();
  }
  assert.equal(wb.health().degraded, true);
  assert.equal(wb.health().ready, false);
  assert.equal(wb.queuedEntries(), 3); // three distinct keys, however many checkpoints
  assert.deepEqual(durable, []);
  assert.deepEqual(timers.delays(), [400]); // backoff doubled 100 → 200 → 400 (capped)
  assert.equal((await metrics.degraded.get()).values[0].value, 1);
  store.setAvailable(true);
  await wb.flush(task);
  assert.deepEqual(durable, ['31']); // one commit carried all six queued checkpoints
  const got = await store.load(task, 'user', ['a', 'b', 'c']);
  assert.deepEqual(
    [...got].map(([k, s]) => [k, s.version, s.fields?.v.toString()]),
    [
      ['a', 30, '3000'],
      ['b', 28, '2800'],
      ['c', 29, '2900'],
    ],
  );
  assert.equal(store.inspect(task)?.meta?.toString(), 'm30');
  assert.deepEqual(wb.health(), { ready: true, degraded: false, reason: 'ok' });
  assert.equal(wb.queuedEntries(), 0);
  assert.equal((await metrics.degraded.get()).values[0].value, 0);
});

test('bounded queue: backpressure once queued entries reach maxQueuedEntries, released after drain', async () => {
  const { store, wb, cache } = await setup(10);
  store.setAvailable(false);
  const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
  await cache.ensureLoaded(keys);
  for (let i = 0; i < 9; i++) cache.put(keys[i], 1, 1);
  wb.checkpoint(task, { stores: [cache], meta: Buffer.from('x'), offsets: off(1) });
  await tick();
  assert.equal(wb.backpressure(), false);
  cache.put(keys[0], 2, 2); // same key again: coalesces, queue does not grow
  wb.checkpoint(task, { stores: [cache], meta: Buffer.from('y'), offsets: off(2) });
  assert.equal(wb.queuedEntries(), 9); // the failed batch is pending again; k0 coalesced into it
  assert.equal(wb.backpressure(), false);
  cache.put(keys[9], 1, 1); // a tenth distinct key reaches the bound
  wb.checkpoint(task, { stores: [cache], meta: Buffer.from('z'), offsets: off(3) });
  assert.equal(wb.queuedEntries(), 10);
  assert.equal(wb.backpressure(), true);
  assert.match(wb.health().reason, /backpressure/);
  store.setAvailable(true);
  await wb.flush(task);
  assert.equal(wb.backpressure(), false);
  assert.equal(wb.queuedEntries(), 0);
  assert.equal((await store.load(task, 'user', ['k0'])).get('k0')?.version, 2);
});

test('a zombie write-behind is fenced: waiters reject, onFenced fires, newer owner untouched', async () => {
  const store = new MemoryCheckpointStore();
  const fenced: string[] = [];
  const mk = () =>
    new WriteBehind({
      store,
      maxQueuedEntries: 100,
      clock: new ManualClock(0),
      onFenced: (t, e) => fenced.push(`${t.stage}/${t.partition}:${e.reason}`),
    });
  const zombie = mk();
  const owner = mk();
  await zombie.acquire(task);
  await owner.acquire(task);
  owner.submit(task, {
    entries: [{ store: 'user', key: 'a', version: 5, fields: { v: 'owner' } }],
    meta: Buffer.from('owner'),
    offsets: off(6),
  });
  await owner.flush(task);
  zombie.submit(task, {
    entries: [{ store: 'user', key: 'a', version: 9, fields: { v: 'zombie' } }],
    meta: Buffer.from('zombie'),
    offsets: off(10),
  });
  await assert.rejects(zombie.flush(task), FencedError);
  assert.deepEqual(fenced, ['user/0:STATE_FENCED']);
  assert.throws(() => zombie.submit(task, { entries: [], meta: Buffer.from('z'), offsets: [] }), FencedError);
  assert.equal((await store.load(task, 'user', ['a'])).get('a')?.fields?.v.toString(), 'owner');
  assert.equal(store.inspect(task)?.meta?.toString(), 'owner');
});

test('flush of a task released meanwhile (fenced during a revocation) rejects and never throws', async () => {
  const { wb } = await setup();
  wb.release(task);
  // A revocation flushes its tasks in one map: a throw there skipped giving up the others.
  let flushed: Promise<void> | undefined;
  assert.doesNotThrow(() => (flushed = wb.flush(task)));
  await assert.rejects(flushed!, /not acquired/);
});

test('at most one commit in flight per task; checkpoints sent meanwhile coalesce into the next one', async () => {
  const store = new MemoryCheckpointStore();
  let inflight = 0;
  let maxInflight = 0;
  const sent: number[] = [];
  const gate: (() => void)[] = [];
  const slow = Object.assign(Object.create(store) as MemoryCheckpointStore, {
    commit: async (t: TaskId, req: Parameters<MemoryCheckpointStore['commit']>[1]) => {
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      sent.push(req.entries.length);
      await new Promise<void>((r) => gate.push(r));
      inflight--;
      return store.commit(t, req);
    },
  });
  const wb = new WriteBehind({ store: slow, maxQueuedEntries: 100, clock: new ManualClock(0) });
  await wb.acquire(task);
  for (let i = 1; i <= 10; i++)
    wb.submit(task, {
      entries: [{ store: 'user', key: `k${i % 4}`, version: i, fields: { v: String(i) } }],
      meta: Buffer.from(String(i)),
      offsets: off(i),
    });
  let finished = false;
  const done = wb.flush(task).then(() => (finished = true));
  for (let i = 0; i < 100 && !finished; i++) {
    await tick();
    gate.shift()?.(); // let the in-flight commit complete
  }
  await done;
  assert.equal(maxInflight, 1);
  assert.deepEqual(sent, [1, 4]); // the first checkpoint alone, then checkpoints 2..10 over 4 keys
  assert.equal(store.inspect(task)?.meta?.toString(), '10');
  assert.equal((await store.load(task, 'user', ['k2'])).get('k2')?.version, 10);
});

test('a checkpoint that changes nothing is not written; any new entry, metadata or offset is', async () => {
  const store = new MemoryCheckpointStore();
  const clock = new ManualClock(0);
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const durable: string[] = [];
  const wb = new WriteBehind({
    store,
    maxQueuedEntries: 100,
    clock,
    metrics,
    maxSkipMs: 10_000,
    onDurable: (_t, o) => durable.push(o[0].offset),
  });
  await wb.acquire(task);
  const written = () => store.inspect(task)?.checkpoints ?? 0;
  const submit = (meta: string, offset: number, entries: { key: string; version: number }[] = []) => {
    wb.submit(task, {
      entries: entries.map((e) => ({ ...e, store: 'user', fields: { v: String(e.version) } })),
      meta: Buffer.from(meta),
      offsets: off(offset),
    });
    return wb.flush(task);
  };
  await submit('m1', 3, [{ key: 'a', version: 1 }]);
  assert.equal(written(), 1);
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    await submit('m1', 3); // idle rounds
  }
  assert.equal(written(), 1, 'idle rounds write nothing');
  assert.equal(wb.stats().skipped, 5);
  assert.equal((await metrics.checkpointsSkipped.get()).values[0].value, 5);
  assert.deepEqual(durable, ['3'], 'no offsets reported again');

  await submit('m2', 3); // metadata changed (e.g. a watermark moved)
  assert.equal(written(), 2);
  await submit('m2', 4); // a position moved (a record read that changed no state)
  assert.equal(written(), 3);
  await submit('m2', 4, [{ key: 'a', version: 2 }]); // a changed entry
  assert.equal(written(), 4);
  assert.equal((await store.load(task, 'user', ['a'])).get('a')?.version, 2);
  assert.deepEqual(durable, ['3', '3', '4', '4']);
  assert.equal(wb.stats().skipped, 5);
});

test('an unchanged checkpoint sent while the previous one is in flight is not sent again', async () => {
  const store = new MemoryCheckpointStore();
  const gate: (() => void)[] = [];
  let sent = 0;
  const slow = Object.assign(Object.create(store) as MemoryCheckpointStore, {
    commit: async (t: TaskId, req: Parameters<MemoryCheckpointStore['commit']>[1]) => {
      sent++;
      await new Promise<void>((r) => gate.push(r));
      return store.commit(t, req);
    },
  });
  const wb = new WriteBehind({ store: slow, maxQueuedEntries: 100, clock: new ManualClock(0) });
  await wb.acquire(task);
  const same = { entries: [], meta: Buffer.from('m'), offsets: off(7) };
  wb.submit(task, { ...same, entries: [{ store: 'user', key: 'a', version: 1, fields: { v: '1' } }] });
  wb.submit(task, same);
  wb.submit(task, same);
  let finished = false;
  const done = wb.flush(task).then(() => (finished = true));
  for (let i = 0; i < 20 && !finished; i++) {
    await tick();
    gate.shift()?.();
  }
  await done;
  assert.equal(sent, 1);
  assert.equal(wb.stats().skipped, 2);
});

test('an idle task still writes once per maxSkipMs: an idle zombie learns of its fence then', async () => {
  const store = new MemoryCheckpointStore();
  const clock = new ManualClock(0);
  const fenced: string[] = [];
  const mk = () =>
    new WriteBehind({
      store,
      maxQueuedEntries: 100,
      clock,
      maxSkipMs: 10_000,
      onFenced: (t) => fenced.push(`${t.stage}/${t.partition}`),
    });
  const zombie = mk();
  await zombie.acquire(task);
  const idle = { entries: [], meta: Buffer.from('m'), offsets: off(1) };
  zombie.submit(task, idle);
  await zombie.flush(task);
  const owner = mk();
  await owner.acquire(task); // a newer epoch
  clock.advance(9_999);
  zombie.submit(task, idle);
  await zombie.flush(task);
  assert.deepEqual(fenced, [], 'skipped: nothing sent, nothing learnt');
  assert.equal(zombie.stats().skipped, 1);
  clock.advance(1);
  zombie.submit(task, idle);
  await assert.rejects(zombie.flush(task), FencedError);
  assert.deepEqual(fenced, ['user/0']);
  assert.equal(store.inspect(task)?.checkpoints, 1, 'the zombie wrote nothing after the takeover');
});
