// The content stage's checkpoint stores the offsets of its buffered (not yet released) records,
// not the records: a restore seeks content-events back to the first of them and re-reads them.
// Checked here on the real graph (ThermostatTestDriver): a crash with a large buffer gives the
// uninterrupted run's state and allocation ids, and the checkpoint metadata holds a few runs of
// offsets instead of the buffered records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRuns, encodeRuns } from '../../../pipelines/content-task.js';
import { ThermostatTestDriver } from '../../../pipelines/test-driver.js';
import type { HeatingAllocation } from '../../../schemas/types.js';
import { testSerde } from '../../support/driver.js';
import { scenario } from '../../support/scenario.js';

const MIN = 60_000;
const PARTITIONS = 3;
const input = () =>
  scenario(11, {
    contents: 40,
    interactions: 4000,
    users: 100,
    categories: 5,
    startMs: 60_000,
    stepMs: 150,
    clickRate: 0.1,
  });

interface ContentMeta {
  next: number;
  buffer: { releasedUpTo: number; records: unknown[] };
  pending?: number[];
}

async function run(crashAt?: number) {
  // A 3-minute out-of-orderness holds ~1 200 records in the content buffers at any time.
  const d = await ThermostatTestDriver.create({
    serde: testSerde(),
    partitions: PARTITIONS,
    tickMs: MIN,
    batchSize: 97,
    outOfOrdernessMs: 3 * MIN,
    // Sources never go idle (an idle source releases everything): ticks close by watermark only.
    idleTimeoutMs: 3_600_000,
  });
  const { contents, interactions } = input();
  await d.pipeInput('content-published', contents);
  const metas: { meta: ContentMeta; bytes: number }[] = [];
  if (crashAt === undefined) await d.pipeInput('user-interactions', interactions);
  else {
    await d.pipeInput('user-interactions', interactions.slice(0, crashAt));
    await d.checkpoint();
    await d.pipeInput('user-interactions', interactions.slice(crashAt, crashAt + 300)); // lost: not checkpointed
    // The checkpointed metadata (acquire reads it; the restart below acquires again).
    for (let p = 0; p < PARTITIONS; p++) {
      const { meta } = await d.checkpointStore.acquire({ stage: 'content', partition: p });
      metas.push({ meta: JSON.parse(meta!.toString()) as ContentMeta, bytes: meta!.length });
    }
    await d.restart();
    await d.pipeInput('user-interactions', interactions.slice(crashAt + 300));
  }
  await d.advanceEventTime(interactions[interactions.length - 1].event_time + 10 * MIN);
  return {
    metas,
    users: d.allUserStates().sort((a, b) => a.user_id.localeCompare(b.user_id)),
    contents: d.allContentStates().sort((a, b) => a.content_id.localeCompare(b.content_id)),
    ids: new Set(d.readOutput<HeatingAllocation>('heating-allocations').map((a) => a.allocation_id)),
  };
}

test('a restart re-reads the buffered content events instead of restoring them from the checkpoint', async () => {
  const ref = await run();
  const crashed = await run(2500);
  const buffered = crashed.metas.reduce((n, m) => n + decodeRuns(m.meta.pending ?? []).length, 0);
  assert.ok(buffered > 500, `records buffered at the checkpoint: ${buffered}`);
  for (const { meta, bytes } of crashed.metas) {
    assert.equal(meta.buffer.records.length, 0, 'no buffered record in the metadata');
    for (const o of decodeRuns(meta.pending ?? []))
      assert.ok(o < meta.next, `pending offset ${o} < next ${meta.next}`);
    // Runs of offsets, not records: ~150 bytes for ~1 000 buffered records per task here, where the
    // records took ~300 bytes of JSON each (the rest of the metadata is watermarks and audience).
    assert.ok(JSON.stringify(meta.pending).length < 500, `pending runs: ${JSON.stringify(meta.pending)}`);
    assert.ok(bytes < 10_000, `metadata bytes: ${bytes}`);
  }
  assert.ok(ref.ids.size > 0, 'allocations emitted');
  assert.deepEqual(crashed.users, ref.users);
  assert.deepEqual(crashed.contents, ref.contents);
  assert.deepEqual(crashed.ids, ref.ids);
});

test('encodeRuns / decodeRuns: [gap, length] runs round-trip any offset set', () => {
  assert.deepEqual(encodeRuns([]), []);
  assert.deepEqual(encodeRuns([7, 3, 4, 5, 9, 10]), [3, 3, 1, 1, 1, 2]);
  assert.deepEqual(decodeRuns([3, 3, 1, 1, 1, 2]), [3, 4, 5, 7, 9, 10]);
  const offsets = [0, 1, 2, 100, 101, 5000, 5002, 5003, 1_000_000];
  assert.deepEqual(decodeRuns(encodeRuns([...offsets].reverse())), offsets);
});
