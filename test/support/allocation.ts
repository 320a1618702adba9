// A valid HeatingAllocation for tests: the fields a test does not care about filled in once.
import type { HeatingAllocation } from '../../schemas/types.js';

export function heatingAllocation(over: Partial<HeatingAllocation> = {}): HeatingAllocation {
  return {
    allocation_id: 'a1',
    content_id: 'c1',
    creator_id: 'cr',
    category: 'tech',
    valid_from: 1_700_000_000_000,
    valid_until: 1_700_003_600_000,
    impressions: 100,
    bid_price: 5,
    cost: 0.5,
    score: 0.8,
    target: { categories: ['tech', 'science'], min_curiosity: 0 },
    policy: 'RULE',
    model_version: 'rule-v2',
    reward_weights: { user_satisfaction: 0.4, platform_revenue: 0.4, long_term: 0.2 },
    emitted_at: 1_700_000_000_000,
    ...over,
  };
}
