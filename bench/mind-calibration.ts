// Is the mind state informative at any platform CTR? (docs/AGENTS.md "Calibration")
//   npx tsx bench/mind-calibration.ts [--users 2000] [--json out.json]
// Synthetic users at platform CTRs 2%–30%: each has their own click rate (platform CTR ×
// lognormal(0, 0.5)) and their own appetite for new content (new items clicked at rate × another
// lognormal(0, 0.5) factor, their "true curiosity"); 40% of impressions are new content; the feed
// repeats categories in runs of 1–6. 300 interactions each over 3 days, through the user agent
// (agents/user.ts) with the shipped defaults, and through the seed's absolute rules for comparison.
// Reported per CTR: spread of each signal, the share at or above user.highCuriosity (the audience a
// min_curiosity target selects), and how well curiosity ranks users by their true appetite
// (Spearman ρ).
import { writeFileSync } from 'node:fs';
import { DEFAULT_AGENT_CONFIG as cfg } from '../agents/config.js';
import { ruleExploreProbability } from '../agents/rule-explore.js';
import { applyUserInteraction, newUserState, relax, toUserMindState } from '../agents/user.js';
import { Rng } from '../core/rng.js';
import type { UserInteraction } from '../schemas/types.js';

const CTRS = [0.02, 0.05, 0.13, 0.3];
const INTERACTIONS = 300;
const SPAN_MS = 3 * 86_400_000;

interface Mind {
  satisfaction: number;
  curiosity: number;
  fatigue: number;
  exploitation: number;
  explore: number;
}

/** The seed's rules as written (absolute rewards), for comparison only. */
function seedRules(): { apply(ev: UserInteraction): void; mind(): Mind } {
  const u = cfg.user;
  let s = u.satisfactionStart;
  let c = u.curiosityStart;
  let f = u.fatigueStart;
  let e = u.exploitationStart;
  let t = -1;
  let last = '';
  let run = 0;
  return {
    apply(ev) {
      const gap = t < 0 ? 0 : Math.max(0, ev.event_time - t);
      t = Math.max(t, ev.event_time);
      c = relax(c, u.curiosityStart, gap, u.curiosityHalfLifeMs);
      f = relax(f, u.fatigueStart, gap, u.fatigueHalfLifeMs);
      s = Math.min(1, Math.max(0, 0.9 * s + 0.1 * (ev.click ? 1 : -0.5)));
      if (ev.click && ev.is_new_content) c = Math.min(1, c + 0.1);
      run = ev.category === last ? run + 1 : 1;
      last = ev.category;
      if (run >= 3) f = Math.min(1, f + 0.2);
      if (s < 0.5) e = Math.max(0, e - 0.1);
    },
    mind: () => ({
      satisfaction: s,
      curiosity: c,
      fatigue: f,
      exploitation: e,
      explore: ruleExploreProbability(e, c, f, u.explore),
    }),
  };
}

function quantile(xs: number[], q: number): number {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.max(0, Math.floor(q * (v.length - 1))))];
}

function ranks(xs: number[]): number[] {
  const idx = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(xs.length);
  idx.forEach(([, i], k) => (r[i] = k));
  return r;
}

/** Spearman rank correlation (no tie correction; the inputs are continuous). */
function spearman(a: number[], b: number[]): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  const m = (n - 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < n; i++) {
    num += (ra[i] - m) * (rb[i] - m);
    da += (ra[i] - m) ** 2;
    db += (rb[i] - m) ** 2;
  }
  return num / Math.sqrt(da * db);
}

const SIGNALS = ['satisfaction', 'curiosity', 'fatigue', 'exploitation', 'explore'] as const;
type Spread = { p10: number; p50: number; p90: number };
interface Summary {
  spread: Record<(typeof SIGNALS)[number], Spread>;
  highCuriosityShare: number;
  curiosityVsAppetite: number;
}

function summarise(minds: Mind[], appetite: number[]): Summary {
  const spread = {} as Summary['spread'];
  for (const k of SIGNALS) {
    const xs = minds.map((m) => m[k]);
    spread[k] = { p10: quantile(xs, 0.1), p50: quantile(xs, 0.5), p90: quantile(xs, 0.9) };
  }
  return {
    spread,
    highCuriosityShare: minds.filter((m) => m.curiosity >= cfg.user.highCuriosity).length / minds.length,
    curiosityVsAppetite: spearman(
      minds.map((m) => m.curiosity),
      appetite,
    ),
  };
}

function run(users: number): { ctr: number; agent: Summary; seedRules: Summary }[] {
  const results: { ctr: number; agent: Summary; seedRules: Summary }[] = [];
  for (const ctr of CTRS) {
    const rng = new Rng(Math.round(ctr * 1000));
    const calibrated: Mind[] = [];
    const seed: Mind[] = [];
    const appetite: number[] = [];
    for (let u = 0; u < users; u++) {
      const rate = Math.min(0.9, ctr * Math.exp(0.5 * rng.normal()));
      const taste = Math.exp(0.5 * rng.normal());
      appetite.push(taste);
      const state = newUserState(`u${u}`, cfg);
      const rules = seedRules();
      let cat = 0;
      let left = 0;
      for (let i = 0; i < INTERACTIONS; i++) {
        if (left === 0) {
          cat = rng.int(5);
          left = 1 + rng.int(6);
        }
        left--;
        const isNew = rng.next() < 0.4;
        const p = Math.min(0.95, isNew ? rate * taste : rate);
        const click = rng.next() < p;
        const ev: UserInteraction = {
          event_id: `e${u}-${i}`,
          user_id: `u${u}`,
          content_id: `c${i}`,
          category: `cat${cat}`,
          event_time: 1_700_000_000_000 + Math.floor((i / INTERACTIONS) * SPAN_MS),
          click,
          dwell_ms: 0,
          completion: click ? 0.6 : 0,
          shared: false,
          is_new_content: isNew,
          heated: false,
          allocation_id: null,
          user_registered_at: 0,
        };
        applyUserInteraction(state, ev, i, cfg);
        rules.apply(ev);
      }
      const m = toUserMindState(state, cfg);
      calibrated.push({
        satisfaction: m.satisfaction,
        curiosity: m.curiosity,
        fatigue: m.fatigue,
        exploitation: m.exploitation,
        explore: m.explore_probability,
      });
      seed.push(rules.mind());
    }
    results.push({ ctr, agent: summarise(calibrated, appetite), seedRules: summarise(seed, appetite) });
  }
  return results;
}

const args = process.argv.slice(2);
const users = Number(args[args.indexOf('--users') + 1] || 2000) || 2000;
const results = run(users);
const jsonAt = args.indexOf('--json');
if (jsonAt >= 0) writeFileSync(args[jsonAt + 1], JSON.stringify({ users, results }, null, 2));
const f = (x: number): string => x.toFixed(2);
const row = (ctr: number, name: string, r: Summary): string =>
  `| ${(ctr * 100).toFixed(0)}% | ${name} | ${SIGNALS.map(
    (k) => `${f(r.spread[k].p10)} / ${f(r.spread[k].p50)} / ${f(r.spread[k].p90)}`,
  ).join(' | ')} | ${(r.highCuriosityShare * 100).toFixed(0)}% | ${f(r.curiosityVsAppetite)} |`;
process.stdout.write(
  [
    '| CTR | rules | satisfaction p10 / p50 / p90 | curiosity | fatigue | exploitation | explore_probability | curiosity ≥ 0.6 | ρ(curiosity, appetite) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.flatMap((r) => [row(r.ctr, 'agent', r.agent), row(r.ctr, 'seed', r.seedRules)]),
  ].join('\n') + '\n',
);
