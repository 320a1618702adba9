// The explore learner's reward join: one decision per user stays open until that user's NEXT
// decision, and its reward is computed from the user's interactions observed in between (the
// impressions served while that explore probability was in force). Only what the job itself sees
// is used: engaged views, categories, is_new_content; never the simulator's ground truth.
//
// Window score: the observable analogue of the simulator's daily satisfaction (engaged rate,
// discoveries, fatigue from repetition) plus the two product objectives the explore level trades
// off (watch time, engaged views of new content: cold start):
//   s = wE·engaged/imps + wD·discoveries + wN·newEngaged + wW·watchMinutes − wR·repeats/imps
// discoveries: engaged views of a category this user had not engaged with before (as observed);
// repeats: impressions that were the 3rd+ of the same category in a row (the fatigue trigger).
// Reward = s − wS·|s − m_u|, m_u the user's running mean of s (EMA): the smoothness term (坑10)
// prices swings of a user's experience from one window to the next, which is what
// satisfaction_std measures across days. A decision whose window had no impression is dropped: its
// action had no observable effect.
import type { GaussianExperience } from './explore-ppo.js';

export interface ExploreRewardWeights {
  engagedRate: number;
  discovery: number;
  newEngaged: number;
  /** Per minute of dwell served under the decision (all impressions, clicked or not). */
  watchMinutes: number;
  repeatRate: number;
  swing: number;
  /** EMA rate of a user's running window score. */
  swingAlpha: number;
}

// engagedRate / discovery / repeatRate mirror the simulator's daily satisfaction (6 / 0.15 / 0.4).
// newEngaged 0.6: measured with the policy's own randomised noise (docs/results/learning.md), +1σ of explore
// logit lowers the engaged rate (≈ −0.0034, costing 6·0.0034) and the repetition rate (−0.0145,
// gaining 0.4·0.0145) and adds ≈ 0.024 engaged new-content views; at 0.6 these cancel, so the
// reward does not push the explore LEVEL down (which cost cold start) and PPO is left with the
// state-dependent part. swing 0.3: at 1 the noisy swing term was half the reward's variance.
export const DEFAULT_EXPLORE_REWARD: ExploreRewardWeights = {
  engagedRate: 6,
  discovery: 0.15,
  newEngaged: 0.6,
  watchMinutes: 0,
  repeatRate: 0.4,
  swing: 0.3,
  swingAlpha: 0.3,
};

/** What the log needs of one interaction (engaged: the agents' notion, computed by the caller). */
export interface ExploreObservation {
  userId: string;
  category: string;
  isNewContent: boolean;
  engaged: boolean;
  dwellMs: number;
}

export interface ExploreWindow {
  imps: number;
  engaged: number;
  discoveries: number;
  newEngaged: number;
  repeats: number;
  watchMs: number;
}

interface OpenDecision {
  obs: Float32Array;
  action: number;
  logProb: number;
  window: ExploreWindow;
}

/** What the log remembers per user between decisions (bounded: categories, two last ones, an EMA). */
interface UserMemory {
  engagedCats: Set<string>;
  lastCat: string | null;
  prevCat: string | null;
  meanScore: number | null;
}

export interface ClosedExploreDecision {
  userId: string;
  window: ExploreWindow;
  score: number;
  reward: number;
}

export function windowScore(w: ExploreWindow, k: ExploreRewardWeights): number {
  if (w.imps === 0) return 0;
  return (
    (k.engagedRate * w.engaged) / w.imps +
    k.discovery * w.discoveries +
    k.newEngaged * w.newEngaged +
    (k.watchMinutes * w.watchMs) / 60_000 -
    (k.repeatRate * w.repeats) / w.imps
  );
}

export class ExploreDecisionLog {
  private readonly open = new Map<string, OpenDecision>();
  private readonly memory = new Map<string, UserMemory>();
  private ready: GaussianExperience[] = [];
  /** Decisions dropped because nothing was served under them. */
  dropped = 0;

  constructor(
    readonly weights: ExploreRewardWeights = DEFAULT_EXPLORE_REWARD,
    /** Ready experiences kept at most (oldest dropped first). */
    readonly maxReady = 16_384,
  ) {}

  get readyCount(): number {
    return this.ready.length;
  }

  get openCount(): number {
    return this.open.size;
  }

  private mem(userId: string): UserMemory {
    let m = this.memory.get(userId);
    if (!m) {
      m = { engagedCats: new Set(), lastCat: null, prevCat: null, meanScore: null };
      this.memory.set(userId, m);
    }
    return m;
  }

  /**
   * A new decision for `userId`: closes the user's previous one (returned, with its reward, when it
   * had an outcome) and opens this one.
   */
  decide(userId: string, obs: Float32Array, action: number, logProb: number): ClosedExploreDecision | null {
    const closed = this.close(userId);
    this.open.set(userId, {
      obs,
      action,
      logProb,
      window: { imps: 0, engaged: 0, discoveries: 0, newEngaged: 0, repeats: 0, watchMs: 0 },
    });
    return closed;
  }

  /** One interaction of a user: counted in the user's open decision (if any). */
  observe(o: ExploreObservation): void {
    const m = this.mem(o.userId);
    const repeat = o.category === m.lastCat && o.category === m.prevCat;
    const discovery = o.engaged && !m.engagedCats.has(o.category);
    m.prevCat = m.lastCat;
    m.lastCat = o.category;
    if (o.engaged) m.engagedCats.add(o.category);
    const d = this.open.get(o.userId);
    if (!d) return;
    const w = d.window;
    w.imps++;
    if (o.engaged) w.engaged++;
    if (discovery) w.discoveries++;
    if (o.engaged && o.isNewContent) w.newEngaged++;
    if (repeat) w.repeats++;
    w.watchMs += Math.max(0, o.dwellMs);
  }

  private close(userId: string): ClosedExploreDecision | null {
    const d = this.open.get(userId);
    if (!d) return null;
    this.open.delete(userId);
    if (d.window.imps === 0) {
      this.dropped++;
      return null;
    }
    const k = this.weights;
    const m = this.mem(userId);
    const score = windowScore(d.window, k);
    const swing = m.meanScore === null ? 0 : Math.abs(score - m.meanScore);
    m.meanScore = m.meanScore === null ? score : m.meanScore + k.swingAlpha * (score - m.meanScore);
    const reward = score - k.swing * swing;
    this.ready.push({ obs: d.obs, action: d.action, logProb: d.logProb, reward });
    if (this.ready.length > this.maxReady) this.ready.splice(0, this.ready.length - this.maxReady);
    return { userId, window: d.window, score, reward };
  }

  /** Takes up to `max` ready experiences, oldest first. */
  take(max: number): GaussianExperience[] {
    return this.ready.splice(0, Math.min(max, this.ready.length));
  }
}
