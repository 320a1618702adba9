// Redis memory per user and per content state, as the job writes them: N states checkpointed
// through the real RedisCheckpointStore (public fields, `s`, version, epoch, `_expiry`, PEXPIRE)
// into a private redis-server: users with 1 and with 20 interactions (a full behaviour sequence)
// and published contents with traffic and one heating outcome, with `s` in
// the binary form the job writes and, for comparison, as JSON; and in the binary form with Redis'
// `hash-max-listpack-value` raised to 1024, so that the hashes stay listpacks (Redis' default, 64,
// turns a hash with any longer value into a hash table). Prints one JSON line.
//   npx tsx bench/redis-state-bytes.ts [states=100000]
import { DEFAULT_AGENT_CONFIG as cfg } from '../agents/config.js';
import { applyUserInteraction, newUserState, type UserAgentState } from '../agents/user.js';
import { applyPublished, type ContentAgentState } from '../agents/content.js';
import { contentAgentCodec, userStateCodec } from '../pipelines/state-codecs.js';
import type { ValueCodec } from '../state/codecs.js';
import type { UserInteraction } from '../schemas/types.js';
import { IDLE_TTL } from '../core/config.js';
import { stateExpiry } from '../state/expiry.js';
import { STORE_CONTENT, STORE_USER_MIND } from '../state/keys.js';
import { RedisCheckpointStore } from '../state/redis-checkpoint.js';
import type { CheckpointEntry } from '../state/store.js';
import { TestRedis } from './support/redis-server.js';

const count = Number(process.argv[2] ?? 100_000);
const BATCH = 5_000;

function userAfter(id: string, n: number): UserAgentState {
  const s = newUserState(id, cfg);
  for (let i = 0; i < n; i++) {
    const ev: UserInteraction = {
      event_id: `${id}-e${i}`,
      user_id: id,
      content_id: `c${(i * 7919) % 10_000}`,
      category: `cat${i % 7}`,
      event_time: 1_700_000_000_000 + i * 60_000,
      click: i % 3 === 0,
      dwell_ms: 5000,
      completion: i % 2 === 0 ? 0.9 : 0.1,
      shared: i % 5 === 0,
      is_new_content: i % 4 === 0,
      heated: false,
      allocation_id: null,
    };
    applyUserInteraction(s, ev, i, cfg);
  }
  return s;
}

function contentWithTraffic(id: string): ContentAgentState {
  const s = applyPublished(
    undefined,
    {
      content_id: id,
      creator_id: `creator-${id}`,
      category: 'cat3',
      quality_score: 0.62,
      published_at: 1_700_000_000_000,
      creator_followers: 1200,
    },
    cfg,
  );
  Object.assign(s, {
    exposure: 740,
    clicks: 61,
    engaged: 38,
    shares: 4,
    completionSum: 41.7,
    heatedImpressions: 200,
  });
  s.outcomes[`a${id}`] = {
    allocation_id: `a${id}`,
    content_id: id,
    impressions: 200,
    clicks: 17,
    completions: 11,
    shares: 1,
  };
  return s;
}

interface Kind<V extends { id: string; version: number }> {
  stage: 'user' | 'content';
  store: string;
  codec: ValueCodec<V>;
  make: (id: string) => V;
}

async function bytesPerState<V extends { id: string; version: number }>(
  kind: Kind<V>,
  form: 'binary' | 'json',
  listpackValue: number | null,
): Promise<number> {
  const redis = await TestRedis.start();
  const client = redis.client();
  try {
    if (listpackValue !== null) await client.config('SET', 'hash-max-listpack-value', String(listpackValue));
    const store = new RedisCheckpointStore({
      redis: client,
      appId: 'bytes',
      expireAfterMs: stateExpiry(IDLE_TTL), // the defaults: keys get a PEXPIRE
    });
    const task = { stage: kind.stage, partition: 0 };
    const { epoch } = await store.acquire(task);
    const before = Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
    let seq = 0;
    for (let from = 0; from < count; from += BATCH) {
      const entries: CheckpointEntry[] = [];
      for (let u = from; u < Math.min(count, from + BATCH); u++) {
        const s = kind.make(`${kind.stage}-${u}`);
        const fields = kind.codec.encode(s);
        entries.push({
          store: kind.store,
          key: s.id,
          version: Math.max(0, s.version),
          fields: form === 'json' ? { ...fields, s: JSON.stringify(s) } : fields,
        });
      }
      await store.commit(task, { epoch, seq: ++seq, entries, meta: Buffer.from('{}') });
    }
    const after = Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
    return Math.round((after - before) / count);
  } finally {
    client.disconnect();
    await redis.stop();
  }
}

const userCodec = userStateCodec(cfg);
const kinds: Record<string, Kind<UserAgentState> | Kind<ContentAgentState>> = {
  user_1: { stage: 'user', store: STORE_USER_MIND, codec: userCodec, make: (id) => userAfter(id, 1) },
  user_20: { stage: 'user', store: STORE_USER_MIND, codec: userCodec, make: (id) => userAfter(id, 20) },
  content: { stage: 'content', store: STORE_CONTENT, codec: contentAgentCodec, make: contentWithTraffic },
};
const out: Record<string, number> = {};
for (const [name, kind] of Object.entries(kinds)) {
  for (const form of ['binary', 'json'] as const)
    out[`${name}_${form}`] = await bytesPerState(kind as Kind<UserAgentState>, form, null);
  out[`${name}_binary_listpack_value_1024`] = await bytesPerState(
    kind as Kind<UserAgentState>,
    'binary',
    1024,
  );
}
console.log(JSON.stringify({ states: count, bytes_per_state: out }));
