// Offset commits once checkpoints are durable: one commit in flight per stage consumer, the
// offsets that became durable meanwhile coalesced into the next one (latest per partition), and
// none for partitions revoked before their commit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../../core/clock.js';
import { silentLogger } from '../../../../core/log.js';
import type { OwnedTask } from '../../../../pipelines/task-factory.js';
import { IdleSources } from '../../../../runtime/idle-sources.js';
import { OffsetCommitter } from '../../../../runtime/kafka/offset-committer.js';
import type { SourcePort, TopicPartitionOffset } from '../../../../runtime/kafka/ports.js';
import type { StageWorker } from '../../../../runtime/kafka/stage-worker.js';

function worker(partitions: number[]) {
  const commits: string[][] = [];
  const gates: (() => void)[] = [];
  const source = {
    commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
      commits.push(offsets.map((o) => `${o.topic}/${o.partition}@${o.offset}`));
      return new Promise((resolve) => gates.push(resolve));
    },
  } as unknown as SourcePort;
  const w: StageWorker = {
    stage: 'user',
    source,
    tasks: new Map(partitions.map((p) => [p, {} as OwnedTask])),
    idle: new IdleSources(new ManualClock(0), 0),
    paused: false,
    joined: true,
  };
  return { w, commits, release: () => gates.shift()?.() };
}

const off = (topic: string, partition: number, offset: number) => ({
  topic,
  partition,
  offset: String(offset),
});

test('offsets durable while a commit is in flight go out together in the next one, latest per partition', async () => {
  const { w, commits, release } = worker([0, 1]);
  const c = new OffsetCommitter(silentLogger);
  const first = c.durable(w, { stage: 'user', partition: 0 }, [off('in', 0, 10)]);
  void c.durable(w, { stage: 'user', partition: 1 }, [off('in', 1, 5)]);
  void c.durable(w, { stage: 'user', partition: 0 }, [off('in', 0, 12), off('pub', 0, 3)]);
  assert.deepEqual(commits, [['in/0@10']]); // one in flight
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(commits[1], ['in/1@5', 'in/0@12', 'pub/0@3']); // in the order they became durable
  release();
  await first;
  await c.settled();
  assert.equal(commits.length, 2);
});

test('a partition revoked before its commit is not committed from here', async () => {
  const { w, commits, release } = worker([0, 1]);
  const c = new OffsetCommitter(silentLogger);
  void c.durable(w, { stage: 'user', partition: 0 }, [off('in', 0, 1)]);
  void c.durable(w, { stage: 'user', partition: 1 }, [off('in', 1, 7)]);
  w.tasks.delete(1);
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(commits, [['in/0@1']]);
  await c.settled();
});
