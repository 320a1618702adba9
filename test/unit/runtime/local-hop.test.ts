// The in-process graph may hand decoded records between stages (localHop) instead of Avro bytes;
// every output must be what the wire-format hop gives, record for record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  AllocatorInput,
  ContentState,
  HeatingAllocation,
  UserMindState,
} from '../../../schemas/types.js';
import { createDriver } from '../../support/driver.js';
import { scenario } from '../../support/scenario.js';

const MIN = 60_000;

async function run(localHop: boolean, crashAt?: number) {
  const d = await createDriver({ partitions: 3, tickMs: MIN, batchSize: 97, localHop });
  const { contents, interactions } = scenario(11, {
    contents: 30,
    interactions: 4000,
    users: 150,
    categories: 4,
    startMs: MIN,
    stepMs: 150,
    clickRate: 0.25,
  });
  await d.pipeInput('content-published', contents);
  if (crashAt === undefined) await d.pipeInput('user-interactions', interactions);
  else {
    await d.pipeInput('user-interactions', interactions.slice(0, crashAt));
    await d.checkpoint();
    await d.pipeInput('user-interactions', interactions.slice(crashAt, crashAt + 300));
    await d.restart();
    await d.pipeInput('user-interactions', interactions.slice(crashAt + 300));
  }
  await d.advanceEventTime(MIN + 4000 * 150 + 2 * MIN);
  // Plain objects: decoded Avro records are class instances, by-reference ones are not.
  const plain = <T>(xs: T[]): T[] => xs.map((x) => JSON.parse(JSON.stringify(x)) as T);
  return {
    allocations: plain(d.readOutput<HeatingAllocation>('heating-allocations')),
    users: plain(d.readOutput<UserMindState>('user-mind-state')),
    content: plain(d.readOutput<ContentState>('content-state')),
    ticks: plain(d.readOutput<AllocatorInput>(d.names.allocatorInput)),
  };
}

test('handing decoded records between stages gives the outputs of the Avro hop, record for record', async () => {
  const wire = await run(false);
  const local = await run(true);
  assert.ok(wire.allocations.length > 0, 'allocations emitted');
  assert.ok(wire.ticks.length > 10, 'ticks closed');
  assert.deepEqual(local.allocations, wire.allocations);
  assert.deepEqual(local.users, wire.users);
  assert.deepEqual(local.content, wire.content);
  assert.deepEqual(local.ticks, wire.ticks);
});

test('with the local hop, a crash and restart replays the same records', async () => {
  const wire = await run(false, 1500);
  const local = await run(true, 1500);
  assert.deepEqual(local.allocations, wire.allocations);
  assert.deepEqual(local.users, wire.users);
  assert.deepEqual(local.content, wire.content);
});
