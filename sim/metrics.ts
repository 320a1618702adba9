// Metrics of a simulated run. Pure functions on plain arrays first (tested on hand-made inputs),
// then the Recorder that the engine feeds one served impression at a time. Definitions are in
// docs/SIMULATOR.md §Metrics; keep the two in step.
import { DAY_MS, type WorldConfig } from './config.js';
import type { SimItem, SimUser } from './world.js';

/** Gini coefficient of non-negative values (0 = all equal, → 1 = one holds everything). 0 for an
 * empty or all-zero input. */
export function gini(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return 0;
  const v = Float64Array.from(values).sort();
  let sum = 0;
  let weighted = 0;
  for (let i = 0; i < n; i++) {
    sum += v[i];
    weighted += (i + 1) * v[i];
  }
  if (sum === 0) return 0;
  return (2 * weighted) / (n * sum) - (n + 1) / n;
}

/** Share of the total held by the k largest values (0 when the total is 0). */
export function topKShare(values: ArrayLike<number>, k: number): number {
  const v = Float64Array.from(values).sort().reverse();
  let total = 0;
  let top = 0;
  for (let i = 0; i < v.length; i++) {
    total += v[i];
    if (i < k) top += v[i];
  }
  return total === 0 ? 0 : top / total;
}

/** Lorenz curve: `points`+1 pairs [population share, exposure share], poorest first. */
export function lorenz(values: ArrayLike<number>, points = 100): [number, number][] {
  const v = Float64Array.from(values).sort();
  const n = v.length;
  const cum = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) cum[i + 1] = cum[i] + v[i];
  const total = cum[n];
  const out: [number, number][] = [];
  for (let k = 0; k <= points; k++) {
    const x = k / points;
    const idx = Math.round(x * n);
    out.push([x, total === 0 ? x : cum[idx] / total]);
  }
  return out;
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Median (mean of the middle two for an even count; 0 when empty). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Population standard deviation (0 for fewer than 2 values). */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) * (b - m), 0) / xs.length);
}

/** Precision and recall of a flagged set against the ground truth (0 when undefined). */
export function precisionRecall(
  flagged: ReadonlySet<string>,
  truth: ReadonlySet<string>,
): { precision: number; recall: number } {
  let tp = 0;
  for (const f of flagged) if (truth.has(f)) tp++;
  return {
    precision: flagged.size === 0 ? 0 : tp / flagged.size,
    recall: truth.size === 0 ? 0 : tp / truth.size,
  };
}

/** Max over rolling windows of `w` consecutive buckets of Σheated/Σall, ignoring windows with fewer
 * than minAll impressions. */
export function maxRollingShare(
  heated: readonly number[],
  all: readonly number[],
  w: number,
  minAll: number,
): number {
  let h = 0;
  let a = 0;
  let best = 0;
  for (let i = 0; i < all.length; i++) {
    h += heated[i];
    a += all[i];
    if (i >= w) {
      h -= heated[i - w];
      a -= all[i - w];
    }
    if (a >= minAll && a > 0) best = Math.max(best, h / a);
  }
  return best;
}

/** Scalar metrics of one policy (one arm). All are plain numbers for the JSON output. */
export interface Metrics {
  new_content_ctr: number;
  interest_diversity: number;
  cold_start_success: number;
  top100_share: number;
  exposure_gini: number;
  retention: number;
  heating_cost: number;
  heated_impressions: number;
  engagement: number;
  watch_minutes_per_active_user: number;
  satisfaction_std: number;
  cheat_precision: number;
  cheat_recall: number;
  heated_share: number;
  heated_share_max: number;
  /** Clicks / impressions over heated impressions. */
  heated_ctr: number;
  ctr: number;
  impressions: number;
  active_user_days: number;
  new_content_impression_share: number;
  /** Share of real-user impressions that went to ground-truth cheating content. */
  cheat_impression_share: number;
  creators_left: number;
  /** Share of creators still publishing at the end of the run. */
  creator_retention: number;
  /** 坑7: share of new honest items with ≥ trialImpressions impressions within a day of publication. */
  trial_share: number;
  /** cold_start_success among new items whose true quality is above the median of those items. */
  cold_start_success_top: number;
  /** Distinct items that got at least one heated impression. */
  heated_items: number;
  /** Σ dwell minutes / (users × days). */
  watch_minutes_per_user_day: number;
}

export interface Series {
  days: number[];
  new_content_ctr: number[];
  interest_diversity: number[];
  impressions: number[];
  heated_share: number[];
  retention: number[];
}

export interface RunResult {
  metrics: Metrics;
  series: Series;
  lorenz: [number, number][];
  /** Learning curves of a learned policy (per day), absent otherwise. */
  learning?: LearnedDayPoint[];
}

/** One day of the user explore learner (thermostat-learned with explore: 'ppo'). */
export interface ExploreLearningPoint {
  /** Explore decisions made that day (one per user per user-stage micro-batch that changed it). */
  decisions: number;
  /** Mean emitted explore probability sigmoid(u). */
  meanProbability: number;
  /** Mean reward of the decisions that closed with an outcome that day, and how many. */
  reward: number;
  rewarded: number;
  /** σ of the Gaussian over the logit at the end of the day, and its entropy (nats). */
  std: number;
  entropy: number;
  updates: number;
  modelVersion: string;
}

/** A learned policy's day: the allocation learner's point, plus the explore learner's when it trains. */
export type LearnedDayPoint = import('./policy.js').LearningPoint & {
  explore?: ExploreLearningPoint;
  /** The online learner's guard that day: live versions rolled back, candidates refused. */
  rollbacks?: number;
  rejected?: number;
};

/** Per-user accumulators (also what the A/B bootstrap resamples). */
export interface UserAcc {
  imps: number;
  clicks: number;
  newImps: number;
  newClicks: number;
  dwellMs: number;
  heated: number;
  heatedClicks: number;
  engagedCats: Set<number>;
  activeDays: Set<number>;
  daySats: number[];
  /** Served item indices, in order (for resampled exposure metrics). */
  items: number[];
}

export class Recorder {
  readonly users = new Map<number, UserAcc>();
  exposure: number[] = [];
  /** Impressions / engaged views within the cold-start window of each item. */
  csImps: number[] = [];
  csEngaged: number[] = [];
  /** Impressions within a day of publication (trial) and heated impressions, per item. */
  dayOneImps: number[] = [];
  heatedByItem: number[] = [];
  tickAll: number[] = [];
  tickHeated: number[] = [];
  dayNewImps: number[] = [];
  dayNewClicks: number[] = [];
  /** per day: per user the interest categories engaged that day. */
  dayEngaged: Map<number, Set<number>>[] = [];
  heatingCost = 0;

  constructor(
    readonly cfg: WorldConfig,
    readonly coldStartWindowMs: number,
  ) {
    const ticks = Math.ceil((cfg.days * DAY_MS) / cfg.tickMs);
    this.tickAll = new Array(ticks).fill(0);
    this.tickHeated = new Array(ticks).fill(0);
    this.dayNewImps = new Array(cfg.days).fill(0);
    this.dayNewClicks = new Array(cfg.days).fill(0);
    this.dayEngaged = Array.from({ length: cfg.days }, () => new Map());
  }

  user(idx: number): UserAcc {
    let u = this.users.get(idx);
    if (!u) {
      u = {
        imps: 0,
        clicks: 0,
        newImps: 0,
        newClicks: 0,
        dwellMs: 0,
        heated: 0,
        heatedClicks: 0,
        engagedCats: new Set(),
        activeDays: new Set(),
        daySats: [],
        items: [],
      };
      this.users.set(idx, u);
    }
    return u;
  }

  /** One impression served by the ranker to a real user. */
  served(
    user: SimUser,
    item: SimItem,
    t: number,
    o: { click: boolean; engaged: boolean; dwellMs: number },
    heated: boolean,
    cost: number,
    isNew: boolean,
  ): void {
    const { cfg } = this;
    const day = Math.floor((t - cfg.startMs) / DAY_MS);
    const tick = Math.floor((t - cfg.startMs) / cfg.tickMs);
    if (day < 0 || day >= cfg.days) return;
    const u = this.user(user.idx);
    u.imps++;
    u.items.push(item.idx);
    u.dwellMs += o.dwellMs;
    u.activeDays.add(day);
    if (o.click) u.clicks++;
    if (heated) {
      u.heated++;
      if (o.click) u.heatedClicks++;
      this.heatingCost += cost;
      this.tickHeated[tick]++;
    }
    this.tickAll[tick]++;
    while (this.exposure.length <= item.idx) {
      this.exposure.push(0);
      this.csImps.push(0);
      this.csEngaged.push(0);
      this.dayOneImps.push(0);
      this.heatedByItem.push(0);
    }
    this.exposure[item.idx]++;
    if (heated) this.heatedByItem[item.idx]++;
    if (!item.initial && t - item.publishedAt < DAY_MS) this.dayOneImps[item.idx]++;
    if (!item.initial && t - item.publishedAt < this.coldStartWindowMs) {
      this.csImps[item.idx]++;
      if (o.engaged) this.csEngaged[item.idx]++;
    }
    if (isNew) {
      u.newImps++;
      this.dayNewImps[day]++;
      if (o.click) {
        u.newClicks++;
        this.dayNewClicks[day]++;
      }
    }
    if (o.engaged && user.interests.has(item.cat)) {
      u.engagedCats.add(item.cat);
      let s = this.dayEngaged[day].get(user.idx);
      if (!s) this.dayEngaged[day].set(user.idx, (s = new Set()));
      s.add(item.cat);
    }
  }

  /** The world's satisfaction of a user for a day they were active. */
  daySatisfaction(userIdx: number, sat: number): void {
    this.user(userIdx).daySats.push(sat);
  }

  finalize(
    users: readonly SimUser[],
    items: readonly SimItem[],
    cheaters: ReadonlySet<string>,
    flagged: ReadonlySet<string>,
    creatorsLeft: number,
    creators: number,
  ): RunResult {
    const { cfg } = this;
    const endMs = cfg.startMs + cfg.days * DAY_MS;
    let imps = 0,
      clicks = 0,
      newImps = 0,
      newClicks = 0,
      dwell = 0,
      heated = 0,
      heatedClicks = 0,
      activeUserDays = 0;
    const div: number[] = [];
    const satStd: number[] = [];
    let retNum = 0,
      retDen = 0;
    const dayRetNum = new Array(cfg.days).fill(0);
    const dayRetDen = new Array(cfg.days).fill(0);
    for (const [idx, u] of this.users) {
      imps += u.imps;
      clicks += u.clicks;
      newImps += u.newImps;
      newClicks += u.newClicks;
      dwell += u.dwellMs;
      heated += u.heated;
      heatedClicks += u.heatedClicks;
      activeUserDays += u.activeDays.size;
      const interests = users[idx].interests;
      div.push(u.engagedCats.size / interests.size);
      if (u.daySats.length >= 2) satStd.push(std(u.daySats));
      for (const d of u.activeDays) {
        if (d + 1 >= cfg.days) continue;
        retDen++;
        dayRetDen[d]++;
        if (u.activeDays.has(d + 1)) {
          retNum++;
          dayRetNum[d]++;
        }
      }
    }
    let cheatImps = 0;
    for (const it of items) if (it.cheat) cheatImps += this.exposure[it.idx] ?? 0;
    // Exposure over every item that existed during the run (zeros included), real-user impressions.
    const exposure = items.filter((it) => it.publishedAt < endMs).map((it) => this.exposure[it.idx] ?? 0);
    // Cold start: non-cheating content published in the run with a full window before the end.
    const newHonest = (window: number): SimItem[] =>
      items.filter(
        (it) => !it.initial && !it.cheat && it.publishedAt >= cfg.startMs && it.publishedAt + window <= endMs,
      );
    const coldStarted = (it: SimItem): boolean =>
      (this.csImps[it.idx] ?? 0) >= cfg.coldStartImpressions &&
      (this.csEngaged[it.idx] ?? 0) >= cfg.coldStartEngaged;
    const csItems = newHonest(this.coldStartWindowMs);
    const csNum = csItems.filter(coldStarted).length;
    const csDen = csItems.length;
    const medianQ = median(csItems.map((it) => it.quality));
    const top = csItems.filter((it) => it.quality > medianQ);
    const trialItems = newHonest(DAY_MS);
    const trials = trialItems.filter((it) => (this.dayOneImps[it.idx] ?? 0) >= cfg.trialImpressions).length;
    const w = Math.max(1, Math.round(cfg.heatedShareWindowMs / cfg.tickMs));
    const pr = precisionRecall(flagged, cheaters);
    const days = Array.from({ length: cfg.days }, (_, d) => d);
    const metrics: Metrics = {
      new_content_ctr: newImps === 0 ? 0 : newClicks / newImps,
      interest_diversity: mean(div),
      cold_start_success: csDen === 0 ? 0 : csNum / csDen,
      top100_share: topKShare(exposure, cfg.topK),
      exposure_gini: gini(exposure),
      retention: retDen === 0 ? 0 : retNum / retDen,
      heating_cost: this.heatingCost,
      heated_impressions: heated,
      engagement: dwell / 60_000 / cfg.days,
      watch_minutes_per_active_user: activeUserDays === 0 ? 0 : dwell / 60_000 / activeUserDays,
      satisfaction_std: mean(satStd),
      cheat_precision: pr.precision,
      cheat_recall: pr.recall,
      heated_share: imps === 0 ? 0 : heated / imps,
      heated_share_max: maxRollingShare(this.tickHeated, this.tickAll, w, cfg.heatedShareMinImpressions),
      heated_ctr: heated === 0 ? 0 : heatedClicks / heated,
      ctr: imps === 0 ? 0 : clicks / imps,
      impressions: imps,
      active_user_days: activeUserDays,
      new_content_impression_share: imps === 0 ? 0 : newImps / imps,
      cheat_impression_share: imps === 0 ? 0 : cheatImps / imps,
      creators_left: creatorsLeft,
      creator_retention: creators === 0 ? 1 : 1 - creatorsLeft / creators,
      trial_share: trialItems.length === 0 ? 0 : trials / trialItems.length,
      cold_start_success_top: top.length === 0 ? 0 : top.filter(coldStarted).length / top.length,
      heated_items: this.heatedByItem.filter((h) => h > 0).length,
      watch_minutes_per_user_day: dwell / 60_000 / Math.max(1, cfg.users * cfg.days),
    };
    const ticksPerDay = Math.round(DAY_MS / cfg.tickMs);
    const series: Series = {
      days,
      new_content_ctr: days.map((d) =>
        this.dayNewImps[d] === 0 ? 0 : this.dayNewClicks[d] / this.dayNewImps[d],
      ),
      interest_diversity: days.map((d) => {
        const vals: number[] = [];
        for (const [idx, u] of this.users)
          if (u.activeDays.has(d))
            vals.push((this.dayEngaged[d].get(idx)?.size ?? 0) / users[idx].interests.size);
        return mean(vals);
      }),
      impressions: days.map((d) =>
        this.tickAll.slice(d * ticksPerDay, (d + 1) * ticksPerDay).reduce((a, b) => a + b, 0),
      ),
      heated_share: days.map((d) => {
        const a = this.tickAll.slice(d * ticksPerDay, (d + 1) * ticksPerDay).reduce((x, y) => x + y, 0);
        const h = this.tickHeated.slice(d * ticksPerDay, (d + 1) * ticksPerDay).reduce((x, y) => x + y, 0);
        return a === 0 ? 0 : h / a;
      }),
      retention: days.map((d) => (dayRetDen[d] === 0 ? 0 : dayRetNum[d] / dayRetDen[d])),
    };
    return { metrics, series, lorenz: lorenz(exposure, 50) };
  }
}
