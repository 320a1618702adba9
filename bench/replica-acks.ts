// What replica acknowledgements (redis.minReplicaAcks: WAIT pipelined behind each commit) cost a
// checkpoint: the same commits through Sentinel (scripts/redis-ha.sh: master, replica, three
// sentinels) with 0 and 1 acknowledgements asked, alternating rounds. Prints JSON.
//
//   npx tsx bench/replica-acks.ts [--tasks 6] [--commits 100] [--entries 500] [--rounds 3]
import { parseArgs } from 'node:util';
import { RedisCheckpointStore } from '../state/redis-checkpoint.js';
import { connectStateRedis } from '../state/redis-options.js';
import type { CheckpointEntry, TaskId } from '../state/store.js';
import { RedisHa } from './support/redis-ha.js';

const { values: a } = parseArgs({
  options: {
    tasks: { type: 'string', default: '6' },
    commits: { type: 'string', default: '100' },
    entries: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '3' },
  },
});
const TASKS = Number(a.tasks);
const COMMITS = Number(a.commits);
const ENTRIES = Number(a.entries);
const ROUNDS = Number(a.rounds);

/** A user-sized entry: ten short fields and a JSON blob, as the user stage writes them. */
function userEntry(key: string, version: number): CheckpointEntry {
  const fields: Record<string, string> = { s: JSON.stringify({ id: key, seq: 'x'.repeat(300) }) };
  for (let f = 0; f < 10; f++) fields[`f${f}`] = String(version + f / 3);
  return { store: 'user', key, version, fields };
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const ha = await RedisHa.start('sentinel');
const redis = await connectStateRedis(ha.url);
try {
  const runs: Record<string, { msPerCommit: number[]; p50: number[]; p99: number[] }> = {
    acks0: { msPerCommit: [], p50: [], p99: [] },
    acks1: { msPerCommit: [], p50: [], p99: [] },
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const acks of [0, 1]) {
      const appId = `bench-acks${acks}-r${round}`;
      const store = new RedisCheckpointStore({ redis, appId, minReplicaAcks: acks });
      const tasks: TaskId[] = Array.from({ length: TASKS }, (_, p) => ({ stage: 'user', partition: p }));
      const epochs = await Promise.all(tasks.map((t) => store.acquire(t)));
      const latencies: number[] = [];
      const started = performance.now();
      // Every task commits its checkpoints in turn, all tasks at once: as write-behind does.
      await Promise.all(
        tasks.map(async (t, i) => {
          for (let seq = 1; seq <= COMMITS; seq++) {
            const entries = Array.from({ length: ENTRIES }, (_, k) => userEntry(`u${k}`, seq));
            const t0 = performance.now();
            await store.commit(t, { epoch: epochs[i].epoch, seq, entries, meta: Buffer.from(`m${seq}`) });
            latencies.push(performance.now() - t0);
          }
        }),
      );
      const wall = performance.now() - started;
      latencies.sort((x, y) => x - y);
      const r = runs[`acks${acks}`];
      r.msPerCommit.push(wall / (TASKS * COMMITS));
      r.p50.push(quantile(latencies, 0.5));
      r.p99.push(quantile(latencies, 0.99));
      for (const t of tasks) await store.deleteTask(t);
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const round2 = (x: number) => Math.round(x * 100) / 100;
  console.log(
    JSON.stringify(
      {
        setup: { tasks: TASKS, commitsPerTask: COMMITS, entriesPerCommit: ENTRIES, rounds: ROUNDS },
        medianOfRounds: Object.fromEntries(
          Object.entries(runs).map(([k, v]) => [
            k,
            {
              wallMsPerCommit: round2(median(v.msPerCommit)),
              p50Ms: round2(median(v.p50)),
              p99Ms: round2(median(v.p99)),
            },
          ]),
        ),
      },
      null,
      2,
    ),
  );
} finally {
  redis.disconnect();
  await ha.stop();
}
