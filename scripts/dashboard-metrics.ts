// Metric names and label names used by the Grafana dashboard (helm/thermostat/dashboards/
// thermostat.json), so tests can check them against what the job exports: the registry built by
// createMetrics() (test/unit/dashboard.test.ts) or a running job's /metrics text
// (seriesNamesFromExposition). The PromQL scan is deliberately small: it removes strings, label
// matchers, ranges and grouping clauses, then keeps the identifiers that are not function calls
// or keywords. It understands Grafana's template variables and label_values().
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';

export const DASHBOARD_PATH = fileURLToPath(
  new URL('../helm/thermostat/dashboards/thermostat.json', import.meta.url),
);

export interface DashboardQuery {
  /** Panel title, or `variable:<name>` for a templating query. */
  where: string;
  expr: string;
}

export function loadDashboard(path = DASHBOARD_PATH): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every PromQL expression of the dashboard: panel targets (rows included) and query variables. */
export function dashboardQueries(dashboard: unknown): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  const walk = (panels: unknown): void => {
    if (!Array.isArray(panels)) return;
    for (const p of panels) {
      if (!isObj(p)) continue;
      for (const t of Array.isArray(p.targets) ? p.targets : []) {
        if (isObj(t) && typeof t.expr === 'string' && t.expr.trim() !== '')
          out.push({ where: String(p.title ?? p.id), expr: t.expr });
      }
      walk(p.panels);
    }
  };
  if (!isObj(dashboard)) throw new TypeError('dashboard is not a JSON object');
  walk(dashboard.panels);
  const templating =
    isObj(dashboard.templating) && Array.isArray(dashboard.templating.list) ? dashboard.templating.list : [];
  for (const v of templating) {
    if (!isObj(v) || v.type !== 'query') continue;
    const q = isObj(v.query) ? v.query.query : v.query;
    if (typeof q === 'string' && q.trim() !== '')
      out.push({ where: `variable:${String(v.name)}`, expr: grafanaQueryToPromQL(q) });
  }
  return out;
}

/** Grafana's Prometheus variable functions → the PromQL part that names metrics ('' if none). */
export function grafanaQueryToPromQL(q: string): string {
  const s = q.trim();
  const lv = /^label_values\(\s*(.*)\)$/s.exec(s);
  if (lv) {
    // label_values(label) names no metric; label_values(selector, label) → the selector.
    const args = splitTopLevelComma(lv[1]);
    return args.length >= 2 ? args.slice(0, -1).join(',') : '';
  }
  const qr = /^query_result\(\s*(.*)\)$/s.exec(s);
  if (qr) return qr[1];
  if (/^(label_names|metrics)\(/.test(s)) return '';
  return s;
}

function splitTopLevelComma(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      cur += c;
      if (c === '\\') cur += s[++i] ?? '';
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== '') parts.push(cur.trim());
  return parts;
}

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'atan2',
  'inf',
  'nan',
  'start',
  'end',
]);
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;

/** Grafana template variables ($x, ${x}, ${x:fmt}, [[x]]) replaced by a neutral token. */
function stripVariables(expr: string): string {
  return expr.replace(/\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]/g, '1');
}

function stripStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
}

/** Metric names an expression selects (sorted, unique). */
export function metricNamesInPromQL(expr: string): string[] {
  const names = new Set<string>();
  let s = stripVariables(expr);
  for (const m of s.matchAll(/__name__\s*=\s*"((?:[^"\\]|\\.)*)"/g)) names.add(m[1]);
  s = stripStrings(s)
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(GROUPING, ' ');
  // Numbers (with duration units or exponents) first, so "5m" or "1e3" never yields a name.
  const token = /(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*|0x[0-9a-fA-F]+)|([a-zA-Z_:][a-zA-Z0-9_:]*)/g;
  for (const m of s.matchAll(token)) {
    const id = m[2];
    if (!id || KEYWORDS.has(id.toLowerCase())) continue;
    const rest = s.slice((m.index ?? 0) + id.length);
    if (/^\s*\(/.test(rest)) continue; // function or aggregation call
    names.add(id);
  }
  return [...names].sort();
}

/** Label names an expression uses in matchers and grouping clauses (sorted, unique). */
export function labelNamesInPromQL(expr: string): string[] {
  const labels = new Set<string>();
  const s = stripStrings(stripVariables(expr));
  for (const block of s.matchAll(/\{([^}]*)\}/g)) {
    for (const m of block[1].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g))
      if (m[1] !== '__name__') labels.add(m[1]);
  }
  for (const g of s.matchAll(GROUPING)) {
    for (const l of g[2].split(',')) if (l.trim() !== '') labels.add(l.trim());
  }
  return [...labels].sort();
}

/** Every metric name of the dashboard (sorted, unique). */
export function dashboardMetricNames(dashboard: unknown): string[] {
  const names = new Set<string>();
  for (const q of dashboardQueries(dashboard)) for (const n of metricNamesInPromQL(q.expr)) names.add(n);
  return [...names].sort();
}

export interface ExposedSeries {
  /** Series names as scraped: a histogram `x` gives x_bucket, x_sum, x_count. */
  names: Set<string>;
  /** Series name → its label names (le / quantile included where they apply). */
  labels: Map<string, Set<string>>;
}

/** The series names and label names a prom-client registry exposes. */
export async function seriesFromRegistry(register: Registry): Promise<ExposedSeries> {
  const names = new Set<string>();
  const labels = new Map<string, Set<string>>();
  const add = (name: string, ls: string[]): void => {
    names.add(name);
    labels.set(name, new Set(ls));
  };
  const json = await register.getMetricsAsJSON();
  for (const metric of json) {
    const declared =
      (register.getSingleMetric(metric.name) as unknown as { labelNames?: string[] } | undefined)
        ?.labelNames ?? [];
    const seen = new Set<string>(declared);
    for (const v of metric.values) for (const l of Object.keys(v.labels ?? {})) seen.add(l);
    const ls = [...seen].filter((l) => l !== 'le' && l !== 'quantile');
    const type = String(metric.type);
    if (type === 'histogram') {
      add(`${metric.name}_bucket`, [...ls, 'le']);
      add(`${metric.name}_sum`, ls);
      add(`${metric.name}_count`, ls);
    } else if (type === 'summary') {
      add(metric.name, [...ls, 'quantile']);
      add(`${metric.name}_sum`, ls);
      add(`${metric.name}_count`, ls);
    } else {
      add(metric.name, ls);
    }
  }
  return { names, labels };
}

/**
 * Series names in a Prometheus text exposition (a running job's /metrics): from the sample lines,
 * plus the families named by `# TYPE` lines (a labelled metric with no sample yet has only those).
 */
export function seriesNamesFromExposition(text: string): Set<string> {
  const names = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const type = /^#\s*TYPE\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\w+)/.exec(line);
    if (type) {
      const [, name, kind] = type;
      if (kind === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
      else if (kind === 'summary') for (const n of [name, `${name}_sum`, `${name}_count`]) names.add(n);
      else names.add(name);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (sample) names.add(sample[1]);
  }
  return names;
}
