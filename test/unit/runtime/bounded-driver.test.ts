// The in-process driver with declared reads and regular checkpoints holds what its state needs,
// not the whole run: consumed input and internal records are dropped once checkpointed, the
// changelogs keep one record per key, and outputs, states and a crash-restart are unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContentState, HeatingAllocation, UserMindState } from '../../../schemas/types.js';
import type { ThermostatTestDriver } from '../../../pipelines/test-driver.js';
import { createDriver } from '../../support/driver.js';
import { scenario } from '../../support/scenario.js';

const MIN = 60_000;
const PARTITIONS = 3;
const { contents, interactions } = scenario(5, {
  contents: 40,
  interactions: 6000,
  users: 200,
  categories: 4,
  startMs: MIN,
  stepMs: 100,
  clickRate: 0.25,
});
const END = MIN + interactions.length * 100 + 2 * MIN;

/** Pipes the scenario in chunks (a checkpoint after each when `bounded`), optionally crashing after one. */
async function run(bounded: boolean, crashAfterChunk?: number) {
  const d = await createDriver({
    partitions: PARTITIONS,
    tickMs: MIN,
    batchSize: 101,
    ...(bounded ? { reads: ['heating-allocations', 'content-state'] } : {}),
  });
  const allocations: HeatingAllocation[] = [];
  await d.pipeInput('content-published', contents);
  const CHUNK = 1000;
  for (let i = 0, chunk = 0; i < interactions.length; i += CHUNK, chunk++) {
    await d.pipeInput('user-interactions', interactions.slice(i, i + CHUNK));
    await d.advanceEventTime(interactions[Math.min(i + CHUNK, interactions.length) - 1].event_time - MIN);
    allocations.push(...d.readOutput<HeatingAllocation>('heating-allocations'));
    // A crash loses what was processed after the previous chunk's checkpoint; the restart replays it.
    if (chunk === crashAfterChunk) await d.restart();
    else if (bounded || chunk === crashAfterChunk! - 1) await d.checkpoint();
  }
  await d.advanceEventTime(END);
  allocations.push(...d.readOutput<HeatingAllocation>('heating-allocations'));
  const byId = <T extends { user_id?: string; content_id?: string }>(xs: T[]) =>
    JSON.parse(
      JSON.stringify(
        xs.sort((a, b) => (a.user_id ?? a.content_id!).localeCompare(b.user_id ?? b.content_id!)),
      ),
    ) as T[];
  return {
    d,
    allocations: JSON.parse(JSON.stringify(allocations)) as HeatingAllocation[],
    users: byId<UserMindState>(d.allUserStates()),
    content: byId<ContentState>(d.allContentStates()),
  };
}

function held(d: ThermostatTestDriver, topic: string): number {
  let n = 0;
  for (let p = 0; p < d.broker.partitions(topic); p++) n += d.broker.retained(topic, p);
  return n;
}

test('bounded: consumed records are dropped after a checkpoint, changelogs keep one per key, outputs unchanged', async () => {
  const all = await run(false);
  const bounded = await run(true);
  assert.ok(all.allocations.length > 0, 'allocations emitted');
  assert.deepEqual(bounded.allocations, all.allocations);
  assert.deepEqual(bounded.users, all.users);
  assert.deepEqual(bounded.content, all.content);

  const d = bounded.d;
  await d.checkpoint();
  const n = d.names;
  assert.equal(held(all.d, n.interactions), interactions.length, 'the default driver keeps every input');
  assert.equal(held(d, n.interactions), 0, 'every interaction consumed and checkpointed: dropped');
  assert.equal(held(d, n.published), 0);
  assert.ok(held(all.d, n.contentEvents) >= interactions.length);
  assert.ok(held(d, n.contentEvents) < 50, `content events still held: ${held(d, n.contentEvents)}`);
  assert.ok(held(d, n.allocatorInput) < 50, `allocator input still held: ${held(d, n.allocatorInput)}`);
  assert.equal(held(d, n.allocations), 0, 'read by the caller: dropped');
  // Changelogs: at most the latest record per key (plus an uncleaned part below the cleaning threshold).
  const users = bounded.users.length;
  assert.ok(held(all.d, n.userChangelog) > 2 * users, 'the default driver keeps every update');
  const userUpdates = d.broker.all(n.userChangelog);
  assert.ok(
    userUpdates.length <= 2 * users + 1024 * PARTITIONS,
    `user changelog held: ${userUpdates.length}`,
  );
  assert.equal(new Set(userUpdates.map((r) => r.key)).size, users, 'every user still has its latest state');
});

test('bounded: a crash after a checkpoint replays from what was kept and ends in the same state', async () => {
  const all = await run(false, 2);
  const bounded = await run(true, 2);
  assert.deepEqual(bounded.allocations, all.allocations);
  assert.deepEqual(bounded.users, all.users);
  assert.deepEqual(bounded.content, all.content);
});

test('bounded: reading a topic not declared in reads is refused', async () => {
  const d = await createDriver({ reads: ['heating-allocations'] });
  assert.throws(
    () => d.readOutput('user-mind-state'),
    /readOutput\(user-mind-state\): not among the topics this driver reads/,
  );
});
