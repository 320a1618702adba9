// The naive reference pipeline, built in the same run as the baseline for the ratio: the same
// input, the same agent rules, but the way a first streaming version is usually written:
//   - one RxJS emission per event (no micro-batches),
//   - JSON instead of Avro on every hop (input, re-key to the content stage),
//   - a fresh state object per event (copy-on-write spread),
//   - write-through Redis: every state update is a HSET awaited before the event completes.
// Redis is a private redis-server, so INFO commandstats deltas count only this pipeline.
import type { Redis } from 'ioredis';
import type { StateRedis } from '../state/redis-options.js';
import { from, lastValueFrom, map, mergeMap, count } from 'rxjs';
import { parseAgentConfig } from '../agents/config.js';
import {
  applyContentInteraction,
  applyPublished,
  newContentState,
  type ContentAgentState,
} from '../agents/content.js';
import { applyUserInteraction, newUserState, type UserAgentState } from '../agents/user.js';
import type { UserInteraction } from '../schemas/types.js';
import { commandStats, statDelta } from './redis-stats.js';
import type { Workload } from './workload.js';

export interface NaiveResult {
  events: number;
  seconds: number;
  eventsPerS: number;
  redisCommands: number;
  redisCmdsPerEvent: number;
}

/** Runs the first `events` interactions of `w` (and every publication) through the naive pipeline. */
export async function runNaive(
  w: Workload,
  events: number,
  redis: StateRedis,
  admin: Redis,
): Promise<NaiveResult> {
  const cfg = parseAgentConfig({});
  const users = new Map<string, UserAgentState>();
  const contents = new Map<string, ContentAgentState>();
  // JSON on the wire, as a naive producer would write it.
  const input = w.interactions.slice(0, events).map((e) => Buffer.from(JSON.stringify(e)));
  const pubs = w.published.map((p) => Buffer.from(JSON.stringify(p)));
  const before = await commandStats(admin);
  const t0 = performance.now();
  let offset = 0;
  await lastValueFrom(
    from(pubs).pipe(
      map((b) => JSON.parse(b.toString()) as Parameters<typeof applyPublished>[1]),
      mergeMap(async (p) => {
        const s = applyPublished(contents.get(p.content_id), p, cfg);
        contents.set(p.content_id, { ...s });
        await redis.hset(`naive:{c}:${p.content_id}`, 'v', JSON.stringify(s));
      }, 256),
      count(),
    ),
  );
  await lastValueFrom(
    from(input).pipe(
      map((b) => JSON.parse(b.toString()) as UserInteraction),
      mergeMap(async (ev) => {
        // Stage 1: user state, copy-on-write per event, write-through.
        const prev = users.get(ev.user_id) ?? newUserState(ev.user_id, cfg);
        const u: UserAgentState = {
          ...prev,
          seq: [...prev.seq],
          ids: [...prev.ids],
          engaged: [...prev.engaged],
          aCats: [...prev.aCats],
        };
        const out = applyUserInteraction(u, ev, offset++, cfg);
        users.set(ev.user_id, u);
        await redis.hset(`naive:{u}:${ev.user_id}`, 'v', JSON.stringify(u));
        if (!out.applied) return;
        // Re-key to the content stage as JSON.
        const fwd = JSON.parse(
          JSON.stringify({ ...ev, suspect_clicker: out.suspectClicker }),
        ) as UserInteraction & { suspect_clicker: boolean };
        const cprev = contents.get(fwd.content_id) ?? newContentState(fwd.content_id, fwd.category, cfg);
        const c = structuredClone(cprev);
        applyContentInteraction(c, fwd, fwd.suspect_clicker, cfg);
        contents.set(fwd.content_id, c);
        await redis.hset(`naive:{c}:${fwd.content_id}`, 'v', JSON.stringify(c));
      }, 256),
      count(),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const d = statDelta(before, await commandStats(admin));
  const redisCommands = Object.values(d).reduce((a, b) => a + b, 0);
  const n = events + pubs.length;
  return { events: n, seconds, eventsPerS: n / seconds, redisCommands, redisCmdsPerEvent: redisCommands / n };
}
