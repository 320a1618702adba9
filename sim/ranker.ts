// A production-style feed ranker that consumes Thermostat's outputs:
//   1. candidate retrieval per user: top items of the user's profile categories, global popular,
//      and a sample of the new-content pool;
//   2. a popularity/CTR base score (smoothed CTR × log popularity × category affinity) — the
//      engine of the Matthew effect;
//   3. heated slots: items of active HeatingAllocation records (valid_from ≤ t < valid_until,
//      impressions left) for users matching the target (profile categories ∩ target.categories,
//      mind-state curiosity ≥ min_curiosity);
//   4. explore vs exploit per remaining slot with the user's explore_probability: an explore slot
//      takes new/under-exposed content of the user's categories or adjacent ones.
// It sees only what a ranker sees: its own impression/click counters (shared across A/B arms, as a
// production feature store is), its own per-user click profile, the public taxonomy, the mind
// state through MindStateReader and allocations pushed to it. Never the world's ground truth.
import type { HeatingAllocation, UserMindState } from '../schemas/types.js';
import type { Rng } from '../core/rng.js';
import type { SimItem } from './world.js';

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
  explore: boolean;
}

interface BookEntry {
  a: HeatingAllocation;
  item: number;
  left: number;
  costPerImp: number;
}

export interface RankerCatalog {
  readonly items: readonly SimItem[];
  readonly itemIndex: ReadonlyMap<string, number>;
  readonly catIndex: ReadonlyMap<string, number>;
  readonly adj: readonly (readonly number[])[];
  readonly categories: readonly string[];
  creatorFollowers(item: SimItem): number;
}

export class Ranker {
  readonly cfg: RankerConfig;
  private score: Float64Array = new Float64Array(0);
  private topByCat: number[][] = [];
  private popular: number[] = [];
  private freshByCat: number[][] = [];
  private profiles = new Map<number, Float64Array>();
  private seen = new Map<number, Set<number>>();
  private byCat = new Map<number, BookEntry[]>();
  private anyCat: BookEntry[] = [];
  /** Heated impressions served per allocation id. */
  readonly served = new Map<string, number>();

  constructor(
    private readonly catalog: RankerCatalog,
    readonly stats: ContentStats,
    private readonly mind: MindStateReader,
    cfg: Partial<RankerConfig> = {},
  ) {
    this.cfg = { ...DEFAULT_RANKER, ...cfg };
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
    for (let i = 0; i < items.length; i++) {
      this.score[i] = this.baseScore(i);
      byCat[items[i].cat].push(i);
      const age = t - items[i].publishedAt;
      if (age < this.cfg.newAgeMs || this.stats.imps[i] < this.cfg.underExposedImpressions)
        fresh[items[i].cat].push(i);
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
    const alive = (e: BookEntry): boolean => e.left > 0 && e.a.valid_until > t;
    for (const [c, l] of this.byCat) this.byCat.set(c, l.filter(alive));
    this.anyCat = this.anyCat.filter(alive);
  }

  /** Consumes allocations from the `heating-allocations` stream. Unknown content is ignored. */
  ingest(allocs: readonly HeatingAllocation[]): void {
    for (const a of allocs) {
      const item = this.catalog.itemIndex.get(a.content_id);
      if (item === undefined || a.impressions <= 0) continue;
      const e: BookEntry = { a, item, left: a.impressions, costPerImp: a.cost / a.impressions };
      if (a.target.categories.length === 0) this.anyCat.push(e);
      else
        for (const name of a.target.categories) {
          const c = this.catalog.catIndex.get(name);
          if (c === undefined) continue;
          let l = this.byCat.get(c);
          if (!l) this.byCat.set(c, (l = []));
          l.push(e);
        }
    }
  }

  private seenSet(userIdx: number): Set<number> {
    let s = this.seen.get(userIdx);
    if (!s) this.seen.set(userIdx, (s = new Set()));
    if (s.size > 5000) s.clear();
    return s;
  }

  private pickHeated(
    userIdx: number,
    cats: number[],
    curiosity: number,
    t: number,
    taken: Set<number>,
    seen: Set<number>,
  ): BookEntry | null {
    let best: BookEntry | null = null;
    const consider = (e: BookEntry): void => {
      if (e.left <= 0 || t < e.a.valid_from || t >= e.a.valid_until) return;
      if (curiosity < e.a.target.min_curiosity) return;
      if (taken.has(e.item) || seen.has(e.item)) return;
      if (this.catalog.items[e.item].publishedAt > t) return;
      if (
        !best ||
        e.a.score > best.a.score ||
        (e.a.score === best.a.score && e.a.allocation_id < best.a.allocation_id)
      )
        best = e;
    };
    for (const c of cats) for (const e of this.byCat.get(c) ?? []) consider(e);
    for (const e of this.anyCat) consider(e);
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

    const mind = this.mind.mindState(userId);
    const exploreP = mind ? mind.explore_probability : 0;
    const curiosity = mind ? mind.curiosity : 0;
    const exploreCats = cats.length
      ? [...new Set([...cats, ...cats.flatMap((c) => this.catalog.adj[c])])]
      : [];

    const page: Slot[] = [];
    const taken = new Set<number>();
    let ei = 0;
    for (let pos = 0; pos < cfg.pageSize; pos++) {
      // 3. heated slot
      if (cfg.heatedSlots.includes(pos)) {
        const e = this.pickHeated(userIdx, cats, curiosity, t, taken, seen);
        if (e) {
          e.left--;
          this.served.set(e.a.allocation_id, (this.served.get(e.a.allocation_id) ?? 0) + 1);
          taken.add(e.item);
          page.push({
            item: e.item,
            heated: true,
            allocationId: e.a.allocation_id,
            cost: e.costPerImp,
            explore: false,
          });
          continue;
        }
      }
      // 4. explore vs exploit
      if (exploreP > 0 && rng.next() < exploreP) {
        const pool = exploreCats.length
          ? exploreCats.flatMap((c) => this.freshByCat[c])
          : this.freshByCat.flat();
        let best = -1;
        for (let k = 0; k < 5 && pool.length; k++) {
          const i = pool[rng.int(pool.length)];
          if (taken.has(i) || seen.has(i) || items[i].publishedAt > t) continue;
          if (best < 0 || items[i].qualityScore > items[best].qualityScore) best = i;
        }
        if (best >= 0) {
          taken.add(best);
          page.push({ item: best, heated: false, allocationId: null, cost: 0, explore: true });
          continue;
        }
      }
      while (ei < exploit.length && taken.has(exploit[ei])) ei++;
      if (ei >= exploit.length) break;
      taken.add(exploit[ei]);
      page.push({ item: exploit[ei++], heated: false, allocationId: null, cost: 0, explore: false });
    }
    for (const s of page) seen.add(s.item);
    return page;
  }
}
