import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { MemoryCheckpointStore } from '../../../state/memory-checkpoint.js';
import { FencedError, ThermostatError } from '../../../core/errors.js';
import { createMetrics } from '../../../core/metrics.js';
import type { CheckpointEntry } from '../../../state/store.js';

const task = { stage: 'user', partition: 3 };
const e = (key: string, version: number, v: string | null): CheckpointEntry => ({
  store: 'user',
  key,
  version,
  fields: v === null ? null : { v },
});

test('acquire bumps the epoch and returns the last metadata', async () => {
  const s = new MemoryCheckpointStore();
  const a = await s.acquire(task);
  assert.deepEqual(a, { epoch: 1, meta: null });
  await s.commit(task, { epoch: 1, seq: 1, entries: [e('u1', 5, 'a')], meta: Buffer.from('m1') });
  const b = await s.acquire(task);
  assert.equal(b.epoch, 2);
  assert.equal(b.meta?.toString(), 'm1');
});

test('a stale epoch is fenced: whole call refused, counted, newer state untouched', async () => {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const s = new MemoryCheckpointStore(metrics);
  const zombie = await s.acquire(task);
  const owner = await s.acquire(task);
  await s.commit(task, {
    epoch: owner.epoch,
    seq: 1,
    entries: [e('u1', 10, 'new')],
    meta: Buffer.from('owner'),
  });
  await assert.rejects(
    s.commit(task, {
      epoch: zombie.epoch,
      seq: 9,
      entries: [e('u1', 11, 'zombie'), e('u2', 1, 'zombie')],
      meta: Buffer.from('zombie'),
    }),
    (err: unknown) => err instanceof FencedError && err.reason === 'STATE_FENCED',
  );
  assert.equal((await metrics.fencedWrites.get()).values[0].value, 1);
  const got = await s.load(task, 'user', ['u1', 'u2']);
  assert.equal(got.get('u1')?.fields?.v.toString(), 'new');
  assert.equal(got.get('u1')?.version, 10);
  assert.equal(got.has('u2'), false);
  assert.equal(s.inspect(task)?.meta?.toString(), 'owner');
});

test('stale versions are skipped per key; duplicate seqs are ignored as a whole', async () => {
  const s = new MemoryCheckpointStore();
  const { epoch } = await s.acquire(task);
  assert.deepEqual(
    await s.commit(task, {
      epoch,
      seq: 1,
      entries: [e('a', 5, 'a5'), e('b', 5, 'b5')],
      meta: Buffer.from('1'),
    }),
    { written: 2, skippedStale: 0, duplicate: false },
  );
  assert.deepEqual(
    await s.commit(task, {
      epoch,
      seq: 2,
      entries: [e('a', 5, 'a5x'), e('b', 4, 'b4'), e('c', 1, null)],
      meta: Buffer.from('2'),
    }),
    { written: 1, skippedStale: 2, duplicate: false },
  );
  assert.deepEqual(
    await s.commit(task, { epoch, seq: 2, entries: [e('a', 9, 'late')], meta: Buffer.from('late') }),
    { written: 0, skippedStale: 0, duplicate: true },
  );
  const got = await s.load(task, 'user', ['a', 'b', 'c']);
  assert.equal(got.get('a')?.fields?.v.toString(), 'a5');
  assert.equal(got.get('b')?.fields?.v.toString(), 'b5');
  assert.deepEqual(got.get('c'), { version: 1, epoch, fields: null });
  assert.equal(s.inspect(task)?.meta?.toString(), '2');
});

test('unavailable store rejects with a retriable DEPENDENCY error', async () => {
  const s = new MemoryCheckpointStore();
  s.setAvailable(false);
  await assert.rejects(
    s.acquire(task),
    (err: unknown) => err instanceof ThermostatError && err.reason === 'DEPENDENCY' && err.retriable,
  );
});

test('merge vs replace: fixed-shape values merge fields, variable-shape values are rewritten', async () => {
  const s = new MemoryCheckpointStore();
  const { epoch } = await s.acquire(task);
  await s.commit(task, {
    epoch,
    seq: 1,
    entries: [
      { store: 'a', key: 'm', version: 1, fields: { x: '1', y: '1' } },
      { store: 'a', key: 'r', version: 1, fields: { x: '1', y: '1' }, replace: true },
    ],
    meta: Buffer.from('1'),
  });
  await s.commit(task, {
    epoch,
    seq: 2,
    entries: [
      { store: 'a', key: 'm', version: 2, fields: { x: '2' } },
      { store: 'a', key: 'r', version: 2, fields: { x: '2' }, replace: true },
    ],
    meta: Buffer.from('2'),
  });
  const got = await s.load(task, 'a', ['m', 'r']);
  const str = (k: string) =>
    Object.fromEntries(Object.entries(got.get(k)!.fields!).map(([f, v]) => [f, v.toString()]));
  assert.deepEqual(str('m'), { x: '2', y: '1' });
  assert.deepEqual(str('r'), { x: '2' });
});
