import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ThermostatTestDriver } from '../../../pipelines/test-driver.js';
import { assertAllocationFields, testSerde as tmpSerde } from '../../support/driver.js';
import type { HeatingAllocation } from '../../../schemas/types.js';
import { scenario } from '../../support/scenario.js';

const MIN = 60_000;
const input = () => scenario(7);

async function run(batchSize: number, crashAt?: number) {
  const d = await ThermostatTestDriver.create({ serde: tmpSerde(), partitions: 3, tickMs: MIN, batchSize });
  const { contents, interactions } = input();
  await d.pipeInput('content-published', contents);
  if (crashAt === undefined) {
    await d.pipeInput('user-interactions', interactions);
  } else {
    await d.pipeInput('user-interactions', interactions.slice(0, crashAt));
    await d.checkpoint();
    await d.pipeInput('user-interactions', interactions.slice(crashAt, crashAt + 500)); // lost work: not checkpointed
    await d.restart();
    await d.pipeInput('user-interactions', interactions.slice(crashAt + 500));
  }
  // A heartbeat past the input: the last ticks close and every buffered record is applied.
  await d.advanceEventTime(Math.max(...interactions.map((i) => i.event_time)) + MIN);
  const allocations = d.readOutput<HeatingAllocation>('heating-allocations');
  const users = d.allUserStates().sort((a, b) => a.user_id.localeCompare(b.user_id));
  const content = d.allContentStates().sort((a, b) => a.content_id.localeCompare(b.content_id));
  return { d, allocations, users, content };
}

test('the graph produces allocations with the SPEC fields and state for every key', async () => {
  const { allocations, users, content } = await run(2000);
  assert.ok(allocations.length > 0, 'allocations emitted');
  const a = allocations[0];
  assertAllocationFields(a);
  assert.equal(users.length, 200);
  assert.equal(content.length, 30);
  assert.equal(
    content.reduce((s, c) => s + c.exposure, 0),
    3000,
    'every impression counted once',
  );
});

test('batching does not change state or allocation ids', async () => {
  const a = await run(2000);
  const b = await run(7);
  assert.deepEqual(b.users, a.users);
  assert.deepEqual(b.content, a.content);
  assert.deepEqual(
    new Set(b.allocations.map((x) => x.allocation_id)),
    new Set(a.allocations.map((x) => x.allocation_id)),
  );
});

test('a crash after a checkpoint restores the uninterrupted state and re-emits the same ids', async () => {
  const a = await run(2000);
  const b = await run(500, 1200);
  assert.deepEqual(b.users, a.users);
  assert.deepEqual(b.content, a.content);
  assert.deepEqual(
    new Set(b.allocations.map((x) => x.allocation_id)),
    new Set(a.allocations.map((x) => x.allocation_id)),
  );
});
