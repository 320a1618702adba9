// A/B testing in the seed's sense: users are assigned to arms by hash (fnv1a32 of user_id + ':' +
// salt), all arms run side by side in ONE simulated population (shared content, creators and
// feature-store counters; each arm's users are served by that arm's policy and ranker), and each
// metric's difference (arm − control) comes with a 95% percentile-bootstrap confidence interval,
// resampling users with replacement within each arm (B resamples, seeded).
import { fnv1a32 } from '../core/hash.js';
import { Rng } from '../core/rng.js';
import { DAY_MS, defaultWorldConfig, type WorldConfig } from './config.js';
import { makeArm, simulate } from './engine.js';
import { gini, mean, std, topKShare, type Metrics, type RunResult, type UserAcc } from './metrics.js';
import { createPolicy } from './policies.js';
import { ContentStats, type RankerConfig } from './ranker.js';
import { policyContext } from './run.js';
import { World } from './world.js';

/** Arm index of a user: buckets 0..9999 from the hash, split by cumulative weights. Stable: depends
 * only on (userId, salt, weights). */
export function assignArm(userId: string, salt: string, weights: readonly number[]): number {
  const bucket = fnv1a32(`${userId}:${salt}`) % 10_000;
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i];
    if (bucket < Math.round((acc / total) * 10_000)) return i;
  }
  return weights.length - 1;
}

/** Metrics whose difference gets a bootstrap CI (they decompose over users). */
export const AB_METRICS = [
  'new_content_ctr',
  'interest_diversity',
  'retention',
  'engagement',
  'watch_minutes_per_active_user',
  'satisfaction_std',
  'ctr',
  'heated_share',
  'top100_share',
  'exposure_gini',
] as const;
export type AbMetric = (typeof AB_METRICS)[number];

export interface AbDiff {
  metric: string;
  control: number;
  treatment: number;
  diff: number;
  /** 95% CI of the difference, or null for metrics that do not decompose over users. */
  ci: [number, number] | null;
}

export interface AbResult {
  config: WorldConfig;
  salt: string;
  arms: { name: string; users: number; metrics: Metrics }[];
  /** One table per non-control arm: differences against arms[0]. */
  diffs: Record<string, AbDiff[]>;
  bootstrap: number;
}

interface Row {
  acc: UserAcc;
  retNum: number;
  retDen: number;
  div: number;
  satStd: number | null;
}

function rowsOf(
  res: { users: Map<number, UserAcc> },
  interestsSize: (idx: number) => number,
  days: number,
): Row[] {
  const rows: Row[] = [];
  for (const [idx, acc] of [...res.users].sort((a, b) => a[0] - b[0])) {
    let retNum = 0,
      retDen = 0;
    for (const d of acc.activeDays) {
      if (d + 1 >= days) continue;
      retDen++;
      if (acc.activeDays.has(d + 1)) retNum++;
    }
    rows.push({
      acc,
      retNum,
      retDen,
      div: acc.engagedCats.size / interestsSize(idx),
      satStd: acc.daySats.length >= 2 ? std(acc.daySats) : null,
    });
  }
  return rows;
}

/** Metrics of a (re)sample of user rows; engagement is scaled to the full population. */
function sampleMetrics(
  rows: Row[],
  pick: number[],
  cfg: WorldConfig,
  armUsers: number,
  nItems: number,
): Record<AbMetric, number> {
  let imps = 0,
    clicks = 0,
    newImps = 0,
    newClicks = 0,
    heated = 0,
    dwell = 0,
    act = 0,
    rn = 0,
    rd = 0;
  const div: number[] = [];
  const ss: number[] = [];
  const exposure = new Float64Array(nItems);
  for (const i of pick) {
    const r = rows[i];
    const a = r.acc;
    imps += a.imps;
    clicks += a.clicks;
    newImps += a.newImps;
    newClicks += a.newClicks;
    heated += a.heated;
    dwell += a.dwellMs;
    act += a.activeDays.size;
    rn += r.retNum;
    rd += r.retDen;
    div.push(r.div);
    if (r.satStd !== null) ss.push(r.satStd);
    for (const it of a.items) exposure[it]++;
  }
  return {
    new_content_ctr: newImps ? newClicks / newImps : 0,
    interest_diversity: mean(div),
    retention: rd ? rn / rd : 0,
    engagement: armUsers ? ((dwell / 60_000 / cfg.days) * cfg.users) / armUsers : 0,
    watch_minutes_per_active_user: act ? dwell / 60_000 / act : 0,
    satisfaction_std: mean(ss),
    ctr: imps ? clicks / imps : 0,
    heated_share: imps ? heated / imps : 0,
    top100_share: topKShare(exposure, cfg.topK),
    exposure_gini: gini(exposure),
  };
}

export interface AbOptions {
  world?: Partial<WorldConfig>;
  ranker?: Partial<RankerConfig>;
  options?: Record<string, unknown>;
  salt?: string;
  weights?: number[];
  bootstrap?: number;
  onTick?: (done: number, total: number) => void;
}

/** Runs `policies` as arms of one population; policies[0] is the control. */
export async function runAb(policies: string[], opts: AbOptions = {}): Promise<AbResult> {
  if (policies.length < 2)
    throw new Error('an A/B run needs at least two policies (the first is the control)');
  const cfg = defaultWorldConfig(opts.world);
  const salt = opts.salt ?? `ab-${cfg.seed}`;
  const weights = opts.weights ?? policies.map(() => 1);
  const B = opts.bootstrap ?? 200;
  const world = new World(cfg);
  const stats = new ContentStats();
  const ctx = policyContext(cfg, opts.options);
  const arms = [];
  for (const name of policies)
    arms.push(makeArm(world, stats, await createPolicy(name, ctx), name, opts.ranker));
  try {
    const results: RunResult[] = await simulate(world, arms, (id) => assignArm(id, salt, weights), {
      onTick: opts.onTick,
    });
    const endMs = cfg.startMs + cfg.days * DAY_MS;
    const nItems = world.items.filter((it) => it.publishedAt < endMs).length;
    const armUsers = policies.map(
      (_, i) => world.users.filter((u) => assignArm(u.id, salt, weights) === i).length,
    );
    const rows = arms.map((a) => rowsOf(a.rec, (idx) => world.users[idx].interests.size, cfg.days));
    const point = rows.map((r, i) =>
      sampleMetrics(
        r,
        r.map((_, k) => k),
        cfg,
        armUsers[i],
        nItems,
      ),
    );
    // Bootstrap: B resamples of users per arm, seeded.
    const rng = new Rng(fnv1a32(`bootstrap:${salt}`, cfg.seed >>> 0));
    const boots: Record<AbMetric, number>[][] = rows.map(() => []);
    for (let b = 0; b < B; b++) {
      rows.forEach((r, i) => {
        const pick = r.map(() => rng.int(r.length));
        boots[i].push(sampleMetrics(r, pick, cfg, armUsers[i], nItems));
      });
    }
    const diffs: Record<string, AbDiff[]> = {};
    for (let i = 1; i < arms.length; i++) {
      const table: AbDiff[] = [];
      for (const m of Object.keys(results[0].metrics) as (keyof Metrics)[]) {
        const isAb = (AB_METRICS as readonly string[]).includes(m);
        const control = isAb ? point[0][m as AbMetric] : results[0].metrics[m];
        const treatment = isAb ? point[i][m as AbMetric] : results[i].metrics[m];
        let ci: [number, number] | null = null;
        if (isAb && B > 0) {
          const d = boots[i]
            .map((x, k) => x[m as AbMetric] - boots[0][k][m as AbMetric])
            .sort((a, b) => a - b);
          ci = [d[Math.floor(0.025 * (B - 1))], d[Math.ceil(0.975 * (B - 1))]];
        }
        table.push({ metric: m, control, treatment, diff: treatment - control, ci });
      }
      diffs[policies[i]] = table;
    }
    return {
      config: cfg,
      salt,
      bootstrap: B,
      arms: arms.map((a, i) => ({
        name: a.name,
        users: armUsers[i],
        metrics: { ...results[i].metrics, ...point[i] },
      })),
      diffs,
    };
  } finally {
    for (const a of arms) await a.policy.close?.();
  }
}
