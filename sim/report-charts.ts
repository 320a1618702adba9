// The simulator report's charts as Vega-Lite specs: per-day series with a 95% band across seeds,
// exposure Lorenz curves, every metric as mean ± 95% CI per policy, and forest plots of lifts.
// One fixed colour per policy from the Okabe-Ito palette (colour-blind safe), whatever the order
// the policies were given in; every metric's title says which way is better.
import type { TopLevelSpec } from 'vega-lite';
import type { AbResult } from './ab.js';
import type { Estimate, Summary } from './aggregate.js';
import { fnv1a32 } from '../core/hash.js';
import type { Metrics } from './metrics.js';
import type { LearnedDayPoint } from './metrics.js';

/** Okabe & Ito (2008), without yellow (too light on white). */
const OKABE_ITO = ['#000000', '#E69F00', '#56B4E9', '#009E73', '#0072B2', '#D55E00', '#CC79A7'];
const FIXED_COLOURS: Record<string, string> = {
  popularity: '#000000',
  manual: '#E69F00',
  thermostat: '#0072B2',
  'thermostat-rule': '#56B4E9',
  'thermostat-learned': '#009E73',
};

/** A policy's colour: fixed for the known ones, else picked by a hash of its name. */
export function policyColour(policy: string): string {
  return FIXED_COLOURS[policy] ?? OKABE_ITO[fnv1a32(policy) % OKABE_ITO.length];
}

export type Direction = 'higher' | 'lower' | 'neither';
export type Kind = 'pct' | 'num' | 'int';

/** How each metric reads: its display kind, and whether higher or lower is better. */
export const METRICS: { metric: keyof Metrics; kind: Kind; better: Direction }[] = [
  { metric: 'new_content_ctr', kind: 'pct', better: 'higher' },
  { metric: 'interest_diversity', kind: 'pct', better: 'higher' },
  { metric: 'cold_start_success', kind: 'pct', better: 'higher' },
  { metric: 'cold_start_success_top', kind: 'pct', better: 'higher' },
  { metric: 'trial_share', kind: 'pct', better: 'higher' },
  { metric: 'top100_share', kind: 'pct', better: 'lower' },
  { metric: 'exposure_gini', kind: 'num', better: 'lower' },
  { metric: 'retention', kind: 'pct', better: 'higher' },
  { metric: 'heating_cost', kind: 'int', better: 'lower' },
  { metric: 'heated_impressions', kind: 'int', better: 'neither' },
  { metric: 'engagement', kind: 'int', better: 'higher' },
  { metric: 'watch_minutes_per_active_user', kind: 'num', better: 'higher' },
  { metric: 'watch_minutes_per_user_day', kind: 'num', better: 'higher' },
  { metric: 'satisfaction_std', kind: 'num', better: 'lower' },
  { metric: 'cheat_precision', kind: 'pct', better: 'higher' },
  { metric: 'cheat_recall', kind: 'pct', better: 'higher' },
  { metric: 'heated_share', kind: 'pct', better: 'neither' },
  { metric: 'heated_share_max', kind: 'pct', better: 'lower' },
  { metric: 'heated_ctr', kind: 'pct', better: 'higher' },
  { metric: 'ctr', kind: 'pct', better: 'higher' },
  { metric: 'impressions', kind: 'int', better: 'neither' },
  { metric: 'active_user_days', kind: 'int', better: 'higher' },
  { metric: 'new_content_impression_share', kind: 'pct', better: 'higher' },
  { metric: 'cheat_impression_share', kind: 'pct', better: 'lower' },
  { metric: 'creators_left', kind: 'int', better: 'lower' },
  { metric: 'creator_retention', kind: 'pct', better: 'higher' },
  { metric: 'heated_items', kind: 'int', better: 'neither' },
];

export const directionOf = (metric: string): Direction =>
  METRICS.find((m) => m.metric === metric)?.better ?? 'neither';

/** "(↑ higher is better)", "(↓ lower is better)" or "". */
export function directionLabel(metric: string): string {
  const d = directionOf(metric);
  return d === 'higher' ? '↑ higher is better' : d === 'lower' ? '↓ lower is better' : '';
}

const titled = (metric: string): string => {
  const d = directionLabel(metric);
  return d ? `${metric} (${d})` : metric;
};

/** d3-format specifiers without a precision: Vega picks the precision from the tick step. */
const AXIS_FORMAT: Record<Kind, string> = { pct: '%', num: '', int: ',d' };

const WIDTH = 380;
const HEIGHT = 220;

function colourScale(policies: readonly string[]) {
  return { domain: [...policies], range: policies.map(policyColour) };
}

interface BandRow {
  policy: string;
  x: number;
  mean: number;
  lo: number | null;
  hi: number | null;
}

/**
 * The interval drawn: every metric here is a non-negative quantity and shares stay under 100%,
 * so the symmetric t interval is cut at those bounds (the table and the JSON keep it whole).
 */
export function feasible(e: Estimate, kind: Kind): { lo: number | null; hi: number | null } {
  return {
    lo: e.lo === null ? null : Math.max(0, e.lo),
    hi: e.hi === null ? null : kind === 'pct' ? Math.min(1, e.hi) : e.hi,
  };
}

/** A row of a daily chart; `bounded`: the metric's feasible range cuts the interval. */
const bandRow = (policy: string, x: number, e: Estimate, bounded: Kind | null): BandRow => ({
  policy,
  x,
  mean: e.mean,
  ...(bounded ? feasible(e, bounded) : { lo: e.lo, hi: e.hi }),
});

/** Mean line per policy over integer days, with its 95% band across seeds. */
function dailyChart(
  title: string,
  policies: readonly string[],
  rows: BandRow[],
  yTitle: string,
  kind: Kind,
): TopLevelSpec {
  const y = { type: 'quantitative' as const, title: yTitle, axis: { format: AXIS_FORMAT[kind] } };
  const x = {
    field: 'x',
    type: 'quantitative' as const,
    title: 'day',
    axis: { tickMinStep: 1, format: 'd' },
    scale: { nice: false },
  };
  // One legend for band and line: drawn as the line, at full opacity.
  const color = {
    field: 'policy',
    type: 'nominal' as const,
    scale: colourScale(policies),
    title: 'policy',
    legend: { symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 2 },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    data: { values: rows },
    layer: [
      {
        mark: { type: 'area', opacity: 0.18 },
        transform: [{ filter: 'datum.lo != null && datum.hi != null' }],
        encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color },
      },
      {
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { ...y, field: 'mean' },
          color,
          tooltip: [
            { field: 'policy' },
            { field: 'x', title: 'day' },
            { field: 'mean', format: AXIS_FORMAT[kind] || '.4' },
          ],
        },
      },
    ],
  };
}

export interface ChartSpec {
  id: string;
  spec: TopLevelSpec;
}

/** The per-day series: new-content CTR, interest diversity, heated share, retention. */
export function seriesCharts(s: Summary): ChartSpec[] {
  const lastDay = Math.max(...s.policies.flatMap((p) => s.series[p].map((r) => r.day)));
  const chart = (
    metric: 'new_content_ctr' | 'interest_diversity' | 'heated_share' | 'retention',
    title: string,
    days: (day: number) => boolean = () => true,
  ) => ({
    id: `series-${metric}`,
    spec: dailyChart(
      directionLabel(metric) ? `${title} (${directionLabel(metric)})` : title,
      s.policies,
      s.policies.flatMap((p) =>
        s.series[p]
          .filter((r) => r.metric === metric && days(r.day))
          .map((r) => bandRow(p, r.day, r.value, 'pct')),
      ),
      metric,
      'pct',
    ),
  });
  return [
    chart('new_content_ctr', 'New-content CTR per day'),
    chart('interest_diversity', 'Interest diversity per day'),
    chart('heated_share', 'Heated share per day'),
    // The last day has no next day to return on.
    chart('retention', 'Next-day retention per day', (day) => day < lastDay),
  ];
}

/** Exposure Lorenz curves (mean over seeds) against the line of equality. */
export function lorenzChart(s: Summary): ChartSpec {
  const rows = s.policies.flatMap((p) => s.lorenz[p].map(([x, y]) => ({ policy: p, x, y })));
  const pct = { format: '%' };
  return {
    id: 'lorenz',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: 'Exposure Lorenz curve (closer to the diagonal is more equal)',
      width: WIDTH,
      height: HEIGHT,
      layer: [
        {
          data: {
            values: [
              { x: 0, y: 0 },
              { x: 1, y: 1 },
            ],
          },
          mark: { type: 'line', strokeDash: [4, 3], color: '#999999' },
          encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
        },
        {
          data: { values: rows },
          mark: 'line',
          encoding: {
            x: { field: 'x', type: 'quantitative', title: 'share of items (least exposed first)', axis: pct },
            y: { field: 'y', type: 'quantitative', title: 'share of impressions', axis: pct },
            color: { field: 'policy', type: 'nominal', scale: colourScale(s.policies), title: 'policy' },
          },
        },
      ],
    },
  };
}

/** One small chart per metric: each policy's mean with its 95% CI across seeds. */
export function metricCharts(s: Summary): ChartSpec[] {
  return METRICS.map(({ metric, kind }) => {
    const rows = s.policies.map((p) => {
      const e = s.metrics[p][metric];
      return { policy: p, mean: e.mean, ...feasible(e, kind) };
    });
    const x = {
      type: 'quantitative' as const,
      title: null,
      scale: { zero: false, padding: 8 },
      axis: { format: AXIS_FORMAT[kind] },
    };
    const y = { field: 'policy', type: 'nominal' as const, title: null, sort: [...s.policies] };
    const color = { field: 'policy', type: 'nominal' as const, scale: colourScale(s.policies), legend: null };
    return {
      id: `metric-${metric}`,
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        title: { text: metric, subtitle: directionLabel(metric) || 'context, no direction' },
        width: 240,
        height: { step: 22 },
        data: { values: rows },
        layer: [
          {
            mark: { type: 'rule', strokeWidth: 2 },
            transform: [{ filter: 'datum.lo != null && datum.hi != null' }],
            encoding: { x: { ...x, field: 'lo' }, x2: { field: 'hi' }, y, color },
          },
          {
            mark: { type: 'point', filled: true, size: 60 },
            encoding: {
              x: { ...x, field: 'mean' },
              y,
              color,
              tooltip: [{ field: 'policy' }, { field: 'mean', format: AXIS_FORMAT[kind] || '.4' }],
            },
          },
        ],
      },
    };
  });
}

interface ForestRow {
  group: string;
  metric: string;
  lift: number;
  lo: number | null;
  hi: number | null;
}

/** Lifts beyond ±100% are drawn at the edge, as a triangle with their value, to keep the rest readable. */
const LIFT_CAP = 1;

/** Relative lifts (%) with 95% CIs, one row per metric, one colour per policy/arm; 0 = no change. */
function forest(
  id: string,
  title: string,
  subtitle: string,
  groups: readonly string[],
  rows: ForestRow[],
): ChartSpec {
  const metrics = METRICS.map((m) => titled(m.metric)).filter((t) => rows.some((r) => r.metric === t));
  const capped = rows.some((r) => [r.lift, r.lo ?? 0, r.hi ?? 0].some((v) => Math.abs(v) > LIFT_CAP));
  const clamp = (f: string) => `datum.${f} == null ? null : clamp(datum.${f}, ${-LIFT_CAP}, ${LIFT_CAP})`;
  const x = {
    type: 'quantitative' as const,
    title: 'relative lift',
    axis: { format: '%' },
    scale: capped ? { domain: [-LIFT_CAP, LIFT_CAP] } : { zero: true },
  };
  const y = {
    field: 'metric',
    type: 'nominal' as const,
    title: null,
    sort: metrics,
    axis: { labelLimit: 400 },
  };
  const color = { field: 'group', type: 'nominal' as const, scale: colourScale(groups), title: 'policy' };
  return {
    id,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: title, subtitle },
      width: 420,
      height: { step: 9 * Math.max(1, groups.length) + 8 },
      layer: [
        {
          data: { values: [{ zero: 0 }] },
          mark: { type: 'rule', color: '#999999', strokeDash: [4, 3] },
          encoding: { x: { field: 'zero', type: 'quantitative' } },
        },
        {
          data: { values: rows },
          transform: [
            { calculate: clamp('lift'), as: 'shown' },
            { calculate: clamp('lo'), as: 'loShown' },
            { calculate: clamp('hi'), as: 'hiShown' },
            {
              calculate: `datum.lift > ${LIFT_CAP} ? 'triangle-right' : datum.lift < ${-LIFT_CAP} ? 'triangle-left' : 'circle'`,
              as: 'shape',
            },
          ],
          layer: [
            {
              mark: { type: 'rule', strokeWidth: 2 },
              transform: [{ filter: 'datum.lo != null && datum.hi != null' }],
              encoding: {
                x: { ...x, field: 'loShown' },
                x2: { field: 'hiShown' },
                y,
                yOffset: { field: 'group' },
                color,
              },
            },
            {
              mark: { type: 'point', filled: true, size: 50 },
              encoding: {
                x: { ...x, field: 'shown' },
                y,
                yOffset: { field: 'group' },
                color,
                shape: { field: 'shape', type: 'nominal', scale: null },
                tooltip: [
                  { field: 'group', title: 'policy' },
                  { field: 'metric' },
                  { field: 'lift', format: '.2%' },
                  { field: 'lo', format: '.2%' },
                  { field: 'hi', format: '.2%' },
                ],
              },
            },
            {
              mark: { type: 'text', dy: -8, fontSize: 10 },
              transform: [{ filter: `abs(datum.lift) > ${LIFT_CAP}` }],
              encoding: {
                x: { ...x, field: 'shown' },
                y,
                yOffset: { field: 'group' },
                color,
                text: { field: 'lift', format: '+.0%' },
              },
            },
          ],
        },
      ],
    },
  };
}

/** Each policy's lift over the baseline, paired by seed; CIs need two seeds or more. */
export function liftForest(s: Summary): ChartSpec | null {
  if (s.lifts.length === 0) return null;
  const others = s.policies.slice(1);
  return forest(
    'forest-seeds',
    `Lift over ${s.baseline} (separate runs, same seeds)`,
    s.seeds.length > 1
      ? `mean of the per-seed lifts, 95% CI over ${s.seeds.length} seeds (t); metrics where ${s.baseline} is 0 are left out`
      : `one seed: points only (run several seeds, --seeds 1-5, for intervals)`,
    others,
    s.lifts.map((l) => ({
      group: l.policy,
      metric: titled(l.metric),
      lift: l.lift.mean,
      lo: l.lift.lo,
      hi: l.lift.hi,
    })),
  );
}

/** The A/B run's differences as relative lifts over the control arm, with the bootstrap CIs. */
export function abForest(ab: AbResult): ChartSpec | null {
  const control = ab.arms[0].name;
  const rows: ForestRow[] = [];
  for (const [arm, diffs] of Object.entries(ab.diffs))
    for (const d of diffs) {
      if (d.control === 0 || !Number.isFinite(d.diff)) continue;
      const scale = Math.abs(d.control);
      rows.push({
        group: arm,
        metric: titled(d.metric),
        lift: d.diff / scale,
        lo: d.ci ? d.ci[0] / scale : null,
        hi: d.ci ? d.ci[1] / scale : null,
      });
    }
  if (rows.length === 0) return null;
  return forest(
    'forest-ab',
    `A/B: lift over ${control} (one population)`,
    `difference / ${control}, 95% percentile bootstrap over users (B=${ab.bootstrap}); no interval where the metric does not decompose over users`,
    Object.keys(ab.diffs),
    rows,
  );
}

type LearningKey = 'reward' | 'approvedReward' | 'entropy' | 'approvalRate';
type ExploreKey = 'reward' | 'std' | 'meanProbability';

/** Learning curves of the learned policies: per-day mean over seeds with the 95% band. */
export function learningCharts(
  runs: Record<string, { learning?: LearnedDayPoint[] }[]>,
  estimateOf: (values: number[]) => Estimate,
): { allocation: ChartSpec[]; explore: ChartSpec[] } {
  const learned = Object.keys(runs).filter((p) => runs[p].some((r) => (r.learning?.length ?? 0) > 0));
  const curve = (
    id: string,
    title: string,
    yTitle: string,
    kind: Kind,
    pick: (p: LearnedDayPoint) => number | undefined,
  ): ChartSpec => {
    const rows = learned.flatMap((p) => {
      const days = [...new Set(runs[p].flatMap((r) => (r.learning ?? []).map((d) => d.day)))].sort(
        (a, b) => a - b,
      );
      return days.flatMap((day) => {
        const values = runs[p]
          .map((r) => r.learning?.find((d) => d.day === day))
          .map((d) => (d ? pick(d) : undefined))
          .filter((v): v is number => v !== undefined);
        // Rewards can be negative: their intervals stay whole.
        return values.length ? [bandRow(p, day, estimateOf(values), null)] : [];
      });
    });
    return { id, spec: dailyChart(title, learned, rows, yTitle, kind) };
  };
  const allocation: [LearningKey, string, string, Kind][] = [
    ['reward', 'Reward per day', 'mean reward', 'num'],
    ['approvedReward', 'Reward of heated allocations per day', 'mean reward', 'num'],
    ['entropy', 'Policy entropy per day', 'nats', 'num'],
    ['approvalRate', 'Approval rate per day', 'approved / scored', 'pct'],
  ];
  const explore: [ExploreKey, string, string, Kind][] = [
    ['reward', 'Explore reward per day', 'mean reward', 'num'],
    ['std', 'Explore σ (logit noise) per day', 'σ', 'num'],
    ['meanProbability', 'Mean explore probability per day', 'P(explore)', 'pct'],
  ];
  const exploring = learned.some((p) => runs[p].some((r) => r.learning?.some((d) => d.explore)));
  return {
    allocation: learned.length
      ? allocation.map(([k, title, y, kind]) => curve(`learning-${k}`, title, y, kind, (d) => d[k]))
      : [],
    explore: exploring
      ? explore.map(([k, title, y, kind]) => curve(`explore-${k}`, title, y, kind, (d) => d.explore?.[k]))
      : [],
  };
}
