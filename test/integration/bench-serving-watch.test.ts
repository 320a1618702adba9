// The bench's serving-copy watch (bench/serving-watch.ts) against real checkpoints of the Redis
// checkpoint store on a private redis-server: an interaction counts as readable only once a
// checkpoint of its user's task holds a version at or above its offset, timed at that checkpoint's
// notification; a delivery report that arrives after the checkpoint holding it is timed at that
// checkpoint; other tasks' checkpoints resolve nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServingCopyWatch } from '../../bench/serving-watch.js';
import { partitionForKey } from '../../core/hash.js';
import { RedisCheckpointStore } from '../../state/redis-checkpoint.js';
import { connectStateRedis } from '../../state/redis-options.js';
import { STAGE_CONTENT, STAGE_USER, STORE_USER_MIND } from '../../state/keys.js';
import type { TaskId } from '../../state/store.js';
import { useFileRedis } from '../support/redis.js';

const fileRedis = useFileRedis();
const PARTITIONS = 6;

/** The first user id `<prefix><i>` whose partition passes `ok`. */
function userWhere(ok: (partition: number) => boolean, prefix: string): string {
  for (let i = 0; ; i++) if (ok(partitionForKey(`${prefix}${i}`, PARTITIONS))) return `${prefix}${i}`;
}

/** Resolves once `cond` holds (polled: the watch reacts to Redis pub/sub messages). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 10_000; !cond(); await new Promise((r) => setTimeout(r, 5)))
    assert.ok(Date.now() < end, `not within 10 s: ${what}`);
}

test('an interaction is seen when a checkpoint of its task holds its offset, timed at that checkpoint', async () => {
  const appId = 'watch-a';
  const redis = fileRedis.track(await connectStateRedis(fileRedis.server.url));
  const store = new RedisCheckpointStore({ redis, appId });
  const p = partitionForKey('alice', PARTITIONS);
  const bob = userWhere((q) => q === p, 'bob');
  const other = userWhere((q) => q !== p, 'other');
  const task: TaskId = { stage: STAGE_USER, partition: p };
  const { epoch } = await store.acquire(task);
  let seq = 0;
  const checkpoint = (t: TaskId, ep: number, key: string, version: number) =>
    store.commit(t, {
      epoch: ep,
      seq: ++seq,
      entries: [{ store: STORE_USER_MIND, key, version, fields: { user_id: key } }],
      meta: Buffer.from('m'),
    });

  const watch = await ServingCopyWatch.start(
    fileRedis.track(fileRedis.server.client()),
    fileRedis.track(fileRedis.server.client()),
    appId,
    PARTITIONS,
    4,
  );
  try {
    const sentAt = Date.now();
    watch.delivered(0, 'alice', sentAt, p, 10);

    // A checkpoint of the task below the interaction's offset: not yet readable.
    const first = watch.checkpoints;
    await checkpoint(task, epoch, 'alice', 5);
    await until(() => watch.checkpoints > first, 'the checkpoint notification');
    await new Promise((r) => setTimeout(r, 50)); // the version read it triggers
    assert.equal(watch.seen, 0);

    // Another task's checkpoint (the content stage) resolves nothing.
    const contentTask: TaskId = { stage: STAGE_CONTENT, partition: p };
    const c = await store.acquire(contentTask);
    await store.commit(contentTask, { epoch: c.epoch, seq: 1, entries: [], meta: Buffer.from('c') });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(watch.seen, 0);

    // The checkpoint that holds offset 10.
    const before = Date.now();
    await checkpoint(task, epoch, 'alice', 10);
    await until(() => watch.seen === 1, 'alice seen');
    assert.ok(watch.seenAt[0] >= before && watch.seenAt[0] <= Date.now(), 'timed at the checkpoint');
    assert.equal(watch.waiting, 0);

    // A delivery report that arrives after the checkpoint holding it (bob at offset 11, already
    // written): checked at once, timed at that checkpoint, not at the next one.
    const bobSent = Date.now() - 1000;
    const cpAt = Date.now();
    await checkpoint(task, epoch, bob, 11);
    await until(() => watch.checkpoints >= first + 3, 'the bob checkpoint notification');
    watch.delivered(1, bob, bobSent, p, 11);
    await until(() => watch.seen === 2, 'bob seen without a further checkpoint');
    assert.ok(watch.seenAt[1] >= cpAt && watch.seenAt[1] <= Date.now());

    // A user of another partition waits for its own task's checkpoint.
    const r = partitionForKey(other, PARTITIONS);
    watch.delivered(2, other, Date.now(), r, 1);
    await checkpoint(task, epoch, 'alice', 12);
    await new Promise((r2) => setTimeout(r2, 50));
    assert.equal(watch.seenAt[2], -1);
    const otherTask: TaskId = { stage: STAGE_USER, partition: r };
    const o = await store.acquire(otherTask);
    await store.commit(otherTask, {
      epoch: o.epoch,
      seq: 1,
      entries: [{ store: STORE_USER_MIND, key: other, version: 1, fields: { user_id: other } }],
      meta: Buffer.from('o'),
    });
    await until(() => watch.seenAt[2] >= 0, `${other} seen after its task's checkpoint`);
    watch.assertHealthy();
  } finally {
    await watch.stop();
  }
});
