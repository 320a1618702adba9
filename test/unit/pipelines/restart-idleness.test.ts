// A restart does not take over the previous life's idleness (in virtual time, on the real graph).
// The job goes down while its input partitions sit idle in an arrival pause; records arrive for
// every partition while it is down. After the restart one partition catches up far ahead in event
// time, while the other is still flagged idle downstream by the last life's markers: without the
// new owner announcing its sources active, the content stage and the re-key partition's owner
// count it at the idle floor, and its records re-routed through the re-key topic (a hop behind)
// reach the content stage behind the released watermark: late, one impression short per record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ThermostatTestDriver } from '../../../pipelines/test-driver.js';
import { fastPartition } from '../../../pipelines/topology.js';
import type { UserInteraction } from '../../../schemas/types.js';
import { createDriver, interaction, publication, testSerde } from '../../support/driver.js';

const SEC = 1000;
const IDLE_MS = 1000;
const serde = testSerde();
const owner = (u: string) => fastPartition(u, 2);
const pick = (p: number, skip = 0) =>
  Array.from({ length: 50 }, (_, i) => `u${i}`).filter((u) => owner(u) === p)[skip];
// `far` runs on its own partition 0; `moved` belongs to partition 0 but its producer writes it to
// partition 1 (another partitioner), so partition 1 re-routes it through the re-key topic.
const far = pick(0);
const moved = pick(0, 1);
const near = pick(1);

const at = (user: string, t: number, n: number): UserInteraction =>
  interaction({ user_id: user, content_id: 'c1', event_time: t, event_id: `${user}-${n}` });

/** Before the pause: both partitions up to 10 s. */
const before = [
  ...[1, 2, 3].map((s, i) => ({ r: at(far, s * SEC, i), partition: 0 })),
  ...[1, 2, 3].map((s, i) => ({ r: at(near, s * SEC, i), partition: 1 })),
  ...[4, 5, 6].map((s, i) => ({ r: at(moved, s * SEC, i), partition: 1 })),
];
/** While the job is down: partition 0 sparse up to 300 s, partition 1 dense from 11 s to 40 s. */
const during = [
  ...Array.from({ length: 15 }, (_, i) => ({ r: at(far, (i + 1) * 20 * SEC, 100 + i), partition: 0 })),
  ...Array.from({ length: 30 }, (_, i) => ({
    r: at(i % 2 === 0 ? moved : near, (11 + i) * SEC, 100 + i),
    partition: 1,
  })),
];

function append(d: ThermostatTestDriver, records: { r: UserInteraction; partition: number }[]): void {
  for (const { r, partition } of records)
    d.broker.append(d.names.interactions, r.user_id, serde.encode('UserInteraction', r), -1, partition);
}

/** `after-idle`: the checkpoint holds the idleness; `before-idle`: only the log's markers after it do. */
async function run(restart: 'none' | 'after-idle' | 'before-idle') {
  const d = await createDriver({
    partitions: 2,
    tickMs: 60 * SEC,
    outOfOrdernessMs: 5 * SEC,
    allowedLatenessMs: 5 * SEC,
    idleTimeoutMs: IDLE_MS,
  });
  await d.pipeInput('content-published', [publication({ content_id: 'c1', published_at: 0 })]);
  append(d, before);
  await d.advanceTime(0);
  if (restart === 'before-idle') await d.checkpoint();
  await d.advanceTime(IDLE_MS); // the arrival pause: every input partition idle
  if (restart === 'after-idle') await d.checkpoint();
  append(d, during);
  if (restart !== 'none') await d.restart(); // the job was down meanwhile: the records wait in the topics
  await d.advanceTime(0);
  await d.advanceTime(IDLE_MS); // drained again: idle, the content stage releases what they promise
  const contentLate = d.lateRecords().filter((r) => r.message.startsWith('content stage'));
  return { c1: d.contentState('c1'), contentLate: contentLate.length, users: d.allUserStates() };
}

test('a restart after the sources went idle changes nothing: the new owner does not take over their idleness', async () => {
  const uninterrupted = await run('none');
  assert.equal(uninterrupted.contentLate, 0);
  // Everything below the final release (300 s − idleMaxLagMs − lateness = 235 s) is applied:
  // 3 + 3 + 3 before the pause, 11 of `far`'s and all 30 of partition 1's while down.
  assert.equal(uninterrupted.c1?.exposure, 9 + 11 + 30);
  for (const when of ['after-idle', 'before-idle'] as const) {
    const restarted = await run(when);
    assert.equal(restarted.contentLate, 0, `${when}: no record late at the content stage after the restart`);
    assert.deepEqual(restarted.c1, uninterrupted.c1, when);
    assert.deepEqual(restarted.users, uninterrupted.users, when);
  }
});
