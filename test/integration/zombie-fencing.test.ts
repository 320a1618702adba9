// Zombie fencing at job level. Two job processes share the work (same app
// id, one consumer group per stage). Instance A is frozen with SIGSTOP until the broker expires its
// session and B takes over every partition (B's acquire bumps each task's epoch). A is then resumed:
// its pending checkpoint carries the old epoch, Redis refuses it, and A counts it
// (thermostat_fenced_writes_total, thermostat_checkpoints_total{outcome="fenced"}). A is stopped,
// B runs to completion, and the final state equals the uninterrupted run: the zombie overwrote
// nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { taskKey } from '../../state/keys.js';
import { assertMatchesReference, setupJobRun } from '../support/job-fixture.js';
import { JobProcess, sleep, sumMetric, waitQuiescent } from '../../bench/support/job-process.js';
import { ensureStack } from '../support/stack.js';

// The broker's minimum session timeout (group.min.session.timeout.ms) is 6 s.
const SESSION_MS = 6000;

test(
  "zombie: an instance frozen past its session is fenced by Redis or drops its lost partitions unwritten; the new owner's state stays intact",
  { timeout: 300_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const { ref, appId, names, redis, client } = await setupJobRun(t, 'zombie', brokers, {
      seed: 99,
      interactions: 100_000,
      users: 3000,
      contents: 200,
      stepMs: 25,
    });
    const env = {
      THERMOSTAT_COMMIT_INTERVAL_MS: '1000',
      THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '500',
      THERMOSTAT_BATCH_SIZE: '500',
      THERMOSTAT_KAFKA_RDKAFKA: JSON.stringify({
        'session.timeout.ms': SESSION_MS,
        'heartbeat.interval.ms': 500,
      }),
    };
    const spawn = async () => JobProcess.forRun({ appId, redis }, brokers, env);
    const assigned = async (j: JobProcess) =>
      sumMetric((await j.metrics()) ?? new Map(), 'thermostat_assigned_partitions');

    const a = await spawn();
    t.after(() => a.dispose());
    await a.waitStarted();
    for (const end = Date.now() + 60_000; (await a.recordsIn()) < 3000 && Date.now() < end;) await sleep(100);
    const b = await spawn();
    t.after(() => b.dispose());
    await b.waitStarted();
    // Both own partitions (6 user + 6 content + 1 allocator tasks in all) and both make progress.
    for (const end = Date.now() + 60_000; Date.now() < end; await sleep(200)) {
      const [na, nb] = [await assigned(a), await assigned(b)];
      if (na > 0 && nb > 0 && na + nb === 13 && (await b.recordsIn()) > 0) break;
    }
    const split = [await assigned(a), await assigned(b)];
    assert.ok(split[0] > 0 && split[1] > 0, `partitions split between the instances: ${split}`);
    const epochBefore = Number(
      await client.hget(taskKey(appId, { stage: 'content', partition: 0 }), 'epoch'),
    );

    // Freeze A past its session: the group rebalances and B takes everything.
    a.kill('SIGSTOP');
    let takeover = 0;
    try {
      for (const end = Date.now() + 60_000; (takeover = await assigned(b)) < 13 && Date.now() < end;)
        await sleep(200);
      assert.equal(takeover, 13, 'B owns every task after A lost its session');
      await sleep(1000); // B processes and checkpoints under its new epochs
    } finally {
      a.kill('SIGCONT');
    }
    const epochAfter = Number(await client.hget(taskKey(appId, { stage: 'content', partition: 0 }), 'epoch'));
    assert.ok(epochAfter > epochBefore, `B acquired newer epochs (${epochBefore} → ${epochAfter})`);

    // On resume A is a zombie. Either its next checkpoint goes out with the old epoch (Redis refuses
    // it: thermostat_fenced_writes_total and thermostat_checkpoints_total{outcome="fenced"}), or its
    // consumers learn first that the assignment was lost and drop the tasks without writing
    // (thermostat_assigned_partitions falls). Which comes first is a race between A's timers and
    // librdkafka's heartbeat; both leave B's state untouched, which the final comparison proves.
    let fenced = 0;
    let fencedCheckpoints = 0;
    let dropped = false;
    for (const end = Date.now() + 30_000; Date.now() < end; await sleep(200)) {
      const m = await a.metrics();
      if (!m) continue;
      fenced = sumMetric(m, 'thermostat_fenced_writes_total');
      fencedCheckpoints = sumMetric(m, 'thermostat_checkpoints_total', 'outcome="fenced"');
      dropped = a.printed(/partitions lost \(session expired\)/);
      // A fenced write is counted a moment before its checkpoint's outcome: wait for both.
      if ((fenced > 0 && fencedCheckpoints > 0) || dropped) break;
    }
    // Without the lost-assignment drop, a fenced write can only be a checkpoint's. With it, the
    // refused write may be the drop's own (both races end with B's state untouched, checked below).
    if (fenced > 0 && !dropped)
      assert.ok(fencedCheckpoints > 0, 'a fenced write is also counted as a fenced checkpoint');
    assert.ok(
      fenced > 0 || dropped,
      'the zombie was fenced by Redis or dropped its lost partitions without writing',
    );
    t.diagnostic(
      `zombie A: ${fenced} fenced writes, ${fencedCheckpoints} fenced checkpoints, lost-assignment drop logged: ${dropped}; content.0 epoch ${epochBefore} → ${epochAfter}`,
    );

    // A leaves (graceful), B finishes alone. Redis holds nothing the zombie tried to write. Its
    // Kafka writes are not fenced (no transactions): changelog records a checkpoint round had
    // already handed to librdkafka when A froze are delivered on resume, possibly after B's newer
    // ones, so the changelogs are compared the way the consumer contract reads them (highest
    // version per key) and the late stale records are reported.
    assert.equal((await a.terminate()).code, 0, a.outputTail);
    await waitQuiescent(b);
    assert.equal((await b.terminate()).code, 0, b.outputTail);
    const { staleAfterNewer } = await assertMatchesReference({
      brokers,
      names,
      appId,
      redis: client,
      ref,
      changelog: 'highest-version',
    });
    t.diagnostic(
      `changelog records of the zombie that landed after a newer record of their key: ${staleAfterNewer}`,
    );
  },
);

test(
  'a running job whose epochs were taken over writes nothing more: every stale checkpoint is refused and counted; a restart resumes',
  { timeout: 300_000 },
  async (t) => {
    const { brokers } = ensureStack();
    const { ref, appId, names, redis, client } = await setupJobRun(t, 'fenced', brokers, {
      seed: 101,
      interactions: 60_000,
      users: 2000,
      contents: 150,
      stepMs: 25,
    });
    const env = {
      THERMOSTAT_COMMIT_INTERVAL_MS: '1000',
      THERMOSTAT_WATERMARK_IDLE_TIMEOUT_MS: '500',
      THERMOSTAT_BATCH_SIZE: '500',
    };
    const spawn = async () => JobProcess.forRun({ appId, redis }, brokers, env);
    const tasks = [
      ...[0, 1, 2, 3, 4, 5].flatMap((p) => [
        taskKey(appId, { stage: 'user', partition: p }),
        taskKey(appId, { stage: 'content', partition: p }),
      ]),
      taskKey(appId, { stage: 'allocator', partition: 0 }),
    ];

    const a = await spawn();
    t.after(() => a.dispose());
    await a.waitStarted();
    for (const end = Date.now() + 60_000; (await a.recordsIn()) < 5000 && Date.now() < end;) await sleep(100);
    // What a newer owner's acquire does: bump every task's epoch (here without a rebalance, so A
    // still believes it owns its partitions: the pure "stale epoch" case).
    const applied = new Map<string, string | null>();
    for (const k of tasks) {
      await client.hincrby(k, 'epoch', 1);
      applied.set(k, await client.hget(k, 'checkpoints'));
    }
    let m = new Map<string, number>();
    for (const end = Date.now() + 30_000; Date.now() < end; await sleep(200)) {
      m = (await a.metrics()) ?? m;
      if (sumMetric(m, 'thermostat_checkpoints_total', 'outcome="fenced"') >= tasks.length) break;
    }
    const fenced = sumMetric(m, 'thermostat_fenced_writes_total');
    const fencedCheckpoints = sumMetric(m, 'thermostat_checkpoints_total', 'outcome="fenced"');
    assert.ok(
      fencedCheckpoints >= tasks.length,
      `every task's next checkpoint refused (${fencedCheckpoints} fenced checkpoints)`,
    );
    assert.ok(fenced >= fencedCheckpoints, `counted in thermostat_fenced_writes_total (${fenced})`);
    await sleep(2000); // further commit intervals: nothing more is written
    for (const k of tasks)
      assert.equal(
        await client.hget(k, 'checkpoints'),
        applied.get(k),
        `no checkpoint of ${k} applied after the takeover`,
      );
    t.diagnostic(
      `stale-epoch instance: ${fencedCheckpoints} fenced checkpoints, ${fenced} fenced writes, 0 applied`,
    );

    // The fenced instance stops cleanly; a new instance acquires, restores and finishes the run.
    assert.equal((await a.terminate()).code, 0, a.outputTail);
    const b = await spawn();
    t.after(() => b.dispose());
    await b.waitStarted();
    await waitQuiescent(b);
    assert.equal((await b.terminate()).code, 0, b.outputTail);
    await assertMatchesReference({ brokers, names, appId, redis: client, ref });
  },
);
