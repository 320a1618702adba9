// A catalogue published days before the first interaction makes the first watermark advance close
// every tick of its history at once (each live content requests heating each tick). The content
// stage closes such a catch-up in bounded steps, the allocator reading each step before the next:
// the same ticks, requests, allocations and states as one call, with a bounded amount in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TickReport } from '../../../pipelines/allocator-task.js';
import type { ThermostatTestDriver } from '../../../pipelines/test-driver.js';
import type { AllocatorInput, ContentState, HeatingAllocation } from '../../../schemas/types.js';
import { createDriver } from '../../support/driver.js';
import { scenario } from '../../support/scenario.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const START = 2 * DAY; // first interaction
// Each content requests heating (it is in its trial) every tick of its 4 live hours.
const LIVE_TICKS = 4 * 60;
const agents = { content: { maxHeatingAgeMs: LIVE_TICKS * MIN } };

const { contents, interactions } = scenario(11, {
  contents: 40,
  interactions: 1500,
  users: 150,
  categories: 4,
  startMs: START,
  stepMs: 600,
  clickRate: 0.3,
});
// The catalogue: published over the day before the traffic.
for (const [i, c] of contents.entries()) c.published_at = START - DAY + i * 36 * MIN;

/** Heating requests held on the allocator's input topic (its unread records, when nothing is kept for replay). */
function requestsInFlight(d: ThermostatTestDriver): number {
  let n = 0;
  for (const r of d.broker.all(d.names.allocatorInput)) n += (r.decoded as AllocatorInput).requests.length;
  return n;
}

async function run(o: { stepWork: number; batchSize: number; replayable: boolean }) {
  const ticks: { tick: number; requests: string[] }[] = [];
  let maxInFlight = 0;
  let driver: ThermostatTestDriver | null = null;
  const d = await createDriver({
    partitions: 2,
    tickMs: MIN,
    agents,
    batchSize: o.batchSize,
    localHop: true,
    contentStepWork: o.stepWork,
    replayable: o.replayable,
    reads: ['heating-allocations', 'content-state'],
    onTick: (r: TickReport) => {
      ticks.push({ tick: r.tick, requests: r.requests.map((q) => q.content_id) });
      maxInFlight = Math.max(maxInFlight, requestsInFlight(driver!));
    },
  });
  driver = d;
  await d.pipeInput('content-published', contents);
  const allocations: HeatingAllocation[] = [];
  for (let i = 0; i < interactions.length; i += 500) {
    await d.pipeInput('user-interactions', interactions.slice(i, i + 500));
    allocations.push(...d.readOutput<HeatingAllocation>('heating-allocations'));
  }
  await d.advanceEventTime(START + 40 * MIN);
  allocations.push(...d.readOutput<HeatingAllocation>('heating-allocations'));
  const content = new Map<string, ContentState>();
  for (const c of d.readOutput<ContentState>('content-state')) content.set(c.content_id, c);
  return {
    ticks,
    maxInFlight,
    allocations: JSON.parse(JSON.stringify(allocations)) as HeatingAllocation[],
    users: JSON.parse(JSON.stringify(d.allUserStates())) as unknown[],
    content: JSON.parse(
      JSON.stringify([...content.values()].sort((a, b) => a.content_id.localeCompare(b.content_id))),
    ) as ContentState[],
  };
}

test('a catch-up over a catalogue history closes in bounded steps with the outputs of one call', async () => {
  const once = await run({ stepWork: Infinity, batchSize: 100, replayable: true });
  const stepped = await run({ stepWork: 200, batchSize: 100, replayable: false });
  const small = await run({ stepWork: 1, batchSize: 7, replayable: true });

  // The history is real work: every minute from the first publication on, live contents' requests.
  const requests = once.ticks.reduce((s, t) => s + t.requests.length, 0);
  assert.equal(once.ticks[0].tick, START - DAY + MIN);
  assert.ok(requests >= 40 * LIVE_TICKS * 0.9, `requests over the history: ${requests}`);
  assert.ok(once.allocations.length > 0, 'allocations once the traffic comes');

  for (const other of [stepped, small]) {
    assert.deepEqual(other.ticks, once.ticks, 'the same ticks with the same requests, in order');
    assert.deepEqual(other.allocations, once.allocations);
    assert.deepEqual(other.content, once.content);
    assert.deepEqual(other.users, once.users);
  }
  // In one call the whole history's requests wait for the allocator at once. In steps of 200, a
  // round holds one step per content partition (each may end with a tick of ≤ 7 live contents
  // over it) and the allocator's batch of 100 records (one partition's tick each).
  assert.ok(once.maxInFlight >= 0.9 * requests, `one call: ${once.maxInFlight} in flight`);
  const bound = 2 * (200 + 7) + 100 * 7;
  assert.ok(stepped.maxInFlight <= bound, `steps: ${stepped.maxInFlight} in flight (bound ${bound})`);
});

test('a driver that keeps nothing for replay refuses restart', async () => {
  const d = await createDriver({ replayable: false });
  await assert.rejects(() => d.restart(), /keeps no records to replay/);
});
