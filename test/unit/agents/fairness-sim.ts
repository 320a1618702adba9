// A one-day heating scenario for 坑7 (not a test file itself): contents published through the day,
// most by small creators, run through the real content agent (requests, budgets) and system agent
// (trials, evidence, pool, cap). Reports the share of new content heated at least once and the
// share that had a trial (≥ 20 impressions, organic or heated, within a day of publication).
import { Rng } from '../../../core/rng.js';
import type { AgentConfig } from '../../../agents/config.js';
import {
  applyContentInteraction,
  applyPublished,
  contentTick,
  drainAllocationOutcomes,
  type ContentAgentState,
} from '../../../agents/content.js';
import { RuleScorer } from '../../../agents/rule-scorer.js';
import {
  allocateTick,
  newAllocatorState,
  recordDelivered,
  recordTickTotals,
} from '../../../agents/system.js';
import type { HeatingAllocation, UserInteraction } from '../../../schemas/types.js';

export interface FairnessReport {
  contents: number;
  heatedShare: number;
  smallHeatedShare: number;
  lowQualityHeatedShare: number;
  /** Share of contents with ≥ 20 impressions within a day of publication (all, small creators). */
  trialShare: number;
  smallTrialShare: number;
  allocations: number;
  ids: string[];
  maxProjectedShare: number;
  minPool: number;
}

export function runFairnessDay(cfg: AgentConfig, seed = 3, contents = 200): FairnessReport {
  const rng = new Rng(seed);
  const tickMs = 600_000;
  const day = 86_400_000;
  const t0 = 2000 * day;
  const cats = ['tech', 'food', 'travel', 'beauty', 'gaming', 'science'];
  const pubs = Array.from({ length: contents }, (_, i) => ({
    content_id: `c${String(i).padStart(4, '0')}`,
    creator_id: `cr${i}`,
    category: cats[rng.int(cats.length)],
    quality_score: Math.round(rng.next() * 100) / 100,
    published_at: t0 + Math.floor((i / contents) * 0.75 * day),
    creator_followers: rng.next() < 0.8 ? rng.int(10_000) : 10_000 + rng.int(1_000_000),
  }));
  const states = new Map<string, ContentAgentState>();
  const alloc = newAllocatorState(cfg);
  const active: HeatingAllocation[] = [];
  const heated = new Set<string>();
  const ids: string[] = [];
  const audience = {
    active: Object.fromEntries(cats.map((c) => [c, 1000])),
    curious: Object.fromEntries(cats.map((c, i) => [c, 100 + 100 * i])),
  };
  let seq = 0;
  let maxProjectedShare = 0;
  let minPool = Infinity;
  const ev = (
    c: ContentAgentState,
    t: number,
    click: boolean,
    engaged: boolean,
    allocationId: string | null,
  ): UserInteraction => ({
    event_id: `e${seq++}`,
    user_id: 'u',
    content_id: c.id,
    category: c.category,
    event_time: t,
    click,
    dwell_ms: 0,
    completion: engaged ? 0.9 : click ? 0.2 : 0,
    shared: false,
    is_new_content: true,
    heated: allocationId !== null,
    allocation_id: allocationId,
    user_registered_at: null,
  });
  const dayOne = new Map<string, number>();
  const countDayOne = (s: ContentAgentState, t: number): void => {
    if (s.publishedAt !== null && t - s.publishedAt < day) dayOne.set(s.id, (dayOne.get(s.id) ?? 0) + 1);
  };
  for (let T = t0 + tickMs; T <= t0 + 2 * day; T += tickMs) {
    let total = 50_000;
    let heatedImp = 0;
    for (const p of pubs)
      if (p.published_at < T && !states.has(p.content_id))
        states.set(p.content_id, applyPublished(undefined, p, cfg));
    // Organic traffic: big creators get more (the Matthew effect this regulates).
    for (const s of states.values()) {
      const n = (s.followers ?? 0) >= 10_000 ? 20 : 2;
      for (let k = 0; k < n; k++) {
        const click = rng.next() < 0.01 + 0.08 * s.quality;
        applyContentInteraction(
          s,
          ev(s, T - 1, click, click && rng.next() < 0.3 + 0.6 * s.quality, null),
          false,
          cfg,
        );
        countDayOne(s, T - 1);
      }
    }
    // Heated delivery: each active allocation delivers 1/6 of its grant per tick.
    for (const a of active.filter((x) => x.valid_until >= T)) {
      const s = states.get(a.content_id)!;
      const n = Math.floor(a.impressions / 6);
      for (let k = 0; k < n; k++) {
        applyContentInteraction(s, ev(s, T - 1, rng.next() < 0.05, false, a.allocation_id), false, cfg);
        countDayOne(s, T - 1);
      }
      heatedImp += n;
      total += 0;
    }
    const requests = [];
    for (const s of states.values()) {
      recordDelivered(alloc, drainAllocationOutcomes(s));
      const r = contentTick(s, T, seed, cfg).request;
      if (r) requests.push(r);
    }
    recordTickTotals(alloc, T, total, heatedImp);
    const res = allocateTick(
      alloc,
      { tick: T, tickMs, requests, audience, weights: cfg.system.defaultWeights, scorer: new RuleScorer() },
      cfg,
    );
    maxProjectedShare = Math.max(maxProjectedShare, res.metrics.projectedHeatedShare);
    minPool = Math.min(minPool, alloc.poolRemaining);
    for (const a of res.allocations) {
      active.push(a);
      heated.add(a.content_id);
      ids.push(a.allocation_id);
    }
  }
  const share = (f: (p: (typeof pubs)[number]) => boolean) => {
    const sel = pubs.filter(f);
    return sel.filter((p) => heated.has(p.content_id)).length / Math.max(1, sel.length);
  };
  const trialShare = (f: (p: (typeof pubs)[number]) => boolean) => {
    const sel = pubs.filter(f);
    return sel.filter((p) => (dayOne.get(p.content_id) ?? 0) >= 20).length / Math.max(1, sel.length);
  };
  return {
    contents,
    heatedShare: share(() => true),
    smallHeatedShare: share((p) => p.creator_followers < 10_000),
    lowQualityHeatedShare: share((p) => p.quality_score < 0.4),
    trialShare: trialShare(() => true),
    smallTrialShare: trialShare((p) => p.creator_followers < 10_000),
    allocations: ids.length,
    ids,
    maxProjectedShare,
    minPool,
  };
}
