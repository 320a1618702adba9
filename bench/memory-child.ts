// bytes_per_user: memory delta / users with `users` user states resident in the user stage's real
// store (CompactUserStore; `map` = the former VersionedCache<UserAgentState>), with
// `steps` interactions applied each (1 in the bench; 20 fills the sequence and dedupe rings).
// The delta is V8 heap + ArrayBuffer memory: the compact store's columns live off the V8 heap.
// Run with --expose-gc (bench/run.ts spawns it); prints one JSON line.
// Usage: memory-child.ts [users] [compact|map] [steps]
import { parseAgentConfig } from '../agents/config.js';
import { applyUserInteraction, newUserState, type UserAgentState } from '../agents/user.js';
import { userStateCodec } from '../pipelines/state-codecs.js';
import { STORE_USER_MIND } from '../state/keys.js';
import { CompactUserStore } from '../state/compact-user-store.js';
import { VersionedCache, type TaskCache } from '../state/versioned-cache.js';
import type { UserInteraction } from '../schemas/types.js';
import { BENCH_START } from './workload.js';

const users = Number(process.argv[2] ?? 1_000_000);
const kind = process.argv[3] ?? 'compact';
const steps = Number(process.argv[4] ?? 1);
if (kind !== 'compact' && kind !== 'map') throw new Error(`store ${kind}: compact or map`);
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
const used = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const before = used();
// The same options as pipelines/task-factory.ts gives the user stage.
const opts = {
  name: STORE_USER_MIND,
  codec: userStateCodec(cfg),
  maxEntries: users * 2,
  loader: async () => new Map(),
  authoritative: true,
};
const cache: TaskCache<UserAgentState> =
  kind === 'compact' ? new CompactUserStore(opts) : new VersionedCache<UserAgentState>(opts);
cache.init();
// Steps go round the users (the order the stage sees them in), each read back from the store.
let offset = 0;
for (let k = 0; k < steps; k++) {
  for (let i = 0; i < users; i++) {
    const s = cache.get(ids[i]) ?? newUserState(ids[i], cfg);
    ev.user_id = ids[i];
    ev.event_id = `e${i}-${k}`;
    ev.category = cats[(i + (k >> 2)) % cats.length];
    ev.event_time = BENCH_START + k * 60_000;
    applyUserInteraction(s, ev, offset, cfg);
    cache.put(ids[i], s, offset++);
  }
}
// Checkpointed and acknowledged (steady state); the entries array must be unreachable before gc.
let ents: ReturnType<typeof cache.commit> | null = cache.commit();
cache.markDurable(ents);
ents = null;
await new Promise((r) => setTimeout(r, 20));
gc();
gc();
const after = used();
console.log(
  JSON.stringify({
    users,
    store: kind,
    steps,
    heapDeltaBytes: after - before,
    bytesPerUser: (after - before) / users,
    resident: cache.stats(),
  }),
);
