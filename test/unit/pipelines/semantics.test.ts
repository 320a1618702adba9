// Event-time semantics of the graph, with exact expected outputs (in-memory driver).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocatorInput, UserMindState } from '../../../schemas/types.js';
import { createDriver, interaction, publication } from '../../support/driver.js';

const TICK = 60_000;

test('a record behind the watermark beyond allowed lateness goes to the late side output, not into state', async () => {
  const d = await createDriver({ partitions: 1, tickMs: TICK, allowedLatenessMs: 30_000 });
  await d.pipeInput('content-published', [publication({ content_id: 'c1' })]);
  await d.pipeInput('user-interactions', [
    interaction({ user_id: 'u1', content_id: 'c1', event_time: 120_000 }),
    interaction({ user_id: 'u1', content_id: 'c1', event_time: 100_000 }), // within lateness: kept
    interaction({ user_id: 'u1', content_id: 'c1', event_time: 80_000 }), // 40 s behind: late
  ]);
  await d.advanceEventTime(200_000); // a heartbeat past the input: everything kept is applied
  const late = d.lateRecords();
  assert.equal(late.length, 1);
  assert.equal(late[0].reason, 'LATE_RECORD');
  assert.equal(late[0].key, 'u1');
  assert.equal(d.contentState('c1')?.exposure, 2);
  assert.equal(d.userState('u1')?.version, 1, 'the late record (offset 2) never reached the user agent');
});

test('a duplicate event id is applied once', async () => {
  const d = await createDriver({ partitions: 1, tickMs: TICK });
  await d.pipeInput('content-published', [publication({ content_id: 'c1' })]);
  const e = interaction({ user_id: 'u1', content_id: 'c1', event_time: 10_000, event_id: 'same' });
  await d.pipeInput('user-interactions', [
    e,
    { ...e },
    interaction({ user_id: 'u1', content_id: 'c1', event_time: 11_000 }),
  ]);
  await d.advanceEventTime(60_000);
  assert.equal(d.contentState('c1')?.exposure, 2);
  assert.equal(d.userState('u1')?.version, 2);
});

test('ticks close exactly at tick boundaries, once each, after every earlier record', async () => {
  const d = await createDriver({ partitions: 1, tickMs: TICK });
  await d.pipeInput('content-published', [publication({ content_id: 'c1', published_at: 0 })]);
  await d.pipeInput(
    'user-interactions',
    [10_000, 70_000, 130_000, 190_000].map((t) =>
      interaction({ user_id: 'u1', content_id: 'c1', event_time: t }),
    ),
  );
  // The idle publication source holds the content stage idleMaxLagMs (60 s) behind the
  // interactions (190 s): ticks close up to 130 s.
  const ticks = d.readOutput<AllocatorInput>(d.names.allocatorInput);
  assert.deepEqual(
    ticks.map((t) => [t.tick, t.totals.impressions]),
    [
      [60_000, 1],
      [120_000, 1],
    ],
  );
  await d.pipeInput('user-interactions', [
    interaction({ user_id: 'u1', content_id: 'c1', event_time: 250_000 }),
  ]);
  assert.deepEqual(
    d.readOutput<AllocatorInput>(d.names.allocatorInput).map((t) => [t.tick, t.totals.impressions]),
    [[180_000, 1]],
  );
  await d.advanceEventTime(300_000);
  assert.deepEqual(
    d.readOutput<AllocatorInput>(d.names.allocatorInput).map((t) => [t.tick, t.totals.impressions]),
    [
      [240_000, 1],
      [300_000, 1],
    ],
  );
});

test('an idle source holds the content stage at most idleMaxLagMs behind; with every source idle nothing moves', async () => {
  const d = await createDriver({ partitions: 2, tickMs: TICK, idleTimeoutMs: 1000 });
  await d.pipeInput('content-published', [publication({ content_id: 'c1' })]);
  await d.pipeInput(
    'user-interactions',
    [1, 2, 90, 100].map((i) => interaction({ user_id: 'u1', content_id: 'c1', event_time: i * 1000 })),
  );
  assert.equal(d.contentState('c1'), undefined, 'other partitions have not reported: nothing applied yet');
  await d.advanceTime(999);
  assert.equal(d.contentState('c1'), undefined);
  // Idle now: the sources without data count 60 s behind the highest interaction watermark (100 s).
  await d.advanceTime(1);
  assert.equal(d.contentState('c1')?.exposure, 2, 'the records below 40 s are applied, not those after');
  await d.advanceTime(3_600_000);
  assert.equal(d.contentState('c1')?.exposure, 2, "no wall-clock jump past the sources' promises");
  await d.advanceEventTime(100_001);
  assert.equal(d.contentState('c1')?.exposure, 4, 'a heartbeat releases the rest');
});

test('the changelog carries only the latest version of each changed key per flush', async () => {
  const d = await createDriver({ partitions: 1, tickMs: TICK });
  await d.pipeInput(
    'user-interactions',
    [0, 1, 2, 3, 4].map((i) => interaction({ user_id: 'u1', content_id: 'c1', event_time: 1000 + i })),
  );
  const log = d.readOutput<UserMindState>('user-mind-state');
  assert.deepEqual(
    log.map((r) => [r.user_id, r.version]),
    [['u1', 4]],
  );
});

test('corrupt records go to the DLQ with their reason while the graph keeps running', async () => {
  const d = await createDriver({ partitions: 1, tickMs: TICK });
  await d.pipeRaw('user-interactions', 'u9', Buffer.from([0, 0, 0, 0, 99, 1, 2])); // unknown schema id 99
  await d.pipeRaw('user-interactions', 'u8', Buffer.from([1, 0, 0, 0, 1, 2])); // wrong magic byte
  await d.pipeInput('user-interactions', [
    interaction({ user_id: 'u7', content_id: 'c1', event_time: 900, completion: 7 }), // out of range
    interaction({ user_id: 'u1', content_id: 'c1', event_time: 1000 }),
  ]);
  const dlq = d.deadLetters('user-interactions');
  assert.deepEqual(
    dlq.map((r) => [r.key, r.reason]),
    [
      ['u9', 'SCHEMA_UNKNOWN'],
      ['u8', 'WIRE_FORMAT'],
      ['u7', 'VALIDATION'],
    ],
  );
  assert.deepEqual(dlq[0].value, Buffer.from([0, 0, 0, 0, 99, 1, 2]), 'original bytes kept');
  assert.match(dlq[2].message, /completion/);
  assert.equal(d.userState('u1')?.version, 3, 'the good record after them was applied');
  assert.equal(d.userState('u7'), undefined);
});

test('advancing event time closes every tick boundary up to it', async () => {
  const d = await createDriver({ partitions: 2, tickMs: TICK });
  await d.pipeInput('content-published', [publication({ content_id: 'c1' })]);
  await d.pipeInput('user-interactions', [
    interaction({ user_id: 'u1', content_id: 'c1', event_time: 5_000 }),
  ]);
  assert.deepEqual(d.readOutput<AllocatorInput>(d.names.allocatorInput), []);
  await d.advanceEventTime(120_000);
  const ticks = d.readOutput<AllocatorInput>(d.names.allocatorInput);
  assert.deepEqual([...new Set(ticks.map((t) => t.tick))], [60_000, 120_000]);
  assert.equal(ticks.filter((t) => t.tick === 60_000).length, 2, 'one contribution per content partition');
});

test('bought clicks flag a content once at the tick: its state says so and the flag hook fires once', async () => {
  let flags = 0;
  const d = await createDriver({ partitions: 1, tickMs: TICK, onFlagged: () => flags++ });
  await d.pipeInput('content-published', [
    publication({ content_id: 'bought', published_at: 0 }),
    publication({ content_id: 'honest', published_at: 0 }),
  ]);
  // 30 distinct viewers each: every view of 'bought' is a click watched for 2% (bots), every view
  // of 'honest' a click watched to 90%.
  const views = [];
  for (let i = 0; i < 30; i++) {
    views.push(
      interaction({
        user_id: `b${i}`,
        content_id: 'bought',
        event_time: 1_000 + i,
        click: true,
        completion: 0.02,
        dwell_ms: 1500,
      }),
    );
    views.push(
      interaction({
        user_id: `h${i}`,
        content_id: 'honest',
        event_time: 1_000 + i,
        click: true,
        completion: 0.9,
        dwell_ms: 60_000,
      }),
    );
  }
  await d.pipeInput('user-interactions', views);
  await d.advanceEventTime(3 * TICK);
  assert.equal(d.contentState('bought')?.flagged_cheating, true);
  assert.equal(d.contentState('honest')?.flagged_cheating, false);
  assert.equal(flags, 1, 'one flag for one content, across several ticks');
});
