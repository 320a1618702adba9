// The simulated world: users with latent interests, creators who publish and leave, content with
// latent quality, cheaters (bot-bought clicks) and colluding groups. Pure and seeded: every draw
// comes from an Rng derived from (seed, key), so the same seed gives the same world and, for the
// same sequence of decisions, the same reactions. Assumptions are written down in docs/SIMULATOR.md.
import { Rng } from '../core/rng.js';
import { fnv1a32 } from '../core/hash.js';
import type { ContentPublished } from '../schemas/types.js';
import { CATEGORIES, DAY_MS, adjacencyMap, type WorldConfig } from './config.js';
import {
  chooseMnl,
  completionOf,
  evolveInterests,
  nextBudget,
  qualityOfRecsim,
  topicQualityMeans,
  unsquash,
  utilityOf,
} from './recsim.js';

export type CheatKind = 'bot' | 'collusion' | null;

export interface SimUser {
  idx: number;
  id: string;
  registeredAt: number;
  /** True affinity per category index, 0..1 (ground truth, hidden from ranker and policy); in the
   * recsim worlds RecSim's interest per topic (−1 = disgust … 1, squashed, evolving). */
  aff: Float64Array;
  /** recsim worlds: the linear state under the interest squash. */
  lin?: Float64Array;
  strong: number[];
  latent: number[];
  /** Latent categories the user has discovered (engaged with at least once). */
  discovered: Set<number>;
  /** strong ∪ latent: the categories the user would enjoy. */
  interests: Set<number>;
  curiosity: number;
  activity: number;
  satisfaction: number;
  fatigue: number;
  /** Collusion group index, or -1. */
  group: number;
  lastCat: number;
  prevCat: number;
}

export interface SimCreator {
  idx: number;
  id: string;
  big: boolean;
  category: number;
  followers: number;
  ratePerDay: number;
  qualityMean: number;
  qualitySd: number;
  /** recsim worlds: the creator's offset on RecSim quality (0 elsewhere). */
  qualityOffset: number;
  active: boolean;
  leftAt: number | null;
  items: number[];
}

export interface SimItem {
  idx: number;
  id: string;
  creator: number;
  cat: number;
  /** Latent quality 0..1 (ground truth). */
  quality: number;
  /** Published estimate of quality (noisy). */
  qualityScore: number;
  publishedAt: number;
  durationMs: number;
  cheat: CheatKind;
  /** Pre-existing (published before the run). */
  initial: boolean;
  /** Impressions and clicks accumulated before the run (ranker history). */
  priorImps: number;
  priorClicks: number;
}

export interface Outcome {
  click: boolean;
  completion: number;
  dwellMs: number;
  shared: boolean;
  engaged: boolean;
  /** The impression made the user discover a latent interest. */
  discovered: boolean;
}

/** What a user model draws for a user: interests, and the fatigue a user starts with. */
type UserInterests = Pick<SimUser, 'aff' | 'lin' | 'strong' | 'latent' | 'interests' | 'fatigue'>;

/** A user's day, as the world's satisfaction and return model reads it. */
export interface DayStat {
  imps: number;
  engaged: number;
  discoveries: number;
  fatigueSum: number;
  /** recsim worlds: watch time of the day's clicks and Σ utility × watch time. */
  watchMs: number;
  utilityWatch: number;
}

export const newDayStat = (): DayStat => ({
  imps: 0,
  engaged: 0,
  discoveries: 0,
  fatigueSum: 0,
  watchMs: 0,
  utilityWatch: 0,
});

/** A user's reaction to one page in the recsim worlds. */
export interface SlateOutcome {
  outcomes: Outcome[];
  /** Index of the clicked item, −1 for none. */
  chosen: number;
  budget: number;
  /** Session time the page took: the watch time of the click, or the step penalty. */
  elapsedMs: number;
  /** Utility of the clicked item (0 without a click). */
  utility: number;
}

const SKIP: Outcome = Object.freeze({
  click: false,
  completion: 0,
  dwellMs: 0,
  shared: false,
  engaged: false,
  discovered: false,
});

const clamp = (x: number, lo: number, hi: number): number => (x < lo ? lo : x > hi ? hi : x);

/** Relative traffic per UTC hour (a diurnal curve: night trough, lunch and evening peaks). */
export const DIURNAL = [
  0.3, 0.2, 0.15, 0.1, 0.1, 0.15, 0.35, 0.6, 0.8, 0.85, 0.9, 1.0, 1.2, 1.1, 0.9, 0.85, 0.9, 1.0, 1.2, 1.5,
  1.7, 1.6, 1.2, 0.7,
];
const DIURNAL_CUM = (() => {
  const c: number[] = [];
  let s = 0;
  for (const w of DIURNAL) c.push((s += w));
  return c.map((x) => x / s);
})();

/** A time offset within a day, ms, following the diurnal curve. */
export function diurnalOffset(rng: Rng): number {
  const u = rng.next();
  let h = 0;
  while (h < 23 && DIURNAL_CUM[h] < u) h++;
  return h * 3_600_000 + Math.floor(rng.next() * 3_600_000);
}

export function poisson(rng: Rng, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * rng.normal()));
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rng.next();
  } while (p > l);
  return k - 1;
}

/** An Rng whose stream depends only on the world seed and the key. */
export function keyedRng(seed: number, key: string): Rng {
  return new Rng(fnv1a32(key, (seed ^ 0x5bd1e995) >>> 0));
}

/** Category popularity: a mild Zipf so some categories are mainstream and some niche. */
function pickWeighted(rng: Rng, weights: number[], exclude: Set<number>): number {
  let s = 0;
  for (let i = 0; i < weights.length; i++) if (!exclude.has(i)) s += weights[i];
  let u = rng.next() * s;
  for (let i = 0; i < weights.length; i++) {
    if (exclude.has(i)) continue;
    u -= weights[i];
    if (u <= 0) return i;
  }
  for (let i = weights.length - 1; i >= 0; i--) if (!exclude.has(i)) return i;
  return 0;
}

export class World {
  readonly categories: readonly string[] = CATEGORIES;
  readonly catIndex = new Map<string, number>(CATEGORIES.map((c, i) => [c, i]));
  readonly adjacency = adjacencyMap();
  /** Adjacent category indices per category index. */
  readonly adj: number[][];
  readonly users: SimUser[] = [];
  readonly userIndex = new Map<string, number>();
  readonly creators: SimCreator[] = [];
  readonly items: SimItem[] = [];
  readonly itemIndex = new Map<string, number>();
  readonly bots: string[] = [];
  /** Collusion groups: colluder user indices and the item indices they push. */
  readonly groups: { users: number[]; items: number[] }[] = [];
  readonly catWeights: number[];
  /** Ground truth: items whose clicks are faked (bots or collusion). */
  readonly cheaters = new Set<string>();
  /** Publications scheduled but not yet released, sorted by time. */
  private pending: SimItem[] = [];
  private itemSeq = 0;
  /** recsim worlds: RecSim quality mean per topic (null elsewhere). */
  readonly topicQuality: Float64Array | null = null;

  constructor(readonly cfg: WorldConfig) {
    this.adj = CATEGORIES.map((c) => this.adjacency.get(c)!.map((a) => this.catIndex.get(a)!));
    this.catWeights = CATEGORIES.map((_, i) => 1 / Math.pow(i + 1, 0.6));
    if (cfg.userModel === 'recsim') {
      // Which topics are trashy is a seeded permutation, independent of how popular a topic is.
      const r = keyedRng(cfg.seed, 'topics');
      const perm = CATEGORIES.map((_, i) => i);
      for (let i = perm.length - 1; i > 0; i--) {
        const j = r.int(i + 1);
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      this.topicQuality = topicQualityMeans(perm, cfg.recsim);
      this.makeUsers((r) => this.recsimInterests(r));
    } else this.makeUsers((r) => this.affinityInterests(r));
    this.makeCreators();
    this.makeInitialCatalog();
    this.makeCheaters();
  }

  /** Users, each from their own keyed stream: interests by `interests`, then the rest (addUser). */
  private makeUsers(interests: (r: Rng) => UserInterests): void {
    for (let i = 0; i < this.cfg.users; i++) {
      const id = `u${String(i).padStart(6, '0')}`;
      const r = keyedRng(this.cfg.seed, `user:${id}`);
      this.addUser(i, id, r, interests(r));
    }
  }

  /** Affinity users: a low affinity everywhere, a few strong interests, a few latent ones (discovered by exposure). */
  private affinityInterests(r: Rng): UserInterests {
    const { cfg } = this;
    const C = CATEGORIES.length;
    const aff = new Float64Array(C);
    for (let c = 0; c < C; c++) aff[c] = 0.02 + 0.1 * r.next();
    const taken = new Set<number>();
    const strong: number[] = [];
    const nStrong = cfg.strongInterests[0] + r.int(cfg.strongInterests[1] - cfg.strongInterests[0] + 1);
    for (let k = 0; k < nStrong; k++) {
      const c = pickWeighted(r, this.catWeights, taken);
      taken.add(c);
      strong.push(c);
      aff[c] = 0.6 + 0.4 * r.next();
    }
    const latent: number[] = [];
    const nLatent = cfg.latentInterests[0] + r.int(cfg.latentInterests[1] - cfg.latentInterests[0] + 1);
    for (let k = 0; k < nLatent; k++) {
      let c = -1;
      if (r.next() < cfg.latentAdjacentProb) {
        const opts = strong.flatMap((s) => this.adj[s]).filter((a) => !taken.has(a));
        if (opts.length) c = opts[r.int(opts.length)];
      }
      if (c < 0) c = pickWeighted(r, this.catWeights, taken);
      taken.add(c);
      latent.push(c);
      aff[c] = 0.5 + 0.4 * r.next();
    }
    return { aff, strong, latent, interests: new Set([...strong, ...latent]), fatigue: 0.1 };
  }

  /** Registers a user: registration time, curiosity and activity are drawn from `r` after the interests. */
  private addUser(idx: number, id: string, r: Rng, own: UserInterests): void {
    const { cfg } = this;
    const isNew = r.next() < cfg.newUserShare;
    const registeredAt = isNew
      ? cfg.startMs + Math.floor(r.next() * cfg.days * DAY_MS)
      : cfg.startMs - Math.floor((1 + 364 * r.next()) * DAY_MS);
    this.users.push({
      idx,
      id,
      registeredAt,
      ...own,
      discovered: new Set(),
      curiosity: 0.1 + 0.8 * ((r.next() + r.next()) / 2),
      activity: 0.45 + 0.5 * r.next(),
      satisfaction: 0.5,
      group: -1,
      lastCat: -1,
      prevCat: -1,
    });
    this.userIndex.set(id, idx);
  }

  /** RecSim users: interests U(−1, 1) per topic; the strongest three seed the ranker's profile. */
  private recsimInterests(r: Rng): UserInterests {
    const aff = new Float64Array(CATEGORIES.length);
    for (let c = 0; c < aff.length; c++) aff[c] = 2 * r.next() - 1;
    const lin = aff.map((x) => unsquash(x, this.cfg.recsim));
    const order = CATEGORIES.map((_, c) => c).sort((a, b) => aff[b] - aff[a] || a - b);
    return {
      aff,
      lin,
      strong: order.slice(0, 3),
      latent: [],
      interests: new Set(order.filter((c) => aff[c] > 0)),
      fatigue: 0,
    };
  }

  private makeCreators(): void {
    const { cfg } = this;
    const r = keyedRng(cfg.seed, 'creators');
    const nBig = Math.max(1, Math.round(cfg.creators * cfg.bigCreatorShare));
    const weightSum = nBig * cfg.bigCreatorWeight + (cfg.creators - nBig);
    const offsets = keyedRng(cfg.seed, 'creator-quality');
    for (let i = 0; i < cfg.creators; i++) {
      const big = i < nBig;
      const w = big ? cfg.bigCreatorWeight : 1;
      this.creators.push({
        idx: i,
        id: `cr${String(i).padStart(5, '0')}`,
        big,
        category: pickWeighted(r, this.catWeights, new Set()),
        followers: big
          ? Math.round(100_000 + 900_000 * r.next())
          : Math.round(10 + 5000 * r.next() * r.next()),
        ratePerDay: (cfg.newItemsPerDay * w) / weightSum,
        qualityMean: big ? 0.62 : 0.5,
        qualitySd: big ? 0.12 : 0.2,
        qualityOffset: this.topicQuality ? cfg.recsim.creatorQualitySd * offsets.normal() : 0,
        active: true,
        leftAt: null,
        items: [],
      });
    }
  }

  private newItem(creator: SimCreator, publishedAt: number, r: Rng, initial: boolean): SimItem {
    const id = `c${String(this.itemSeq++).padStart(7, '0')}`;
    // Creators mostly stay in their category, sometimes an adjacent or random one.
    const u = r.next();
    const cat =
      u < 0.8
        ? creator.category
        : u < 0.93
          ? this.adj[creator.category][r.int(this.adj[creator.category].length)]
          : r.int(CATEGORIES.length);
    const rc = this.cfg.recsim;
    // recsim: RecSim quality N(topic mean + creator offset, sd), as latent quality in [0, 1].
    const quality = this.topicQuality
      ? qualityOfRecsim(this.topicQuality[cat] + creator.qualityOffset + rc.itemQualitySd * r.normal(), rc)
      : clamp(creator.qualityMean + creator.qualitySd * r.normal(), 0.02, 0.98);
    const qualityScore = clamp(quality + 0.1 * r.normal(), 0, 1);
    const durationMs = this.topicQuality
      ? Math.round(clamp(rc.videoLengthMeanMs + rc.videoLengthSdMs * r.normal(), 30_000, 6_000_000))
      : Math.round(15_000 + 105_000 * r.next());
    const item: SimItem = {
      idx: -1,
      id,
      creator: creator.idx,
      cat,
      quality,
      qualityScore,
      publishedAt,
      durationMs,
      cheat: null,
      initial,
      priorImps: 0,
      priorClicks: 0,
    };
    return item;
  }

  private addItem(item: SimItem): void {
    item.idx = this.items.length;
    this.items.push(item);
    this.itemIndex.set(item.id, item.idx);
    this.creators[item.creator].items.push(item.idx);
  }

  /** Pre-existing catalog, published over the 30 days before the run, with a heavy-tailed history
   * of impressions (the head the Matthew effect starts from). */
  private makeInitialCatalog(): void {
    const { cfg } = this;
    const r = keyedRng(cfg.seed, 'catalog');
    const weights = this.creators.map((c) => c.ratePerDay);
    for (let k = 0; k < cfg.initialItems; k++) {
      const cr = this.creators[pickWeighted(r, weights, new Set())];
      const at = cfg.startMs - Math.floor((0.5 + 29.5 * r.next()) * DAY_MS);
      const item = this.newItem(cr, at, r, true);
      // Pareto(α=1.2) history, bigger for big creators and better quality.
      const pareto = Math.pow(1 - r.next(), -1 / 1.2);
      item.priorImps = Math.min(200_000, Math.round(20 * pareto * (cr.big ? 5 : 1) * (0.5 + item.quality)));
      // recsim: clicks carry no quality information, so neither does the catalog's history.
      if (this.topicQuality) {
        item.priorImps = Math.min(200_000, Math.round(20 * pareto * (cr.big ? 5 : 1)));
        item.priorClicks = Math.round(item.priorImps * cfg.recsim.priorCtr);
      } else
        item.priorClicks = Math.round(
          item.priorImps * cfg.ctrScale * 0.5 * (cfg.qualityFloor + (1 - cfg.qualityFloor) * item.quality),
        );
      this.addItem(item);
    }
    this.items.sort((a, b) => a.publishedAt - b.publishedAt || a.id.localeCompare(b.id));
    this.items.forEach((it, i) => {
      it.idx = i;
      this.itemIndex.set(it.id, i);
    });
    for (const c of this.creators) c.items = [];
    for (const it of this.items) this.creators[it.creator].items.push(it.idx);
  }

  private makeCheaters(): void {
    const { cfg } = this;
    const r = keyedRng(cfg.seed, 'cheaters');
    for (let b = 0; b < cfg.bots; b++) this.bots.push(`bot${String(b).padStart(4, '0')}`);
    // Collusion: a few users and a few low-quality items from small creators, pushed together.
    const used = new Set<number>();
    for (let g = 0; g < cfg.collusionGroups && cfg.users > cfg.colludersPerGroup; g++) {
      const members: number[] = [];
      while (members.length < cfg.colludersPerGroup) {
        const u = r.int(cfg.users);
        if (used.has(u)) continue;
        used.add(u);
        members.push(u);
        this.users[u].group = g;
      }
      const items: number[] = [];
      for (let k = 0; k < cfg.collusionItemsPerGroup; k++) {
        const cr = this.creators[this.creators.length - 1 - r.int(Math.floor(this.creators.length / 2))];
        const item = this.newItem(cr, cfg.startMs - Math.floor((0.2 + r.next()) * DAY_MS), r, true);
        item.quality = 0.1 + 0.15 * r.next();
        item.qualityScore = clamp(0.5 + 0.1 * r.normal(), 0, 1);
        item.cheat = 'collusion';
        this.addItem(item);
        this.cheaters.add(item.id);
        items.push(item.idx);
      }
      this.groups.push({ users: members, items });
    }
    // Some of the pre-existing catalog also buys clicks.
    for (const it of this.items) {
      if (it.cheat === null && it.initial && r.next() < cfg.cheatShare) {
        it.cheat = 'bot';
        it.quality = Math.min(it.quality, 0.3);
        this.cheaters.add(it.id);
      }
    }
  }

  /** Schedules the publications of a day (creators still active). Call at the day's start. */
  scheduleDay(day: number): void {
    const { cfg } = this;
    const dayStart = cfg.startMs + day * DAY_MS;
    const out: SimItem[] = [];
    for (const cr of this.creators) {
      if (!cr.active) continue;
      const r = keyedRng(cfg.seed, `publish:${cr.id}:${day}`);
      const n = poisson(r, cr.ratePerDay);
      for (let k = 0; k < n; k++) {
        const item = this.newItem(cr, dayStart + diurnalOffset(r), r, false);
        if (r.next() < cfg.cheatShare) {
          item.cheat = 'bot';
          item.quality = Math.min(item.quality, 0.3);
        }
        out.push(item);
      }
    }
    out.sort((a, b) => a.publishedAt - b.publishedAt || a.id.localeCompare(b.id));
    this.pending.push(...out);
  }

  /** Releases publications with published_at < until into the catalog. */
  release(until: number): SimItem[] {
    let n = 0;
    while (n < this.pending.length && this.pending[n].publishedAt < until) n++;
    const out = this.pending.splice(0, n);
    for (const it of out) {
      this.addItem(it);
      if (it.cheat) this.cheaters.add(it.id);
    }
    return out;
  }

  published(it: SimItem): ContentPublished {
    return {
      content_id: it.id,
      creator_id: this.creators[it.creator].id,
      category: CATEGORIES[it.cat],
      quality_score: this.publishedScore(it),
      published_at: it.publishedAt,
      creator_followers: this.creators[it.creator].followers,
    };
  }

  /** The quality_score the platform publishes: the noisy estimate, or 0.5 in worlds without a score. */
  publishedScore(it: SimItem): number {
    return this.cfg.publishQualityScore ? it.qualityScore : 0.5;
  }

  isNew(it: SimItem, t: number): boolean {
    return !it.initial && t - it.publishedAt < this.cfg.newContentAgeMs && t >= it.publishedAt;
  }

  /** Probability that the user is active on a day, from activity and satisfaction. */
  activeProb(u: SimUser): number {
    return clamp(u.activity * (this.cfg.returnBase + this.cfg.returnSat * u.satisfaction), 0.02, 0.98);
  }

  /** The user's reaction to one impression. Mutates fatigue, discovery and curiosity. */
  respond(u: SimUser, it: SimItem, r: Rng): Outcome {
    const { cfg } = this;
    const cat = it.cat;
    // Fatigue: the third same-category impression in a row tires; a change of category rests.
    if (cat === u.lastCat && cat === u.prevCat) u.fatigue = Math.min(1, u.fatigue + cfg.fatigueRepeatStep);
    else u.fatigue = Math.max(0, u.fatigue - cfg.fatigueRecoverStep);
    u.prevCat = u.lastCat;
    u.lastCat = cat;
    const isLatent = u.latent.includes(cat) && !u.discovered.has(cat);
    const appeal = isLatent ? u.aff[cat] * (cfg.latentBase + (1 - cfg.latentBase) * u.curiosity) : u.aff[cat];
    const q = it.quality;
    const qualityFactor = cfg.clickQuality ? cfg.qualityFloor + (1 - cfg.qualityFloor) * q : 1;
    const p = clamp(
      cfg.ctrScale * appeal * qualityFactor * (1 - cfg.fatigueClickPenalty * u.fatigue),
      0,
      0.95,
    );
    const click = r.next() < p;
    if (!click) {
      return {
        click: false,
        completion: 0,
        dwellMs: 800 + r.int(1700),
        shared: false,
        engaged: false,
        discovered: false,
      };
    }
    const completion = clamp(0.1 + 0.5 * q + 0.35 * u.aff[cat] + 0.15 * r.normal(), 0.01, 1);
    const engaged = completion >= cfg.engagedCompletion;
    const shared = r.next() < 0.15 * completion * q;
    let discovered = false;
    if (engaged && isLatent) {
      u.discovered.add(cat);
      u.curiosity = Math.min(1, u.curiosity + 0.05);
      discovered = true;
    }
    // Interests drift with what the user watches.
    if (engaged) u.aff[cat] += cfg.interestDrift * (1 - u.aff[cat]);
    else if (completion < 0.3) u.aff[cat] -= cfg.interestDrift * u.aff[cat];
    return {
      click,
      completion,
      dwellMs: Math.round(completion * it.durationMs),
      shared,
      engaged,
      discovered,
    };
  }

  /**
   * recsim: the user's reaction to a page (RecSim's slate): at most one click, chosen by
   * multinomial logit on the user's interests in the items' topics; the click is watched for a
   * quality-dependent share (at most the budget left), may be shared, moves the user's interests
   * and the session's budget (sim/recsim.ts). Without a click the page costs the step penalty.
   */
  respondSlate(u: SimUser, items: readonly SimItem[], budget: number, r: Rng): SlateOutcome {
    const rc = this.cfg.recsim;
    const outcomes: Outcome[] = items.map(() => SKIP);
    const chosen = chooseMnl(
      items.map((it) => u.aff[it.cat]),
      rc.noClickMass,
      r.next(),
    );
    if (chosen < 0)
      return {
        outcomes,
        chosen,
        budget: nextBudget(budget, null, 0, rc),
        elapsedMs: rc.stepPenaltyMs,
        utility: 0,
      };
    const it = items[chosen];
    const utility = utilityOf(it.quality);
    const watchMs = Math.round(
      Math.max(0, Math.min(budget, completionOf(utility, r.normal(), rc) * it.durationMs)),
    );
    const completion = watchMs / it.durationMs;
    const shared = r.next() < (rc.shareRate * completion * (1 + utility)) / 2;
    evolveInterests(u.lin!, u.aff, it.cat, utility, rc);
    outcomes[chosen] = {
      click: true,
      completion,
      dwellMs: Math.round(watchMs),
      shared,
      engaged: completion >= this.cfg.engagedCompletion,
      discovered: false,
    };
    return {
      outcomes,
      chosen,
      budget: nextBudget(budget, watchMs, utility, rc),
      elapsedMs: watchMs,
      utility,
    };
  }

  /** Time budget of a new session (ms); Infinity in worlds whose sessions end by probability. */
  sessionBudget(u: SimUser, r: Rng): number {
    if (this.topicQuality) return this.cfg.recsim.sessionBudgetMs;
    const b = this.cfg.sessionBudgetMs;
    return b === null ? Infinity : b * (0.5 + u.activity) * (0.5 + r.next());
  }

  /** Budget left after an impression that took `elapsedMs`: a click gives back time for good content. */
  spend(budget: number, it: SimItem, o: Outcome, elapsedMs: number): number {
    if (budget === Infinity) return budget;
    const bonus = o.click ? this.cfg.timeBonus * (it.quality - 0.5) * it.durationMs : 0;
    return budget - elapsedMs + bonus;
  }

  /** Continue the session after an impression? */
  continueProb(u: SimUser, o: Outcome): number {
    const { cfg } = this;
    return clamp(
      cfg.continueBase + (o.engaged ? cfg.continueEngagedBonus : 0) - cfg.continueFatiguePenalty * u.fatigue,
      0.3,
      0.98,
    );
  }

  /** End of a user's day: fatigue rests overnight, satisfaction moves toward the day's value. */
  endDay(u: SimUser, dayStat: DayStat | undefined): number | null {
    const { cfg } = this;
    u.fatigue *= cfg.fatigueOvernight;
    u.lastCat = u.prevCat = -1;
    if (!dayStat || dayStat.imps === 0) {
      // Away: satisfaction drifts slowly back toward neutral.
      u.satisfaction += 0.1 * (0.5 - u.satisfaction);
      return null;
    }
    // recsim: satisfied by what the day's watching was worth (watch-weighted utility).
    const daySat = this.topicQuality
      ? clamp(
          0.5 + cfg.recsim.satSlope * (dayStat.watchMs > 0 ? dayStat.utilityWatch / dayStat.watchMs : -1),
          0,
          1,
        )
      : clamp(
          cfg.satBase +
            cfg.satEngaged * (dayStat.engaged / dayStat.imps) +
            cfg.satDiscovery * dayStat.discoveries -
            cfg.satFatigue * (dayStat.fatigueSum / dayStat.imps),
          0,
          1,
        );
    u.satisfaction = 0.5 * u.satisfaction + 0.5 * daySat;
    return daySat;
  }

  /** End of a day for creators: small creators whose recent content stayed unseen may leave. */
  creatorsEndDay(day: number, exposure: (itemIdx: number) => number): void {
    const { cfg } = this;
    const dayEnd = cfg.startMs + (day + 1) * DAY_MS;
    for (const cr of this.creators) {
      if (!cr.active || cr.big) continue;
      const recent = cr.items
        .map((i) => this.items[i])
        .filter(
          (it) =>
            !it.initial && dayEnd - it.publishedAt >= DAY_MS && dayEnd - it.publishedAt < cfg.newContentAgeMs,
        );
      if (recent.length === 0) continue;
      if (recent.every((it) => exposure(it.idx) < cfg.creatorUnseenImpressions)) {
        const r = keyedRng(cfg.seed, `leave:${cr.id}:${day}`);
        if (r.next() < cfg.creatorLeaveProb) {
          cr.active = false;
          cr.leftAt = dayEnd;
        }
      }
    }
  }
}
