// Redis memory per user and per content state, as the job writes them: N states checkpointed
// through the real RedisCheckpointStore (public fields, `s`, version, epoch, `_expiry`, PEXPIRE)
// into a private redis-server: users with 1 and with 20 interactions (a full behaviour sequence)
// and published contents with traffic and one heating outcome, with `s` in
// the binary form the job writes and, for comparison, as JSON; and in the binary form with Redis'
// `hash-max-listpack-value` raised to 1024, so that the hashes stay listpacks (Redis' default, 64,
// turns a hash with any longer value into a hash table). Prints one JSON line.
//   npx tsx bench/redis-state-bytes.ts [states=100000]
import { DEFAULT_AGENT_CONFIG as cfg } from '../agents/config.js';
import type { UserAgentState } from '../agents/user.js';
import type { ContentAgentState } from '../agents/content.js';
import { contentAgentCodec, userStateCodec } from '../pipelines/state-codecs.js';
import type { ValueCodec } from '../state/codecs.js';
import { IDLE_TTL } from '../core/config.js';
import { stateExpiry } from '../state/expiry.js';
import { STORE_CONTENT, STORE_USER_MIND } from '../state/keys.js';
import { RedisCheckpointStore } from '../state/redis-checkpoint.js';
import type { CheckpointEntry } from '../state/store.js';
import { TestRedis } from './support/redis-server.js';
import { contentWithTraffic, userAfter } from './support/sample-states.js';

const count = Number(process.argv[2] ?? 100_000);
const BATCH = 5_000;

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
  user_1: { stage: 'user', store: STORE_USER_MIND, codec: userCodec, make: (id) => userAfter(id, 1, cfg) },
  user_20: { stage: 'user', store: STORE_USER_MIND, codec: userCodec, make: (id) => userAfter(id, 20, cfg) },
  content: {
    stage: 'content',
    store: STORE_CONTENT,
    codec: contentAgentCodec,
    make: (id) => contentWithTraffic(id, cfg),
  },
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
