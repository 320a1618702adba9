// The event-time loop shared by full-population runs (sim/run.ts) and A/B runs (sim/ab.ts).
// One World; one or more arms, each with its own policy, ranker (own allocation book and user
// profiles, shared feature-store counters) and recorder; users routed to arms by `armOf`.
import { hash64Hex } from '../core/hash.js';
import type { Rng } from '../core/rng.js';
import type { ContentPublished, UserInteraction } from '../schemas/types.js';
import { DAY_MS, type WorldConfig } from './config.js';
import { Recorder, type RunResult } from './metrics.js';
import type { RegulationPolicy } from './policy.js';
import { ContentStats, Ranker, type RankerConfig, type RankerCatalog } from './ranker.js';
import {
  World,
  diurnalOffset,
  keyedRng,
  newDayStat,
  poisson,
  type DayStat,
  type Outcome,
  type SimItem,
  type SimUser,
} from './world.js';

export interface Arm {
  name: string;
  policy: RegulationPolicy;
  ranker: Ranker;
  rec: Recorder;
  /** Interactions not yet delivered (event time ≥ current tick end). */
  pending: UserInteraction[];
}

export interface EngineOptions {
  ranker?: Partial<RankerConfig>;
  /** Called after every tick with (ticks done, total ticks). */
  onTick?: (done: number, total: number) => void;
}

interface Session {
  t: number;
  user: number;
  day: number;
  no: number;
  slot: number;
  rng: Rng;
  /** Time budget left (ms; Infinity without time budgets). */
  budget: number;
}

/** Binary min-heap of sessions by next page time (ties: user, then session number). */
class SessionHeap {
  private h: Session[] = [];
  get size(): number {
    return this.h.length;
  }
  peek(): Session | undefined {
    return this.h[0];
  }
  private less(a: Session, b: Session): boolean {
    return a.t < b.t || (a.t === b.t && (a.user < b.user || (a.user === b.user && a.no < b.no)));
  }
  push(s: Session): void {
    const h = this.h;
    h.push(s);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }
  pop(): Session | undefined {
    const h = this.h;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

export function catalogOf(world: World): RankerCatalog {
  return {
    items: world.items,
    itemIndex: world.itemIndex,
    catIndex: world.catIndex,
    adj: world.adj,
    categories: world.categories,
    creatorFollowers: (it: SimItem) => world.creators[it.creator].followers,
    publishedScore: (it: SimItem) => world.publishedScore(it),
  };
}

/** Cold-start window: the new-content age, or one day when the run is too short for it. */
export function coldStartWindow(cfg: WorldConfig): number {
  return cfg.days * DAY_MS > cfg.newContentAgeMs ? cfg.newContentAgeMs : DAY_MS;
}

export function makeArm(
  world: World,
  stats: ContentStats,
  policy: RegulationPolicy,
  name: string,
  rankerCfg?: Partial<RankerConfig>,
): Arm {
  // The world's page layout (slate size, heated slots) unless the run sets its own.
  const page = { pageSize: world.cfg.pageSize, heatedSlots: world.cfg.heatedSlots, ...rankerCfg };
  const cfg = policy.serving ? { ...page, serving: { ...page.serving, ...policy.serving } } : page;
  const ranker = new Ranker(catalogOf(world), stats, policy, cfg, policy.slotHeater ?? null);
  // Pre-existing users have a click history in their strong interests.
  for (const u of world.users)
    if (u.registeredAt < world.cfg.startMs)
      ranker.seedProfile(
        u.idx,
        u.strong.map((c) => [c, 10 * u.aff[c]]),
      );
  return { name, policy, ranker, rec: new Recorder(world.cfg, coldStartWindow(world.cfg)), pending: [] };
}

function interaction(
  id: string,
  userId: string,
  it: SimItem,
  world: World,
  t: number,
  o: { click: boolean; dwellMs: number; completion: number; shared: boolean },
  heated: boolean,
  allocationId: string | null,
  registeredAt: number | null,
): UserInteraction {
  return {
    event_id: id,
    user_id: userId,
    content_id: it.id,
    category: world.categories[it.cat],
    event_time: t,
    click: o.click,
    dwell_ms: o.dwellMs,
    completion: o.completion,
    shared: o.shared,
    is_new_content: world.isNew(it, t),
    heated,
    allocation_id: allocationId,
    user_registered_at: registeredAt,
  };
}

/** Runs the world for cfg.days with the given arms; returns one RunResult per arm. */
export async function simulate(
  world: World,
  arms: Arm[],
  armOf: (userId: string) => number,
  opts: EngineOptions = {},
): Promise<RunResult[]> {
  const cfg = world.cfg;
  const stats = arms[0].ranker.stats;
  const ticksPerDay = Math.round(DAY_MS / cfg.tickMs);
  const totalTicks = cfg.days * ticksPerDay;
  const heap = new SessionHeap();
  const userArm = world.users.map((u) => armOf(u.id));
  const botArm = world.bots.map((b) => armOf(b));
  let dayStats = new Map<number, DayStat>();
  let ticksDone = 0;

  // The pre-existing catalog is published before the run starts.
  const initial = world.items.map((it) => world.published(it));
  for (const a of arms) await a.policy.onPublished(initial);

  const emit = (armIdx: number, rec: UserInteraction, itemIdx: number, userIdx: number): void => {
    arms[armIdx].pending.push(rec);
    arms[armIdx].ranker.log(userIdx, itemIdx, rec.click);
  };

  const servePage = (s: Session): void => {
    const u = world.users[s.user];
    const armIdx = userArm[s.user];
    const arm = arms[armIdx];
    const ds = dayStats.get(s.user) ?? newDayStat();
    dayStats.set(s.user, ds);
    let t = s.t;
    // Colluders first open their group's items directly (no ranker, no engagement).
    if (u.group >= 0 && s.no === 0 && s.slot === 0) {
      for (const i of world.groups[u.group].items) {
        const it = world.items[i];
        if (it.publishedAt > t) continue;
        const rec = interaction(
          `ev-${hash64Hex(`${u.id}:${s.day}:c:${it.id}`)}`,
          u.id,
          it,
          world,
          t,
          {
            click: true,
            dwellMs: 1500 + s.rng.int(1500),
            completion: 0.02 + 0.05 * s.rng.next(),
            shared: false,
          },
          false,
          null,
          u.registeredAt,
        );
        emit(armIdx, rec, i, s.user);
        t += 2000 + s.rng.int(2000);
      }
    }
    const page = arm.ranker.rankPage(s.user, u.id, t, s.rng);
    let goOn = page.length > 0;
    let viewed = 0;
    /** Logs one impression of the page at time `at`. */
    const log = (slot: (typeof page)[number], it: SimItem, o: Outcome, at: number): void => {
      const rec = interaction(
        `ev-${hash64Hex(`${u.id}:${s.day}:${s.no}:${s.slot}`)}`,
        u.id,
        it,
        world,
        at,
        o,
        slot.heated,
        slot.allocationId,
        u.registeredAt,
      );
      emit(armIdx, rec, slot.item, s.user);
      arm.rec.served(u, it, at, o, slot.heated, slot.cost, world.isNew(it, at));
      ds.imps++;
      ds.fatigueSum += u.fatigue;
      if (o.engaged) ds.engaged++;
      if (o.discovered) ds.discoveries++;
      s.slot++;
    };
    if (world.topicQuality && goOn) {
      // recsim: the page is RecSim's slate, one choice for all of it (impressions 1 ms apart).
      const items = page.map((sl) => world.items[sl.item]);
      const r = world.respondSlate(u, items, s.budget, s.rng);
      page.forEach((slot, j) => log(slot, items[j], r.outcomes[j], t + j));
      if (r.chosen >= 0) {
        ds.watchMs += r.outcomes[r.chosen].dwellMs;
        ds.utilityWatch += r.utility * r.outcomes[r.chosen].dwellMs;
      }
      t += page.length + r.elapsedMs;
      s.budget = r.budget;
      if (s.budget > 0 && s.slot < cfg.maxImpressionsPerSession) {
        s.t = t;
        heap.push(s);
      }
      return;
    }
    for (const slot of page) {
      viewed++;
      const it = world.items[slot.item];
      const o = world.respond(u, it, s.rng);
      log(slot, it, o, t);
      const elapsed = o.dwellMs + 1000 + s.rng.int(2000);
      t += elapsed;
      s.budget = world.spend(s.budget, it, o, elapsed);
      const ends = s.budget === Infinity ? s.rng.next() >= world.continueProb(u, o) : s.budget <= 0;
      if (s.slot >= cfg.maxImpressionsPerSession || ends) {
        goOn = false;
        break;
      }
    }
    arm.ranker.unshown(u.id, page.slice(viewed));
    if (goOn) {
      s.t = t;
      heap.push(s);
    }
  };

  const botItems = (): SimItem[] => world.items.filter((it) => it.cheat === 'bot');

  for (let day = 0; day < cfg.days; day++) {
    const dayStart = cfg.startMs + day * DAY_MS;
    const dayEnd = dayStart + DAY_MS;
    world.scheduleDay(day);
    // Plan the day's sessions: active with p(activity, satisfaction), 1..max sessions.
    for (const u of world.users) {
      if (u.registeredAt >= dayEnd) continue;
      const r = keyedRng(cfg.seed, `day:${u.id}:${day}`);
      const isFirstDay = u.registeredAt >= dayStart;
      if (!isFirstDay && r.next() >= world.activeProb(u)) continue;
      const n = 1 + r.int(Math.max(1, Math.round(cfg.maxSessionsPerDay * u.activity)));
      const starts: number[] = [];
      for (let k = 0; k < n; k++) {
        let at = dayStart + diurnalOffset(r);
        if (at < u.registeredAt) at = u.registeredAt + r.int(Math.max(1, dayEnd - u.registeredAt));
        starts.push(at);
      }
      starts.sort((a, b) => a - b);
      starts.forEach((at, no) => {
        const rng = keyedRng(cfg.seed, `session:${u.id}:${day}:${no}`);
        heap.push({ t: at, user: u.idx, day, no, slot: 0, rng, budget: world.sessionBudget(u, rng) });
      });
    }
    const bots = botItems();
    for (let k = 0; k < ticksPerDay; k++) {
      const tStart = dayStart + k * cfg.tickMs;
      const tEnd = tStart + cfg.tickMs;
      for (const a of arms) {
        await a.policy.advanceTo(tStart);
        a.ranker.ingest(await a.policy.newAllocations());
      }
      // Content published during the tick enters the catalog now (the ranker shows it only once
      // t ≥ published_at); the policy receives it at the end of the tick, merged by event time.
      const released = world.release(tEnd);
      const pubs: ContentPublished[] = released.map((it) => world.published(it));
      for (const it of released) if (it.cheat === 'bot') bots.push(it);
      stats.ensure(world.items);
      for (const a of arms) a.ranker.refresh(tStart);
      while (heap.size && heap.peek()!.t < tEnd) servePage(heap.pop()!);
      // Bots buy clicks for cheating content: impressions with a click and no completion.
      const br = keyedRng(cfg.seed, `bots:${day}:${k}`);
      for (const it of bots) {
        if (it.publishedAt >= tEnd) continue;
        const n = poisson(br, cfg.botClicksPerDay / ticksPerDay);
        for (let j = 0; j < n; j++) {
          const b = br.int(world.bots.length);
          const t = Math.max(tStart, it.publishedAt) + br.int(cfg.tickMs);
          const rec = interaction(
            `ev-${hash64Hex(`${world.bots[b]}:${it.id}:${day}:${k}:${j}`)}`,
            world.bots[b],
            it,
            world,
            Math.min(t, tEnd - 1),
            { click: true, dwellMs: 1000 + br.int(2000), completion: 0.01 + 0.05 * br.next(), shared: false },
            false,
            null,
            cfg.startMs - DAY_MS,
          );
          arms[botArm[b]].pending.push(rec);
          stats.log(it.idx, true);
        }
      }
      // Deliver the tick's publications and interactions merged in event-time order (a publication
      // goes before interactions at the same time); interactions at ≥ tEnd wait for the next tick.
      for (const a of arms) {
        a.pending.sort(
          (x, y) =>
            x.event_time - y.event_time || (x.event_id < y.event_id ? -1 : x.event_id > y.event_id ? 1 : 0),
        );
        let n = 0;
        while (n < a.pending.length && a.pending[n].event_time < tEnd) n++;
        const out = a.pending.splice(0, n);
        let j = 0;
        let seg: UserInteraction[] = [];
        for (const rec of out) {
          if (j < pubs.length && pubs[j].published_at <= rec.event_time) {
            if (seg.length) await a.policy.onInteractions(seg);
            seg = [];
            const ps: ContentPublished[] = [];
            while (j < pubs.length && pubs[j].published_at <= rec.event_time) ps.push(pubs[j++]);
            await a.policy.onPublished(ps);
          }
          seg.push(rec);
        }
        if (seg.length) await a.policy.onInteractions(seg);
        if (j < pubs.length) await a.policy.onPublished(pubs.slice(j));
      }
      opts.onTick?.(++ticksDone, totalTicks);
    }
    // Sessions still running at midnight end there (the heap is emptied).
    while (heap.size) heap.pop();
    for (const u of world.users) {
      const sat = world.endDay(u, dayStats.get(u.idx));
      if (sat !== null) arms[userArm[u.idx]].rec.daySatisfaction(u.idx, sat);
    }
    dayStats = new Map();
    world.creatorsEndDay(day, (i) => arms.reduce((s, a) => s + (a.rec.exposure[i] ?? 0), 0));
  }
  // Flush what is left so the policy saw every interaction of the run. Impressions of a page that
  // ran past the end are outside it: no event time ever releases them downstream (the real job
  // would hold them, uncommitted, waiting for a watermark that never comes).
  const end = cfg.startMs + cfg.days * DAY_MS;
  for (const a of arms) {
    const rest = a.pending.splice(0).filter((r) => r.event_time < end);
    if (rest.length) await a.policy.onInteractions(rest);
    await a.policy.advanceTo(end);
  }
  const creatorsLeft = world.creators.filter((c) => !c.active).length;
  const results: RunResult[] = [];
  for (const a of arms) {
    const flagged = await a.policy.flaggedContent();
    const res = a.rec.finalize(
      world.users as SimUser[],
      world.items,
      world.cheaters,
      flagged,
      creatorsLeft,
      world.creators.length,
    );
    const curve = a.policy.learningCurve?.();
    if (curve) res.learning = curve;
    results.push(res);
  }
  return results;
}
