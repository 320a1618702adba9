// A production-style feed ranker that consumes Thermostat's outputs:
//   1. candidate retrieval per user: top items of the user's profile categories, global popular,
//      and a sample of the new-content pool;
//   2. a popularity/CTR base score (smoothed CTR × log popularity × category affinity) — the
//      engine of the Matthew effect;
//   3. heated slots, filled by the package's serving helper (serving/heating-server.ts) exactly as
//      docs/SERVING.md tells a platform to: the active HeatingAllocation records, the user's profile
//      categories and mind state (explore_probability gates the slot; curiosity ≥ min_curiosity),
//      delivery pacing and a per-user frequency cap;
//   4. or, for the baseline heaters, a slot heater: each slot is, with a fixed probability, a fresh
//      item picked at random or best-of-k by published quality score (no allocations).
// It sees only what a ranker sees: its own impression/click counters (shared across A/B arms, as a
// production feature store is), its own per-user click profile, the public taxonomy, the mind
// state through MindStateReader and allocations pushed to it. Never the world's ground truth.
import type { HeatingAllocation, UserMindState } from '../schemas/types.js';
import type { Rng } from '../core/rng.js';
import type { SimItem } from './world.js';
import { HeatingServer, type HeatPick, type ServingConfig } from '../serving/heating-server.js';
import { DEFAULT_AGENT_CONFIG } from '../agents/config.js';

export interface MindStateReader {
  mindState(userId: string): UserMindState | undefined;
}

export interface RankerConfig {
  pageSize: number;
  /** Positions (0-based) of heated slots in a page. */
  heatedSlots: number[];
  /** Smoothed CTR = (clicks + priorWeight·priorCtr) / (imps + priorWeight). */
  priorCtr: number;
  priorWeight: number;
  /** Creator followers count as this many pseudo-impressions each (follow-graph popularity). */
  followerWeight: number;
  /** Unseen candidates taken per profile category, and from the popular list, per page. */
  perCategoryCandidates: number;
  popularCandidates: number;
  /** Length of the global popular list. */
  popularDepth: number;
  newPoolCandidates: number;
  /** Profile categories: share of the user's profile ≥ this (at most maxProfileCats). */
  profileMinShare: number;
  maxProfileCats: number;
  /** Content with fewer total impressions than this counts as under-exposed for explore. */
  underExposedImpressions: number;
  /** Content younger than this is in the new pool. */
  newAgeMs: number;
  /** Serving helper settings (per-user cap, pacing). */
  serving: Partial<ServingConfig>;
  /** Content younger than this is "fresh" for the slot heaters. */
  freshAgeMs: number;
}

/**
 * A baseline heater without allocations: every slot is, with probability `share`, a fresh item
 * (published less than freshAgeMs ago, not seen by the user): a random one (k = 1) or the best
 * published quality score of k random ones.
 */
export interface SlotHeater {
  share: number;
  k: number;
}

export const DEFAULT_RANKER: RankerConfig = {
  pageSize: 8,
  heatedSlots: [1, 5],
  priorCtr: 0.02,
  priorWeight: 100,
  followerWeight: 0.01,
  perCategoryCandidates: 12,
  popularCandidates: 12,
  popularDepth: 500,
  newPoolCandidates: 10,
  profileMinShare: 0.1,
  maxProfileCats: 4,
  underExposedImpressions: 50,
  newAgeMs: 3 * 86_400_000,
  serving: {},
  freshAgeMs: 86_400_000,
};

/** Impression/click counters of the feature store (prior history + everything logged in the run). */
export class ContentStats {
  imps: number[] = [];
  clicks: number[] = [];
  ensure(items: readonly SimItem[]): void {
    for (let i = this.imps.length; i < items.length; i++) {
      this.imps.push(items[i].priorImps);
      this.clicks.push(items[i].priorClicks);
    }
  }
  log(itemIdx: number, click: boolean): void {
    this.imps[itemIdx]++;
    if (click) this.clicks[itemIdx]++;
  }
}

export interface Slot {
  item: number;
  heated: boolean;
  allocationId: string | null;
  /** Cost of this heated impression (allocation cost / impressions), 0 if not heated. */
  cost: number;
  /** The serving helper's pick behind a heated slot (returned if the user never reaches it). */
  pick?: HeatPick;
}

export interface RankerCatalog {
  readonly items: readonly SimItem[];
  readonly itemIndex: ReadonlyMap<string, number>;
  readonly catIndex: ReadonlyMap<string, number>;
  readonly adj: readonly (readonly number[])[];
  readonly categories: readonly string[];
  creatorFollowers(item: SimItem): number;
  /** The item's published quality_score (what the platform knows, not the latent quality). */
  publishedScore(item: SimItem): number;
}

export class Ranker {
  readonly cfg: RankerConfig;
  private score: Float64Array = new Float64Array(0);
  private topByCat: number[][] = [];
  private popular: number[] = [];
  private freshByCat: number[][] = [];
  private profiles = new Map<number, Float64Array>();
  private seen = new Map<number, Set<number>>();
  /** Items published less than freshAgeMs ago (slot heaters). */
  private fresh: number[] = [];
  readonly server: HeatingServer;

  constructor(
    private readonly catalog: RankerCatalog,
    readonly stats: ContentStats,
    private readonly mind: MindStateReader,
    cfg: Partial<RankerConfig> = {},
    private readonly slotHeater: SlotHeater | null = null,
  ) {
    this.cfg = { ...DEFAULT_RANKER, ...cfg };
    this.server = new HeatingServer(this.cfg.serving);
  }

  /** Seeds a user's click profile from history (pre-existing users). */
  seedProfile(userIdx: number, catWeights: Iterable<[number, number]>): void {
    const p = this.profile(userIdx);
    for (const [c, w] of catWeights) p[c] += w;
  }

  private profile(userIdx: number): Float64Array {
    let p = this.profiles.get(userIdx);
    if (!p) {
      p = new Float64Array(this.catalog.categories.length);
      this.profiles.set(userIdx, p);
    }
    return p;
  }

  /** Profile categories: those with share ≥ profileMinShare, strongest first. */
  profileCats(userIdx: number): number[] {
    const p = this.profiles.get(userIdx);
    if (!p) return [];
    let s = 0;
    for (const x of p) s += x;
    if (s <= 0) return [];
    const cats: number[] = [];
    for (let c = 0; c < p.length; c++) if (p[c] / s >= this.cfg.profileMinShare) cats.push(c);
    cats.sort((a, b) => p[b] - p[a] || a - b);
    return cats.slice(0, this.cfg.maxProfileCats);
  }

  /** Logs an impression's outcome: feature store counters and the user's click profile. */
  log(userIdx: number, itemIdx: number, click: boolean): void {
    this.stats.log(itemIdx, click);
    if (click) this.profile(userIdx)[this.catalog.items[itemIdx].cat] += 1;
  }

  baseScore(itemIdx: number): number {
    const { cfg, stats } = this;
    const it = this.catalog.items[itemIdx];
    const imps = stats.imps[itemIdx];
    const ctr = (stats.clicks[itemIdx] + cfg.priorWeight * cfg.priorCtr) / (imps + cfg.priorWeight);
    return ctr * (1 + Math.log1p(imps + cfg.followerWeight * this.catalog.creatorFollowers(it)));
  }

  /** Rebuilds the retrieval indexes (once per tick) and prunes dead allocations. */
  refresh(t: number): void {
    const items = this.catalog.items;
    this.stats.ensure(items);
    const C = this.catalog.categories.length;
    this.score = new Float64Array(items.length);
    const byCat: number[][] = Array.from({ length: C }, () => []);
    const fresh: number[][] = Array.from({ length: C }, () => []);
    this.fresh = [];
    for (let i = 0; i < items.length; i++) {
      this.score[i] = this.baseScore(i);
      byCat[items[i].cat].push(i);
      const age = t - items[i].publishedAt;
      if (age < this.cfg.newAgeMs || this.stats.imps[i] < this.cfg.underExposedImpressions)
        fresh[items[i].cat].push(i);
      if (!items[i].initial && age < this.cfg.freshAgeMs) this.fresh.push(i);
    }
    const sc = this.score;
    const desc = (a: number, b: number): number => sc[b] - sc[a] || a - b;
    this.topByCat = byCat.map((l) => l.sort(desc));
    this.popular = this.topByCat
      .map((l) => l.slice(0, this.cfg.popularDepth))
      .flat()
      .sort(desc)
      .slice(0, this.cfg.popularDepth);
    this.freshByCat = fresh;
  }

  /** Consumes allocations from the `heating-allocations` stream (the serving helper keeps them). */
  ingest(allocs: readonly HeatingAllocation[]): void {
    this.server.ingest(allocs);
  }

  private seenSet(userIdx: number): Set<number> {
    let s = this.seen.get(userIdx);
    if (!s) this.seen.set(userIdx, (s = new Set()));
    if (s.size > 5000) s.clear();
    return s;
  }

  /** Heated picks of a page that the user left before reaching go back to the serving helper. */
  unshown(userId: string, slots: readonly Slot[]): void {
    for (const s of slots) if (s.pick) this.server.cancel(s.pick, userId);
  }

  /** A slot heater's price per impression: the content agent's bid per mille for a new content (no ctr yet), as manual heat is priced. */
  private slotCost(it: SimItem): number {
    const a = DEFAULT_AGENT_CONFIG;
    const bid =
      this.catalog.publishedScore(it) *
      a.content.bidBase *
      (1 + a.content.defaultExpectedCtr * a.content.bidCtrMultiplier);
    return bid / a.system.costPerImpressions;
  }

  /** A slot heater's fresh item for this user (the best score of k eligible random draws, at most 4k tries), or -1. */
  private slotHeat(h: SlotHeater, t: number, taken: Set<number>, seen: Set<number>, rng: Rng): number {
    const items = this.catalog.items;
    let best = -1;
    let eligible = 0;
    for (let tries = 0; eligible < h.k && tries < 4 * h.k && this.fresh.length > 0; tries++) {
      const i = this.fresh[rng.int(this.fresh.length)];
      if (taken.has(i) || seen.has(i) || items[i].publishedAt > t) continue;
      eligible++;
      if (best < 0 || this.catalog.publishedScore(items[i]) > this.catalog.publishedScore(items[best]))
        best = i;
    }
    return best;
  }

  /** Ranks one page for a user at event time t. Draws only from rng (per session, seeded). */
  rankPage(userIdx: number, userId: string, t: number, rng: Rng): Slot[] {
    const { cfg } = this;
    const items = this.catalog.items;
    const seen = this.seenSet(userIdx);
    const cats = this.profileCats(userIdx);
    const p = this.profiles.get(userIdx);
    let psum = 0;
    if (p) for (const x of p) psum += x;
    const C = this.catalog.categories.length;
    const affinity = (c: number): number => 0.05 + (psum > 0 ? p![c] / psum : 1 / C);

    // 1. candidate retrieval: the best unseen items of each profile category (full-depth sorted
    // lists, so a heavy user is never starved), the best unseen popular items, a new-pool sample.
    const unseen = (list: readonly number[], n: number, out: Set<number>): void => {
      let k = 0;
      for (let j = 0; j < list.length && k < n; j++) {
        const i = list[j];
        if (seen.has(i) || out.has(i) || items[i].publishedAt > t) continue;
        out.add(i);
        k++;
      }
    };
    const cand = new Set<number>();
    for (const c of cats) unseen(this.topByCat[c], cfg.perCategoryCandidates, cand);
    unseen(this.popular, cfg.popularCandidates, cand);
    const newPool = cats.length ? cats.flatMap((c) => this.freshByCat[c]) : this.freshByCat.flat();
    for (let k = 0; k < cfg.newPoolCandidates && newPool.length; k++) {
      const i = newPool[rng.int(newPool.length)];
      if (!seen.has(i) && items[i].publishedAt <= t) cand.add(i);
    }
    // 2. base score (personalised by the profile's category share)
    const exploit = [...cand]
      .map((i) => ({ i, s: this.score[i] * affinity(items[i].cat) }))
      .sort((a, b) => b.s - a.s || a.i - b.i)
      .map((x) => x.i);

    const mind = this.slotHeater ? undefined : this.mind.mindState(userId);
    const catNames = cats.map((c) => this.catalog.categories[c]);
    const itemIndex = this.catalog.itemIndex;

    const page: Slot[] = [];
    const taken = new Set<number>();
    let ei = 0;
    for (let pos = 0; pos < cfg.pageSize; pos++) {
      // 3. heated slot: the serving helper, as a platform would call it
      if (!this.slotHeater && cfg.heatedSlots.includes(pos)) {
        const pick = this.server.pick({
          userId,
          now: t,
          categories: catNames,
          mind,
          draw: rng.next(),
          exclude: (contentId) => {
            const i = itemIndex.get(contentId);
            return i === undefined || taken.has(i) || seen.has(i) || items[i].publishedAt > t;
          },
        });
        if (pick) {
          const item = itemIndex.get(pick.contentId)!;
          taken.add(item);
          page.push({ item, heated: true, allocationId: pick.allocationId, cost: pick.cost, pick });
          continue;
        }
      }
      // 4. baseline heaters: a fresh item in this slot with a fixed probability
      if (this.slotHeater && rng.next() < this.slotHeater.share) {
        const item = this.slotHeat(this.slotHeater, t, taken, seen, rng);
        if (item >= 0) {
          taken.add(item);
          const it = items[item];
          page.push({ item, heated: true, allocationId: null, cost: this.slotCost(it) });
          continue;
        }
      }
      while (ei < exploit.length && taken.has(exploit[ei])) ei++;
      if (ei >= exploit.length) break;
      taken.add(exploit[ei]);
      page.push({ item: exploit[ei++], heated: false, allocationId: null, cost: 0 });
    }
    for (const s of page) seen.add(s.item);
    return page;
  }
}
