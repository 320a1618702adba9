// Range checks Avro cannot express (completion 7 decodes fine but is nonsense). A failing record
// is a VALIDATION error naming the field, so the DLQ says exactly what was wrong.
//
// Ids and categories are bounded (MAX_ID_BYTES): they are Redis keys, changelog keys and ride in
// every record the job derives from them (an allocator-input chunk carries up to 1000 requests
// with three of them), so an unbounded id could make an output too large to send.
import { ThermostatError } from '../core/errors.js';
import type { Decoded } from './serde.js';

export interface ValidationIssue {
  field: string;
  message: string;
}

type Check = (v: Record<string, unknown>) => ValidationIssue | null;

const issue = (field: string, message: string): ValidationIssue => ({ field, message });

/** Longest id or category accepted, in UTF-8 bytes. */
export const MAX_ID_BYTES = 128;

const nonEmpty =
  (field: string): Check =>
  (v) => {
    const x = v[field];
    if (typeof x !== 'string' || x.length === 0) return issue(field, 'must be a non-empty string');
    const bytes = Buffer.byteLength(x);
    return bytes > MAX_ID_BYTES ? issue(field, `is ${bytes} bytes, more than ${MAX_ID_BYTES}`) : null;
  };

const finite =
  (
    field: string,
    opts: { min?: number; max?: number; minExclusive?: boolean; optional?: boolean } = {},
  ): Check =>
  (v) => {
    const x = v[field];
    if (x === null || x === undefined) return opts.optional ? null : issue(field, 'is required');
    if (typeof x !== 'number' || !Number.isFinite(x))
      return issue(field, `must be a finite number, got ${String(x)}`);
    if (opts.min !== undefined && (opts.minExclusive ? x <= opts.min : x < opts.min))
      return issue(field, `must be ${opts.minExclusive ? '>' : '>='} ${opts.min}, got ${x}`);
    if (opts.max !== undefined && x > opts.max) return issue(field, `must be <= ${opts.max}, got ${x}`);
    return null;
  };

const unit = (field: string) => finite(field, { min: 0, max: 1 });
const time = (field: string, optional = false) => finite(field, { min: 0, optional });

const nested =
  (field: string, checks: Check[]): Check =>
  (v) => {
    const inner = v[field];
    if (inner === null || inner === undefined) return null;
    for (const c of checks) {
      const r = c(inner as Record<string, unknown>);
      if (r) return issue(`${field}.${r.field}`, r.message);
    }
    return null;
  };

const weights = [
  finite('user_satisfaction', { min: 0 }),
  finite('platform_revenue', { min: 0 }),
  finite('long_term', { min: 0 }),
];

/** Rules per schema. Input records are checked strictly; outputs get basic sanity checks. */
export const RULES: Partial<Record<Decoded['schema'], Check[]>> = {
  UserInteraction: [
    nonEmpty('event_id'),
    nonEmpty('user_id'),
    nonEmpty('content_id'),
    nonEmpty('category'),
    time('event_time'),
    finite('dwell_ms', { min: 0 }),
    unit('completion'),
    time('user_registered_at', true),
  ],
  ContentPublished: [
    nonEmpty('content_id'),
    nonEmpty('creator_id'),
    nonEmpty('category'),
    unit('quality_score'),
    time('published_at'),
    finite('creator_followers', { min: 0, optional: true }),
  ],
  BusinessObjectives: [
    nonEmpty('objective_id'),
    time('effective_from'),
    finite('gmv_target', { min: 0 }),
    unit('retention_target'),
    unit('diversity_target'),
    finite('heating_budget_pool', { min: 0 }),
    finite('heating_cap_ratio', { min: 0, minExclusive: true, max: 1 }),
    nested('weights', weights),
  ],
  HeatingAllocation: [
    nonEmpty('allocation_id'),
    nonEmpty('content_id'),
    finite('impressions', { min: 0 }),
    unit('score'),
    nested('reward_weights', weights),
  ],
  UserMindState: [
    nonEmpty('user_id'),
    unit('exploitation'),
    unit('curiosity'),
    unit('fatigue'),
    unit('explore_probability'),
    finite('interest_breadth', { min: 0 }),
  ],
  ContentState: [
    nonEmpty('content_id'),
    finite('exposure', { min: 0 }),
    finite('clicks', { min: 0 }),
    unit('ctr'),
  ],
};

/** The first rule a decoded value breaks, or null when it is valid. */
export function findIssue(d: Pick<Decoded, 'schema' | 'value'>): ValidationIssue | null {
  const checks = RULES[d.schema];
  if (!checks) return null;
  const v = d.value as unknown as Record<string, unknown>;
  for (const c of checks) {
    const r = c(v);
    if (r) return r;
  }
  return null;
}

/** Throws a VALIDATION ThermostatError (key = field) when the value breaks a rule. */
export function validate(d: Pick<Decoded, 'schema' | 'value'>): void {
  const r = findIssue(d);
  if (r) throw new ThermostatError('VALIDATION', `${d.schema}.${r.field} ${r.message}`, { key: r.field });
}
