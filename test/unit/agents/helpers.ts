// Shared builders for the agent tests (not a test file itself).
import type { ContentPublished, UserInteraction } from '../../../schemas/types.js';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const T0 = 1_700_000_000_000;

let n = 0;
export function interaction(over: Partial<UserInteraction> = {}): UserInteraction {
  n++;
  return {
    event_id: `ev-${n}`,
    user_id: 'u1',
    content_id: 'c1',
    category: 'tech',
    event_time: T0,
    click: false,
    dwell_ms: 0,
    completion: 0,
    shared: false,
    is_new_content: false,
    heated: false,
    allocation_id: null,
    user_registered_at: null,
    ...over,
  };
}

export function published(over: Partial<ContentPublished> = {}): ContentPublished {
  return {
    content_id: 'c1',
    creator_id: 'cr1',
    category: 'tech',
    quality_score: 0.8,
    published_at: T0,
    creator_followers: 500,
    ...over,
  };
}

export function close(actual: number, expected: number, eps = 1e-9, msg?: string): void {
  if (!(Math.abs(actual - expected) <= eps))
    throw new Error(`${msg ?? 'value'}: expected ${expected}, got ${actual}`);
}
