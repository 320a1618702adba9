// The user's mind state as a ranker reads it from Redis: `HGETALL <userMindKey(...)>` returns one
// string field per UserMindState field plus the key's `version` (and `epoch`). This turns that
// hash into the record HeatingServer.pick() takes; an empty hash (unknown user) is undefined.
import type { UserMindState } from '../schemas/types.js';
import { userMindCodec } from '../state/codecs.js';

export function mindStateFromHash(hash: Record<string, string | Buffer>): UserMindState | undefined {
  if (hash.user_id === undefined || hash.version === undefined) return undefined;
  const fields: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(hash)) fields[k] = Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8');
  return userMindCodec.decode(fields, Number(fields.version.toString('utf8')));
}
