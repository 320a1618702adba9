// Anti-cheat (坑2, 坑6): clicks count only when real engagement (completion, shares) backs them.
// Two deterministic halves, each with only its own partition's view:
//  - user side (stage 1): a user whose recent clicks are mostly unengaged, across items, is a
//    "suspect clicker"; the interaction forwarded to the content stage carries that bit.
//  - content side (stage 2): content is flagged when its clicks are not backed by engagement,
//    either alone (bought clicks: high ctr, almost no engaged clicks) or in a colluding group
//    (a large share of its clicks come from suspect clickers and engagement stays low).
// Honest hard negatives stay clear: clickbait with modest completion keeps an engaged rate above
// boughtMaxEngagedRate, and niche content's few loyal users engage, so they are not suspects.
import type { AntiCheatConfig } from './config.js';

/** Decayed click evidence kept in the user state (two numbers per user). */
export interface ClickerEvidence {
  /** Decayed clicks. */
  ck: number;
  /** Decayed clicks without engagement. */
  ue: number;
}

/** Decays the evidence over an event-time gap, then adds one interaction. */
export function updateClickerEvidence(
  ev: ClickerEvidence,
  gapMs: number,
  click: boolean,
  engaged: boolean,
  cfg: AntiCheatConfig,
): void {
  const d = gapMs > 0 ? Math.pow(2, -gapMs / cfg.clickerHalfLifeMs) : 1;
  ev.ck *= d;
  ev.ue *= d;
  if (click) {
    ev.ck += 1;
    if (!engaged) ev.ue += 1;
  }
}

/** Share of recent clicks without engagement, 0 when there are none. */
export function clickerSuspicion(ev: ClickerEvidence): number {
  return ev.ck > 0 ? Math.min(1, ev.ue / ev.ck) : 0;
}

export function isSuspectClicker(ev: ClickerEvidence, cfg: AntiCheatConfig): boolean {
  return ev.ck >= cfg.suspectMinClicks && clickerSuspicion(ev) >= cfg.suspectUnengagedShare;
}

/** Counters the content agent keeps for the judgement (all cumulative since publication). */
export interface ContentEvidence {
  exposure: number;
  clicks: number;
  /** Clicks with completion ≥ engagedCompletion or a share. */
  engaged: number;
  /** Clicks whose forwarded interaction carried suspect_clicker. */
  suspectClicks: number;
}

export type CheatVerdict = 'bought' | 'collusion' | null;

/**
 * Wilson score upper bound of a proportion: with few clicks the engaged rate is noisy, and an honest
 * content with an unlucky first 20 clicks must not be flagged (a flag is never lifted).
 */
export function wilsonUpper(successes: number, n: number, z: number): number {
  if (n <= 0) return 1;
  const p = successes / n;
  const z2 = z * z;
  return Math.min(1, (p + z2 / (2 * n) + z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n));
}

/** Judges one content from its own counters; null = not (yet) cheating. */
export function judgeContent(ev: ContentEvidence, cfg: AntiCheatConfig): CheatVerdict {
  if (ev.clicks < cfg.minClicks) return null;
  // The engaged rate is judged by its upper confidence bound: flag only when even that is low.
  const engagedUpper = wilsonUpper(ev.engaged, ev.clicks, cfg.confidenceZ);
  const ctr = ev.exposure > 0 ? ev.clicks / ev.exposure : 0;
  if (ctr >= cfg.boughtCtr && engagedUpper <= cfg.boughtMaxEngagedRate) return 'bought';
  if (
    ev.suspectClicks >= cfg.collusionMinSuspectClicks &&
    ev.suspectClicks / ev.clicks >= cfg.collusionSuspectShare &&
    engagedUpper <= cfg.collusionMaxEngagedRate
  ) {
    return 'collusion';
  }
  return null;
}
