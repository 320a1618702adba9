// How task state is laid out in the checkpoint store: the public record's fields, readable by a
// ranker with one HGETALL (state/codecs.ts), plus one field `s` holding the agent's full internal
// state (JSON) that the task restores from.
import type { AgentConfig } from '../agents/config.js';
import { toContentState, type ContentAgentState } from '../agents/content.js';
import { toUserMindState, type UserAgentState } from '../agents/user.js';
import { contentStateCodec, userMindCodec, type ValueCodec } from '../state/codecs.js';

function withInternal<V, R>(publicCodec: ValueCodec<R>, toPublic: (v: V) => R): ValueCodec<V> {
  return {
    encode: (value) => ({ ...publicCodec.encode(toPublic(value)), s: JSON.stringify(value) }),
    decode: (fields) => {
      const raw = fields.s;
      if (raw === undefined) throw new Error('checkpointed state has no internal field "s"');
      return JSON.parse(raw.toString('utf8')) as V;
    },
  };
}

export const userStateCodec = (cfg: AgentConfig): ValueCodec<UserAgentState> =>
  withInternal(userMindCodec, (s: UserAgentState) => toUserMindState(s, cfg));
export const contentAgentCodec: ValueCodec<ContentAgentState> = withInternal(
  contentStateCodec,
  toContentState,
);
