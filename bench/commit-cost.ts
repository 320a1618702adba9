// Redis's own time per checkpoint commit (INFO commandstats usec of the commit script), for
// user-sized entries written over existing keys, with and without key expiry, and optionally
// against another checkout's checkpoint store on the same server, commits interleaved so that
// load on a shared box hits every variant alike. Prints JSON.
//
//   npx tsx bench/commit-cost.ts [--entries 20000] [--rounds 10] [--baseline /path/to/checkout]
//
// Variants: "ttl" (the job: state.userIdleTtlMs; keys written again the same day, so no PEXPIRE),
// "ttl-new-day" (the same store with its clock a day further at every commit: PEXPIRE per written
// key, the worst case), "never" (expiry 0), "unlisted" (a store without expiry), and "baseline"
// (the other checkout's RedisCheckpointStore, built with the same options).
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ManualClock, type Clock } from '../core/clock.js';
import { IDLE_TTL } from '../core/config.js';
import { redisExpiryMs } from '../state/expiry.js';
import { RedisCheckpointStore } from '../state/redis-checkpoint.js';
import { connectStateRedis } from '../state/redis-options.js';
import type { CheckpointEntry, CheckpointStore } from '../state/store.js';
import { TestRedis } from './support/redis-server.js';

const { values: a } = parseArgs({
  options: {
    entries: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '10' },
    baseline: { type: 'string' },
  },
});
const ENTRIES = Number(a.entries);
const ROUNDS = Number(a.rounds);
const STORE = 'user';

/** One commit's entries: every key rewritten at version `v` (12 fields of ~12 bytes, as a user's public ones). */
function entries(v: number): CheckpointEntry[] {
  const out: CheckpointEntry[] = new Array(ENTRIES);
  for (let i = 0; i < ENTRIES; i++) {
    const fields: Record<string, string> = {};
    for (let f = 0; f < 12; f++) fields[`f${f}`] = `${(v * 7 + i + f) % 1000}.${f}`.padEnd(12, '0');
    out[i] = { store: STORE, key: `u${i}`, version: v, fields };
  }
  return out;
}

async function usec(admin: ReturnType<TestRedis['client']>): Promise<number> {
  let total = 0;
  for (const line of (await admin.info('commandstats')).split('\n')) {
    const m = /^cmdstat_(evalsha|eval):calls=\d+,usec=(\d+)/.exec(line.trim());
    if (m) total += Number(m[2]);
  }
  return total;
}

const server = await TestRedis.start();
try {
  const admin = server.client();
  const redis = await connectStateRedis(server.url, { commandTimeoutMs: 30_000 });
  type StoreCtor = new (o: ConstructorParameters<typeof RedisCheckpointStore>[0]) => CheckpointStore;
  const ttl = { [STORE]: redisExpiryMs(IDLE_TTL.userIdleTtlMs) };
  const nextDay = new ManualClock(0);
  const variants: [string, StoreCtor, Record<string, number>, Clock?][] = [
    ['ttl', RedisCheckpointStore, ttl],
    ['ttl-new-day', RedisCheckpointStore, ttl, { now: () => nextDay.advance(86_400_000) }],
    ['never', RedisCheckpointStore, { [STORE]: 0 }],
    ['unlisted', RedisCheckpointStore, {}],
  ];
  if (a.baseline) {
    const url = pathToFileURL(resolve(a.baseline, 'state/redis-checkpoint.ts')).href;
    const mod = (await import(url)) as { RedisCheckpointStore: StoreCtor };
    variants.push(['baseline', mod.RedisCheckpointStore, {}]);
  }
  const runs = variants.map(([name, Ctor, expireAfterMs, clock]) => ({
    name,
    store: new Ctor({ redis, appId: `cc-${name}`, expireAfterMs, clock, maxEntriesPerCall: ENTRIES }),
    task: { stage: 'user', partition: 0 },
    epoch: 0,
    usec: [] as number[],
  }));
  for (const r of runs) r.epoch = (await r.store.acquire(r.task)).epoch;
  // Round 0 creates the keys (not timed); later rounds overwrite them, as a steady state does.
  for (let round = 0; round <= ROUNDS; round++) {
    const batch = entries(round + 1);
    for (const r of runs) {
      const before = await usec(admin);
      await r.store.commit(r.task, {
        epoch: r.epoch,
        seq: round + 1,
        entries: batch,
        meta: Buffer.from('m'),
      });
      if (round > 0) r.usec.push((await usec(admin)) - before);
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const base = runs.find((r) => r.name === 'baseline');
  const result = Object.fromEntries(
    runs.map((r) => [
      r.name,
      {
        medianUsecPerCommit: median(r.usec),
        medianUsecPerEntry: Math.round((median(r.usec) / ENTRIES) * 100) / 100,
        minUsecPerCommit: Math.min(...r.usec),
        maxUsecPerCommit: Math.max(...r.usec),
        // Paired with the baseline's commit of the same round (load drifts hit both alike).
        ...(base && {
          medianRatioToBaseline: Math.round(median(r.usec.map((u, i) => u / base.usec[i])) * 1000) / 1000,
        }),
      },
    ]),
  );
  redis.disconnect();
  admin.disconnect();
  console.log(JSON.stringify({ bench: 'commit-cost', entries: ENTRIES, rounds: ROUNDS, ...result }, null, 2));
} finally {
  await server.dispose();
}
