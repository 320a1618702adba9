// A seeded anti-cheat scenario with a known truth, run through the real user and content agents
// (user-side suspect bit → content-side judgement at every tick). Used by scripts/anticheat-eval.ts
// and, at a smaller size, by the unit tests. docs/AGENTS.md describes the kinds of content.
import { Rng } from '../core/rng.js';
import type { ContentPublished, UserInteraction } from '../schemas/types.js';
import type { AgentConfig } from './config.js';
import { applyContentInteraction, applyPublished, contentTick, type ContentAgentState } from './content.js';
import { applyUserInteraction, newUserState, type UserAgentState } from './user.js';

export type ContentKind = 'normal' | 'clickbait' | 'niche' | 'bought' | 'collusion';
export const CHEATING_KINDS: readonly ContentKind[] = ['bought', 'collusion'];

export interface AntiCheatScenario {
  seed: number;
  honestUsers: number;
  categories: number;
  normal: number;
  clickbait: number;
  niche: number;
  bought: number;
  /** Colluding groups, each `ringUsers` accounts clicking every one of `ringItems` items. */
  rings: number;
  ringUsers: number;
  ringItems: number;
  /** Organic impressions per content (uniform in [min, max]). */
  impressionsMin: number;
  impressionsMax: number;
  durationMs: number;
  tickMs: number;
}

export const DEFAULT_SCENARIO: AntiCheatScenario = {
  seed: 7,
  honestUsers: 3000,
  categories: 8,
  normal: 300,
  clickbait: 60,
  niche: 40,
  bought: 40,
  rings: 6,
  ringUsers: 12,
  ringItems: 6,
  impressionsMin: 200,
  impressionsMax: 1200,
  durationMs: 6 * 3_600_000,
  tickMs: 600_000,
};

export interface AntiCheatReport {
  contents: number;
  cheating: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  precision: number;
  recall: number;
  accuracy: number;
  /** Per kind: how many contents, how many flagged. */
  byKind: Record<ContentKind, { n: number; flagged: number }>;
  events: number;
}

interface Gen {
  published: ContentPublished[];
  kinds: Map<string, ContentKind>;
  events: UserInteraction[];
}

/** Generates the scenario's publications and interactions (sorted by event time, then event id). */
export function generateScenario(sc: AntiCheatScenario): Gen {
  const rng = new Rng(sc.seed);
  const cats = Array.from({ length: sc.categories }, (_, i) => `cat${i}`);
  const published: ContentPublished[] = [];
  const kinds = new Map<string, ContentKind>();
  const events: UserInteraction[] = [];
  let seq = 0;
  const t0 = 1_700_000_000_000;
  const at = () => t0 + 1 + Math.floor(rng.next() * (sc.durationMs - 2));
  const push = (
    user: string,
    content: string,
    category: string,
    click: boolean,
    completion: number,
    shared: boolean,
  ): void => {
    events.push({
      event_id: `e${seq++}`,
      user_id: user,
      content_id: content,
      category,
      event_time: at(),
      click,
      dwell_ms: Math.round(completion * 60_000),
      completion: click ? completion : 0,
      shared: click && shared,
      is_new_content: true,
      heated: false,
      allocation_id: null,
      user_registered_at: t0 - 30 * 86_400_000,
    });
  };
  // Completion of an honest click: uniform around `mean` ± 0.3, clipped.
  const completion = (mean: number) => Math.min(1, Math.max(0, mean + (rng.next() - 0.5) * 0.6));
  const honest = () => `u${rng.int(sc.honestUsers)}`;

  const add = (kind: ContentKind, n: number) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = `${kind}-${published.length}`;
      const category = cats[rng.int(cats.length)];
      kinds.set(id, kind);
      published.push({
        content_id: id,
        creator_id: `cr-${id}`,
        category,
        quality_score: 0.3 + rng.next() * 0.6,
        published_at: t0,
        creator_followers: rng.int(50_000),
      });
      ids.push(id);
    }
    return ids;
  };
  const organic = (id: string, ctr: number, meanCompletion: number, shareP: number) => {
    const cat = published.find((p) => p.content_id === id)!.category;
    const n = sc.impressionsMin + rng.int(sc.impressionsMax - sc.impressionsMin + 1);
    for (let k = 0; k < n; k++) {
      const click = rng.next() < ctr;
      push(honest(), id, cat, click, click ? completion(meanCompletion) : 0, rng.next() < shareP);
    }
    return cat;
  };

  for (const id of add('normal', sc.normal))
    organic(id, 0.02 + rng.next() * 0.08, 0.55 + rng.next() * 0.3, 0.05);
  // Honest hard negative: clickbait — high ctr, modest completion (some clicks still finish).
  for (const id of add('clickbait', sc.clickbait))
    organic(id, 0.12 + rng.next() * 0.1, 0.35 + rng.next() * 0.1, 0.01);
  // Honest hard negative: niche — little organic traffic, a few loyal fans who click and finish.
  for (const id of add('niche', sc.niche)) {
    const cat = published.find((p) => p.content_id === id)!.category;
    for (let k = 0; k < 40 + rng.int(60); k++) push(honest(), id, cat, rng.next() < 0.02, 0.6, false);
    const fans = Array.from({ length: 4 + rng.int(6) }, () => honest());
    for (const f of fans)
      for (let k = 0; k < 3 + rng.int(4); k++) push(f, id, cat, true, completion(0.8), rng.next() < 0.2);
  }
  // Bought clicks: mediocre organic traffic plus one-off bot accounts that click and leave.
  for (const id of add('bought', sc.bought)) {
    const cat = organic(id, 0.015 + rng.next() * 0.02, 0.5, 0.02);
    const bots = 60 + rng.int(200);
    for (let k = 0; k < bots; k++) push(`bot-${id}-${k}`, id, cat, true, rng.next() * 0.1, false);
  }
  // Colluding groups: each ring account clicks every item of its group, without engagement, and
  // also browses honest content normally (camouflage) so it is not a pure bot.
  for (let g = 0; g < sc.rings; g++) {
    const items = add('collusion', sc.ringItems).map((id) => ({
      id,
      cat: organic(id, 0.02 + rng.next() * 0.03, 0.5, 0.02),
    }));
    const normals = published.filter((p) => kinds.get(p.content_id) === 'normal');
    for (let u = 0; u < sc.ringUsers; u++) {
      const user = `ring${g}-${u}`;
      for (const it of items)
        for (let k = 0; k < 1 + rng.int(3); k++) push(user, it.id, it.cat, true, rng.next() * 0.15, false);
      for (let k = 0; k < 3; k++) {
        const p = normals[rng.int(normals.length)];
        push(user, p.content_id, p.category, true, completion(0.7), false);
      }
    }
  }
  events.sort((a, b) => a.event_time - b.event_time || (a.event_id < b.event_id ? -1 : 1));
  return { published, kinds, events };
}

/** Runs the scenario through the agents and scores the flags against the truth. */
export function evaluateAntiCheat(sc: AntiCheatScenario, cfg: AgentConfig): AntiCheatReport {
  const { published, kinds, events } = generateScenario(sc);
  const users = new Map<string, UserAgentState>();
  const contents = new Map<string, ContentAgentState>();
  for (const p of published) contents.set(p.content_id, applyPublished(undefined, p, cfg));
  const tickAll = (T: number) => {
    for (const c of contents.values()) contentTick(c, T, sc.seed, cfg);
  };
  let nextTick = Math.floor(events[0].event_time / sc.tickMs) * sc.tickMs + sc.tickMs;
  let offset = 0;
  for (const ev of events) {
    while (ev.event_time >= nextTick) {
      tickAll(nextTick);
      nextTick += sc.tickMs;
    }
    let u = users.get(ev.user_id);
    if (!u) users.set(ev.user_id, (u = newUserState(ev.user_id, cfg)));
    const r = applyUserInteraction(u, ev, offset++, cfg);
    if (r.applied) applyContentInteraction(contents.get(ev.content_id)!, ev, r.suspectClicker, cfg);
  }
  tickAll(nextTick);

  const byKind = {} as AntiCheatReport['byKind'];
  for (const k of ['normal', 'clickbait', 'niche', 'bought', 'collusion'] as ContentKind[])
    byKind[k] = { n: 0, flagged: 0 };
  let tp = 0,
    fp = 0,
    tn = 0,
    fn = 0;
  for (const [id, kind] of kinds) {
    const flagged = contents.get(id)!.flagged;
    const cheat = CHEATING_KINDS.includes(kind);
    byKind[kind].n++;
    if (flagged) byKind[kind].flagged++;
    if (cheat && flagged) tp++;
    else if (cheat) fn++;
    else if (flagged) fp++;
    else tn++;
  }
  const n = tp + fp + tn + fn;
  return {
    contents: n,
    cheating: tp + fn,
    tp,
    fp,
    tn,
    fn,
    precision: tp + fp > 0 ? tp / (tp + fp) : 1,
    recall: tp + fn > 0 ? tp / (tp + fn) : 1,
    accuracy: n > 0 ? (tp + tn) / n : 1,
    byKind,
    events: events.length,
  };
}
