// Per-tick audience aggregates (stage 1 → stage 3) and the audience-match term of the allocation
// score: "the share of active users with high curiosity in the target or adjacent categories"
// (SPEC §3, the seed's "tech fans with high curiosity" case).
import { fnv1a32 } from '../core/hash.js';

/** Counts for one tick: per category, distinct active users and those with high curiosity. */
export interface AudienceAggregate {
  active: Record<string, number>;
  curious: Record<string, number>;
}

export const emptyAudience = (): AudienceAggregate => ({ active: {}, curious: {} });

/** What the user state keeps so a user counts once per category per tick. */
export interface AudienceMarks {
  aTick: number;
  /** fnv1a32 codes of the categories this user was counted in during aTick. */
  aCats: number[];
}

/**
 * Counts a user in `category` for `tick` unless already counted there this tick. `curious` is
 * the user's state at the first interaction of the tick in that category.
 */
export function countAudience(
  marks: AudienceMarks,
  agg: AudienceAggregate,
  category: string,
  tick: number,
  curious: boolean,
): void {
  if (marks.aTick !== tick) {
    marks.aTick = tick;
    marks.aCats = [];
  }
  const code = fnv1a32(category) | 0;
  if (marks.aCats.includes(code)) return;
  marks.aCats.push(code);
  agg.active[category] = (agg.active[category] ?? 0) + 1;
  if (curious) agg.curious[category] = (agg.curious[category] ?? 0) + 1;
}

/** Adds `from` into `into` (stage 3 sums the partitions' aggregates of one tick). */
export function mergeAudience(into: AudienceAggregate, from: AudienceAggregate): AudienceAggregate {
  for (const [k, v] of Object.entries(from.active)) into.active[k] = (into.active[k] ?? 0) + v;
  for (const [k, v] of Object.entries(from.curious)) into.curious[k] = (into.curious[k] ?? 0) + v;
  return into;
}

/** Target categories of a content: its own category, then its adjacent ones (deduplicated, ordered). */
export function targetCategories(category: string, adjacency: Record<string, string[]>): string[] {
  const out = [category];
  for (const c of adjacency[category] ?? []) if (!out.includes(c)) out.push(c);
  return out;
}

/**
 * Share of active users with high curiosity over the target categories, shrunk toward the global
 * share with `priorWeight` pseudo-users so a tiny category (1 curious of 1 active) does not score 1.
 * In [0,1]; 0 when nobody was active.
 */
export function audienceMatch(
  agg: AudienceAggregate,
  categories: readonly string[],
  priorWeight: number,
): number {
  let active = 0;
  let curious = 0;
  for (const c of categories) {
    active += agg.active[c] ?? 0;
    curious += agg.curious[c] ?? 0;
  }
  let allActive = 0;
  let allCurious = 0;
  for (const v of Object.values(agg.active)) allActive += v;
  for (const v of Object.values(agg.curious)) allCurious += v;
  if (allActive === 0) return 0;
  const global = allCurious / allActive;
  const m = (curious + priorWeight * global) / (active + priorWeight);
  return m <= 0 ? 0 : m >= 1 ? 1 : m;
}
