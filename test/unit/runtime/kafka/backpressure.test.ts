// Backpressure of the Kafka runtime: a stage's consumer is paused on every assigned partition while
// the checkpoint queue is full, a producer flush is being retried or a task holds more parked
// records than the bound; the pause is re-applied each round while it lasts, resumed once, and a
// pause/resume refused during a rebalance is tried again the next round.
import { test } from 'node:test';
import { Registry } from 'prom-client';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../../core/log.js';
import { createMetrics } from '../../../../core/metrics.js';
import type { OwnedTask } from '../../../../pipelines/task-factory.js';
import { IdleSources } from '../../../../runtime/idle-sources.js';
import { Backpressure, parkedLoad } from '../../../../runtime/kafka/backpressure.js';
import type { SourcePort, TopicPartition } from '../../../../runtime/kafka/ports.js';
import type { StageWorker } from '../../../../runtime/kafka/stage-worker.js';
import { ManualClock } from '../../../../core/clock.js';

/** A task of the given input partitions with `parked` records held back. */
function fakeTask(partition: number, topics: string[], parked = { n: 0 }): OwnedTask {
  return {
    task: {
      id: { stage: 'user', partition },
      positions: () => topics.map((topic) => ({ topic, partition, offset: 0 })),
      parked: () => parked.n,
    },
    gate: { heldRecords: () => 0, held: [] },
  } as unknown as OwnedTask;
}

function fakeWorker(tasks: OwnedTask[]) {
  const calls: string[] = [];
  const fmt = (tps: readonly TopicPartition[]) => tps.map((t) => `${t.topic}/${t.partition}`).join(',');
  let refuse = false;
  const source = {
    pause(tps: readonly TopicPartition[]) {
      if (refuse) throw new Error('rebalance in progress');
      calls.push(`pause ${fmt(tps)}`);
    },
    resume(tps: readonly TopicPartition[]) {
      if (refuse) throw new Error('rebalance in progress');
      calls.push(`resume ${fmt(tps)}`);
    },
  } as unknown as SourcePort;
  const worker: StageWorker = {
    stage: 'user',
    source,
    tasks: new Map(tasks.map((t) => [t.task.id.partition, t])),
    idle: new IdleSources(new ManualClock(0), 1000),
    paused: false,
    joined: true,
  };
  return { worker, calls, refuse: (r: boolean) => (refuse = r) };
}

function setup(tasks: OwnedTask[], maxParkedRecords = 100) {
  const cause = { queueFull: false, stalled: false };
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const bp = new Backpressure({
    checkpointQueueFull: () => cause.queueFull,
    outputStalled: () => cause.stalled,
    maxParkedRecords,
    metrics,
    log: silentLogger,
  });
  return { ...fakeWorker(tasks), bp, cause, metrics };
}

test('a full checkpoint queue pauses every assigned partition, re-applied while it lasts, resumed once', () => {
  const s = setup([fakeTask(0, ['a', 'b']), fakeTask(1, ['a', 'b'])]);
  s.bp.apply(s.worker);
  assert.deepEqual(s.calls, []); // nothing to do while fetching is wanted and not paused
  s.cause.queueFull = true;
  s.bp.apply(s.worker);
  assert.equal(s.worker.paused, true);
  // A partition assigned while paused is paused by the next round too.
  s.worker.tasks.set(2, fakeTask(2, ['a']));
  s.bp.apply(s.worker);
  s.cause.queueFull = false;
  s.bp.apply(s.worker);
  s.bp.apply(s.worker);
  assert.equal(s.worker.paused, false);
  assert.deepEqual(s.calls, [
    'pause a/0,b/0,a/1,b/1',
    'pause a/0,b/0,a/1,b/1,a/2',
    'resume a/0,b/0,a/1,b/1,a/2',
  ]);
});

test('a stalled producer flush pauses the stage like a full queue', () => {
  const s = setup([fakeTask(0, ['a'])]);
  s.cause.stalled = true;
  s.bp.apply(s.worker);
  s.cause.stalled = false;
  s.bp.apply(s.worker);
  assert.deepEqual(s.calls, ['pause a/0', 'resume a/0']);
});

test('one task over the parked-record bound pauses its stage; the total is reported', async () => {
  const parked = { n: 100 };
  const s = setup([fakeTask(0, ['a'], parked), fakeTask(1, ['a'], { n: 30 })], 100);
  s.bp.apply(s.worker);
  assert.equal(s.worker.paused, false); // the bound is inclusive
  parked.n = 101;
  s.bp.apply(s.worker);
  assert.equal(s.worker.paused, true);
  const text = await s.metrics.register.metrics();
  assert.match(text, /thermostat_parked_records\{stage="user"\} 131/);
  parked.n = 0;
  s.bp.apply(s.worker);
  assert.deepEqual(s.calls, ['pause a/0,a/1', 'resume a/0,a/1']);
});

test('a pause refused during a rebalance leaves the stage unpaused and is tried again', () => {
  const s = setup([fakeTask(0, ['a'])]);
  s.cause.queueFull = true;
  s.refuse(true);
  s.bp.apply(s.worker);
  assert.equal(s.worker.paused, false);
  s.refuse(false);
  s.bp.apply(s.worker);
  assert.equal(s.worker.paused, true);
  assert.deepEqual(s.calls, ['pause a/0']);
});

test('parkedLoad sums the tasks and flags one over the bound', () => {
  const tasks = [fakeTask(0, ['a'], { n: 5 }), fakeTask(1, ['a'], { n: 7 })];
  assert.deepEqual(parkedLoad(tasks, 6), { total: 12, over: true });
  assert.deepEqual(parkedLoad(tasks, 7), { total: 12, over: false });
  assert.deepEqual(parkedLoad([], 0), { total: 0, over: false });
});
