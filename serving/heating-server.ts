// Ranker-side serving helper (SPEC §1): answers "which heated item, if any, for this user now?"
// from the active heating allocations and the user's mind state, so a platform does not write
// that glue itself. Pure in-memory logic: no I/O, no clock, no randomness of its own — the caller
// passes the time and a uniform draw, so the same calls give the same answers (docs/SERVING.md).
//
// One decision, in this order:
//   1. explore gate: heat is shown with the user's explore_probability (0 while the user is in
//      exploration protection, 坑5, and lowered for users who keep skipping heated items);
//   2. per-user frequency cap: at most max(perUserCap, perUserShare × the user's heated-slot
//      requests) heated impressions per capWindowMs, so a heavy user's session is not starved and a
//      light user is not flooded;
//   3. eligible allocations: valid now, impressions left for this instance, delivery paced over the
//      validity (never more than paceAhead ahead of an even schedule; trials are not paced), target categories
//      intersecting the user's categories (an empty target matches everyone), curiosity ≥
//      target.min_curiosity, content not excluded by the caller (seen, already on the page);
//   4. the best match: an allocation in one of the user's own categories before one that only
//      matches an adjacent category, then trials (HeatingAllocation.trial) before other heat, the
//      trial with the most impressions served first, other heat furthest behind its delivery
//      schedule (as a share of its impressions), then id.
// A pick is counted as served (allocation and user) when it is returned; cancel() returns a pick the
// user never reached.
import type { HeatingAllocation, UserMindState } from '../schemas/types.js';

export interface ServingConfig {
  /** Heated impressions a user may get per capWindowMs, whatever their number of requests. */
  perUserCap: number;
  /** ... or this share of the user's requests (pick calls) in the window, when that is more. */
  perUserShare: number;
  capWindowMs: number;
  /** An allocation may run this share of its impressions ahead of an even delivery over its validity. */
  paceAhead: number;
  /** Explore probability of a user without a mind state (unknown users: exploration protection applies). */
  defaultExploreProbability: number;
  /**
   * This instance's share of the platform's requests (1 when one server sees all traffic). With N
   * ranker instances each serving 1/N of the traffic, each delivers ceil(impressions × share) per
   * allocation, so together they deliver what was granted.
   */
  trafficShare: number;
}

export const DEFAULT_SERVING_CONFIG: Readonly<ServingConfig> = Object.freeze({
  perUserCap: 4,
  perUserShare: 0.5,
  capWindowMs: 3_600_000,
  paceAhead: 0.5,
  defaultExploreProbability: 0,
  trafficShare: 1,
});

/** One request for a heated slot. */
export interface HeatRequest {
  userId: string;
  /** Event time of the request (ms). */
  now: number;
  /** The user's categories of interest, strongest first (for example the top clicked categories). */
  categories: readonly string[];
  /** The user's mind state (Redis / user-mind-state), if known. */
  mind?: UserMindState;
  /** A uniform draw in [0,1) from the caller's RNG: the explore decision. */
  draw: number;
  /** True for content the user must not get (already seen, already on the page). */
  exclude?: (contentId: string) => boolean;
}

export interface HeatPick {
  allocation: HeatingAllocation;
  contentId: string;
  allocationId: string;
  /** Price of this impression in traffic coins (allocation cost / impressions). */
  cost: number;
}

/** A user's recent load: times of heated impressions in the window, requests in two fixed buckets. */
interface UserLoad {
  heated: number[];
  bucket: number;
  requests: number;
  previous: number;
}

interface Entry {
  a: HeatingAllocation;
  /** Impressions this instance may deliver. */
  quota: number;
  served: number;
}

/**
 * Sort key of an eligible entry, smaller first: own category, then trials before other heat
 * (a trial is a new item's first impressions and its first day is the deadline), the trial
 * served most first (finish what was started: a trial short of its size tells nothing), other
 * heat furthest behind its schedule as a share of its impressions (so small allocations are not
 * starved by big ones).
 */
function rankOf(e: Entry, own: boolean, trial: boolean, due: number): [number, number, number] {
  return [own ? 0 : 1, trial ? 0 : 1, trial ? -e.served : -(due - e.served) / e.quota];
}

/** Sort key a before sort key b (lexicographic), ties broken by allocation id. */
function before(a: readonly number[], b: readonly number[], idA: string, idB: string): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return idA < idB;
}

export class HeatingServer {
  readonly cfg: ServingConfig;
  private readonly byId = new Map<string, Entry>();
  /** Target category → entries; entries with an empty target are in `anyCategory`. */
  private readonly byCategory = new Map<string, Set<Entry>>();
  private readonly anyCategory = new Set<Entry>();
  /** User → recent heated impressions and requests. */
  private readonly recent = new Map<string, UserLoad>();
  private lastPrune = -Infinity;

  constructor(cfg: Partial<ServingConfig> = {}) {
    this.cfg = { ...DEFAULT_SERVING_CONFIG, ...cfg };
    if (!(this.cfg.trafficShare > 0 && this.cfg.trafficShare <= 1))
      throw new RangeError('trafficShare must be in (0, 1]');
  }

  /** Adds allocations from the heating-allocations stream (a replayed id replaces its entry, keeping what was served). */
  ingest(allocations: Iterable<HeatingAllocation>): void {
    for (const a of allocations) {
      if (!(a.impressions > 0)) continue;
      const old = this.byId.get(a.allocation_id);
      if (old) this.remove(old);
      const e: Entry = {
        a,
        quota: Math.ceil(a.impressions * this.cfg.trafficShare),
        served: old?.served ?? 0,
      };
      this.byId.set(a.allocation_id, e);
      if (a.target.categories.length === 0) this.anyCategory.add(e);
      for (const c of a.target.categories) {
        let set = this.byCategory.get(c);
        if (!set) this.byCategory.set(c, (set = new Set()));
        set.add(e);
      }
    }
  }

  /** Active allocations (valid at `now` with impressions left for this instance). */
  activeCount(now: number): number {
    let n = 0;
    for (const e of this.byId.values()) if (this.live(e, now)) n++;
    return n;
  }

  /** Heated impressions this instance served for an allocation. */
  served(allocationId: string): number {
    return this.byId.get(allocationId)?.served ?? 0;
  }

  /** The heated item for this user now, or null; a pick counts as served. */
  pick(req: HeatRequest): HeatPick | null {
    const { now, mind } = req;
    this.prune(now);
    const load = this.countRequest(req.userId, now);
    const p = mind ? mind.explore_probability : this.cfg.defaultExploreProbability;
    if (!(req.draw < p)) return null;
    const since = now - this.cfg.capWindowMs;
    load.heated = load.heated.filter((t) => t > since);
    if (load.heated.length >= this.allowance(load, now)) return null;
    const curiosity = mind ? mind.curiosity : 0;

    let best: Entry | null = null;
    let bestKey: readonly number[] = [];
    const consider = (e: Entry, own: boolean): void => {
      if (!this.live(e, now) || curiosity < e.a.target.min_curiosity) return;
      const trial = e.a.trial === true;
      // Trials are not paced: they are small, and delivered as fast as their audience allows.
      const span = Math.max(1, e.a.valid_until - e.a.valid_from);
      const due = trial ? e.quota : e.quota * Math.min(1, (now - e.a.valid_from) / span + this.cfg.paceAhead);
      if (e.served >= due) return;
      if (req.exclude?.(e.a.content_id)) return;
      const key = rankOf(e, own, trial, due);
      if (best === null || before(key, bestKey, e.a.allocation_id, best.a.allocation_id)) {
        best = e;
        bestKey = key;
      }
    };
    const seen = new Set<Entry>();
    for (const c of req.categories)
      for (const e of this.byCategory.get(c) ?? []) {
        if (seen.has(e)) continue;
        seen.add(e);
        consider(e, req.categories.includes(e.a.category));
      }
    for (const e of this.anyCategory) consider(e, req.categories.includes(e.a.category));
    if (best === null) return null;
    const chosen: Entry = best;
    chosen.served++;
    load.heated.push(now);
    return {
      allocation: chosen.a,
      contentId: chosen.a.content_id,
      allocationId: chosen.a.allocation_id,
      cost: chosen.a.cost / chosen.a.impressions,
    };
  }

  /**
   * A pick that was not shown after all (the user left before reaching its slot): the impression
   * goes back to the allocation and off the user's frequency count.
   */
  cancel(pick: HeatPick, userId: string): void {
    const e = this.byId.get(pick.allocationId);
    if (e && e.served > 0) e.served--;
    this.recent.get(userId)?.heated.pop();
  }

  /** Counts a request of the user (every pick call) and returns the user's load. */
  private countRequest(userId: string, now: number): UserLoad {
    const bucket = Math.floor(now / this.cfg.capWindowMs);
    let load = this.recent.get(userId);
    if (!load) this.recent.set(userId, (load = { heated: [], bucket, requests: 0, previous: 0 }));
    if (bucket !== load.bucket) {
      load.previous = bucket === load.bucket + 1 ? load.requests : 0;
      load.requests = 0;
      load.bucket = bucket;
    }
    load.requests++;
    return load;
  }

  /** Heated impressions the user may have in the window: perUserCap, or perUserShare of their requests over the last window. */
  private allowance(load: UserLoad, now: number): number {
    const w = this.cfg.capWindowMs;
    const intoBucket = (now - load.bucket * w) / w;
    const requests = load.requests + load.previous * Math.max(0, 1 - intoBucket);
    return Math.max(this.cfg.perUserCap, Math.floor(this.cfg.perUserShare * requests));
  }

  private live(e: Entry, now: number): boolean {
    return e.served < e.quota && e.a.valid_from <= now && now < e.a.valid_until;
  }

  private remove(e: Entry): void {
    this.byId.delete(e.a.allocation_id);
    this.anyCategory.delete(e);
    for (const c of e.a.target.categories) this.byCategory.get(c)?.delete(e);
  }

  /** Drops expired allocations and users without recent heat (bounded memory); at most once per minute of event time. */
  private prune(now: number): void {
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    // Exhausted allocations stay until they expire: ingesting them again (a replay, or the whole
    // active view re-synced) must not reset what was served.
    for (const e of [...this.byId.values()]) if (e.a.valid_until <= now) this.remove(e);
    const since = now - this.cfg.capWindowMs;
    const bucket = Math.floor(now / this.cfg.capWindowMs);
    for (const [u, load] of this.recent)
      if (load.bucket < bucket - 1 && !(load.heated[load.heated.length - 1] > since)) this.recent.delete(u);
  }
}
