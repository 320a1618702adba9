// Agent states shaped like the job's, for measuring and testing their encodings: a user after n
// interactions (20 fill the behaviour sequence) and a published content with traffic and one
// heating outcome.
import type { AgentConfig } from '../../agents/config.js';
import { applyPublished, type ContentAgentState } from '../../agents/content.js';
import { applyUserInteraction, newUserState, type UserAgentState } from '../../agents/user.js';
import type { UserInteraction } from '../../schemas/types.js';

export function userAfter(id: string, interactions: number, cfg: AgentConfig): UserAgentState {
  const s = newUserState(id, cfg);
  for (let i = 0; i < interactions; i++) {
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
    if (!applyUserInteraction(s, ev, i, cfg).applied)
      throw new Error(`interaction ${i} of ${id} not applied`);
  }
  return s;
}

export function contentWithTraffic(id: string, cfg: AgentConfig): ContentAgentState {
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
