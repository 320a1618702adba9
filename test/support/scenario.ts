// A seeded input stream for graph tests: contents published early, then interactions with
// slightly jittered, increasing event times (so no record is late within a partition).
import { Rng } from '../../core/rng.js';
import type { ContentPublished, UserInteraction } from '../../schemas/types.js';

export interface ScenarioOptions {
  contents: number;
  interactions: number;
  users: number;
  categories: number;
  /** Event time of the first interaction and the spacing between interactions (ms). */
  startMs: number;
  stepMs: number;
  clickRate: number;
}

/** The small stream most graph tests run: 30 contents, 3,000 interactions by 200 users over 10 minutes. */
export const SMALL_SCENARIO: ScenarioOptions = {
  contents: 30,
  interactions: 3000,
  users: 200,
  categories: 5,
  startMs: 60_000,
  stepMs: 200,
  clickRate: 0.1,
};

export function scenario(
  seed: number,
  o: ScenarioOptions = SMALL_SCENARIO,
): { contents: ContentPublished[]; interactions: UserInteraction[] } {
  const rng = new Rng(seed);
  const contents: ContentPublished[] = [];
  for (let i = 0; i < o.contents; i++) {
    contents.push({
      content_id: `c${i}`,
      creator_id: `cr${i % 7}`,
      category: `cat${i % o.categories}`,
      quality_score: Math.fround(0.3 + 0.7 * rng.next()),
      published_at: i * 100,
      creator_followers: i % 3 === 0 ? 100_000 : 50,
    });
  }
  const interactions: UserInteraction[] = [];
  for (let k = 0; k < o.interactions; k++) {
    const c = contents[rng.int(contents.length)];
    const click = rng.next() < o.clickRate;
    interactions.push({
      event_id: `e${k}`,
      user_id: `u${rng.int(o.users)}`,
      content_id: c.content_id,
      category: c.category,
      event_time: o.startMs + k * o.stepMs + rng.int(Math.max(1, Math.floor(o.stepMs / 2))),
      click,
      dwell_ms: click ? 5000 : 300,
      completion: Math.fround(click ? 0.8 : 0.05),
      shared: click && rng.next() < 0.2,
      is_new_content: true,
      heated: false,
      allocation_id: null,
      user_registered_at: 0,
    });
  }
  return { contents, interactions };
}
