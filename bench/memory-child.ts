// bytes_per_user: heap delta / users with `users` user states resident in the user stage's real
// store (VersionedCache of UserAgentState, one interaction applied each, as stage 1 holds them).
// Run with --expose-gc (bench/memory.ts spawns it); prints one JSON line.
import { parseAgentConfig } from '../agents/config.js';
import { applyUserInteraction, newUserState, type UserAgentState } from '../agents/user.js';
import { userStateCodec } from '../pipelines/state-codecs.js';
import { STORE_USER_MIND } from '../state/keys.js';
import { VersionedCache } from '../state/versioned-cache.js';
import type { UserInteraction } from '../schemas/types.js';
import { BENCH_START } from './workload.js';

const users = Number(process.argv[2] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const cfg = parseAgentConfig({});
const cats = ['tech', 'food', 'travel', 'sports', 'music', 'gaming', 'fashion', 'finance', 'science', 'pets'];
// Ids and events are built before the baseline: the ids are the keys the broker hands the stage
// anyway; the state is what is measured.
const ids = Array.from({ length: users }, (_, i) => `u${i}`);
const ev: UserInteraction = {
  event_id: '',
  user_id: '',
  content_id: 'c1',
  category: 'tech',
  event_time: BENCH_START,
  click: true,
  dwell_ms: 3000,
  completion: 0.5,
  shared: false,
  is_new_content: true,
  heated: false,
  allocation_id: null,
  user_registered_at: null,
};
gc();
gc();
const before = process.memoryUsage().heapUsed;
const cache = new VersionedCache<UserAgentState>({
  name: STORE_USER_MIND,
  codec: userStateCodec(cfg),
  maxEntries: users * 2,
  loader: async () => new Map(),
  authoritative: true,
});
cache.init();
for (let i = 0; i < users; i++) {
  const s = newUserState(ids[i], cfg);
  ev.user_id = ids[i];
  ev.event_id = `e${i}`;
  ev.category = cats[i % cats.length];
  applyUserInteraction(s, ev, i, cfg);
  cache.put(ids[i], s, i);
}
// Checkpointed and acknowledged (steady state); the entries array must be unreachable before gc.
let ents: ReturnType<typeof cache.commit> | null = cache.commit();
cache.markDurable(ents);
ents = null;
await new Promise((r) => setTimeout(r, 20));
gc();
gc();
const after = process.memoryUsage().heapUsed;
console.log(
  JSON.stringify({
    users,
    heapDeltaBytes: after - before,
    bytesPerUser: (after - before) / users,
    resident: cache.stats(),
  }),
);
