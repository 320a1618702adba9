// Event-time jumps: a content published a year before the next traffic must not make the
// graph close every empty 1-minute tick in between. Empty ticks are skipped in one step by the
// content stage, and the allocator runs only ticks that some partition materialised.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocationId } from '../../../agents/system.js';
import type { TickReport } from '../../../pipelines/allocator-task.js';
import type { AllocatorInput, ContentState, HeatingAllocation } from '../../../schemas/types.js';
import { createDriver, interaction, publication } from '../../support/driver.js';
import { scenario } from '../../support/scenario.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const YEAR = 365 * 24 * HOUR;
// A content stays live (requests heating every tick) for an hour here, so the live window before
// the jump is 61 real ticks; the year after it is empty.
const agents = { content: { maxHeatingAgeMs: HOUR } };

test('a one-year event-time jump skips the empty ticks and runs exactly the ticks that have work', async () => {
  const ran: TickReport[] = [];
  const d = await createDriver({ partitions: 2, tickMs: MIN, agents, onTick: (r) => ran.push(r) });
  await d.pipeInput('content-published', [publication({ content_id: 'c1', published_at: 0 })]);
  await d.pipeInput('user-interactions', [
    interaction({ user_id: 'u1', content_id: 'c1', event_time: 10_000 }),
    interaction({ user_id: 'u2', content_id: 'c1', event_time: 70_000 }),
  ]);
  await d.pipeInput('content-published', [publication({ content_id: 'c2', published_at: YEAR })]);
  await d.pipeInput('user-interactions', [
    interaction({ user_id: 'u1', content_id: 'c2', event_time: YEAR + 10_000 }),
    interaction({ user_id: 'u2', content_id: 'c2', event_time: YEAR + 70_000 }),
  ]);
  await d.advanceEventTime(YEAR + 3 * MIN);

  // c1 is live from tick 1 min to the tick that ages it out (61 ticks); c2 and the interactions
  // after the jump make the next three ticks. Nothing in between (525,536 ticks) is run.
  const expected: number[] = [];
  for (let t = MIN; t <= HOUR + MIN; t += MIN) expected.push(t);
  expected.push(YEAR + MIN, YEAR + 2 * MIN, YEAR + 3 * MIN);
  assert.deepEqual(
    ran.map((r) => r.tick),
    expected,
  );
  assert.deepEqual(
    ran.filter((r) => r.totals.impressions > 0).map((r) => [r.tick, r.totals.impressions]),
    [
      [MIN, 1],
      [2 * MIN, 1],
      [YEAR + MIN, 1],
      [YEAR + 2 * MIN, 1],
    ],
  );
  assert.equal(d.contentState('c1')?.exposure, 2);
  assert.equal(d.contentState('c2')?.exposure, 2);
  assert.equal(d.userState('u1')?.version, 2, 'u1 applied both of its interactions (offsets 0 and 2)');

  // Every materialised contribution is one of those ticks; the partition without work reports
  // its progress with zero-chunk records instead of one empty contribution per tick.
  const inputs = d.readOutput<AllocatorInput>(d.names.allocatorInput);
  const materialised = inputs.filter((i) => i.chunks > 0);
  assert.ok(materialised.every((i) => expected.includes(i.tick)));
  assert.ok(materialised.length <= 2 * expected.length);
  const progress = inputs.filter((i) => i.chunks === 0);
  assert.ok(progress.length > 0, 'the idle partition sent progress');
  assert.ok(
    progress.every((i) => i.requests.length === 0 && i.totals.impressions === 0 && i.outcomes.length === 0),
  );
  assert.equal(
    Math.max(...progress.map((i) => i.tick)),
    YEAR + 3 * MIN,
    'progress reaches the last closed tick',
  );
});

/** Realistic traffic, a year of silence, more traffic; optionally a crash inside the gap. */
async function jumpRun(batchSize: number, crash: boolean) {
  const ran: number[] = [];
  const d = await createDriver({
    partitions: 3,
    tickMs: MIN,
    batchSize,
    agents,
    onTick: (r) => ran.push(r.tick),
  });
  const before = scenario(3, {
    contents: 12,
    interactions: 600,
    users: 40,
    categories: 3,
    startMs: MIN,
    stepMs: 300,
    clickRate: 0.3,
  });
  const after = scenario(4, {
    contents: 12,
    interactions: 600,
    users: 40,
    categories: 3,
    startMs: YEAR,
    stepMs: 300,
    clickRate: 0.3,
  });
  for (const c of after.contents) {
    c.content_id = `y${c.content_id}`;
    c.published_at += YEAR - 10 * MIN; // before the traffic: no publication runs ahead of it
  }
  for (const i of after.interactions) {
    i.content_id = `y${i.content_id}`;
    i.event_id = `y${i.event_id}`;
  }
  await d.pipeInput('content-published', before.contents);
  await d.pipeInput('user-interactions', before.interactions);
  await d.pipeInput('content-published', after.contents);
  if (crash) {
    await d.checkpoint();
    await d.pipeInput('user-interactions', after.interactions.slice(0, 200)); // lost work: not checkpointed
    await d.restart(); // replays the 200 from the log
    await d.pipeInput('user-interactions', after.interactions.slice(200));
  } else await d.pipeInput('user-interactions', after.interactions);
  await d.advanceEventTime(YEAR + 4 * HOUR);
  const allocations = d.readOutput<HeatingAllocation>('heating-allocations');
  const users = d.allUserStates().sort((a, b) => a.user_id.localeCompare(b.user_id));
  // The compacted changelog's view (latest per key): after a restart, contents untouched since are
  // not resident, but their last changelog record is their state.
  const content = new Map<string, ContentState>();
  for (const c of d.readOutput<ContentState>('content-state')) content.set(c.content_id, { ...c });
  return {
    ran,
    allocations,
    users,
    content: [...content.values()].sort((x, y) => x.content_id.localeCompare(y.content_id)),
  };
}

test('across a one-year jump, batching and a crash inside the gap change neither state, ticks nor allocation ids', async () => {
  const a = await jumpRun(1000, false);
  // Ticks: the live window after the first traffic, then the one after the jump; never the gap.
  // Ticks: each era's live window (an hour from publication), never the empty year between.
  const expected: number[] = [];
  for (let t = MIN; t <= HOUR + MIN; t += MIN) expected.push(t);
  for (let t = YEAR - 9 * MIN; t <= YEAR + 51 * MIN; t += MIN) expected.push(t);
  assert.deepEqual(
    a.ran,
    expected,
    'each era runs every tick of its hour-long live window, and no tick of the year between',
  );
  assert.ok(a.allocations.length > 0, 'allocations emitted');
  for (const x of a.allocations) assert.equal(x.allocation_id, allocationId(x.content_id, x.valid_from));
  assert.equal(
    a.content.reduce((s, c) => s + c.exposure, 0),
    1200,
    'every impression counted once',
  );

  const b = await jumpRun(7, true);
  assert.deepEqual(b.users, a.users);
  assert.deepEqual(b.content, a.content);
  assert.deepEqual(
    new Set(b.allocations.map((x) => x.allocation_id)),
    new Set(a.allocations.map((x) => x.allocation_id)),
  );
  assert.deepEqual([...new Set(b.ran)], a.ran, 'the same ticks run (a replayed tick is not run twice)');
});
