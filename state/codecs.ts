// Value codecs: value ↔ Redis hash fields. Readable hashes (one field per record field) let a
// ranker HGETALL a user's mind state; opaque values go in one binary field.
import type { ContentState, UserMindState } from '../schemas/types.js';
import { RESERVED_FIELDS, type FieldValue } from './store.js';

export interface ValueCodec<V> {
  /** Hash fields for `value`; never the reserved names (version, epoch, deleted). */
  encode(value: V): Record<string, FieldValue>;
  /** Inverse of encode; `version` is the stored version of the key. */
  decode(fields: Record<string, Buffer>, version: number): V;
  /** True when encode's field set varies between values: the stored hash is then rewritten. */
  readonly variableFields?: boolean;
}

/** One opaque binary field `v`. */
export const bytesCodec: ValueCodec<Buffer> = {
  encode: (value) => ({ v: value }),
  decode: (fields) => Buffer.from(fields.v ?? Buffer.alloc(0)),
};

/** JSON in one field `v` (small internal values; not for hot paths with large values). */
export function jsonCodec<V>(): ValueCodec<V> {
  return {
    encode: (value) => ({ v: JSON.stringify(value) }),
    decode: (fields) => JSON.parse((fields.v ?? Buffer.from('null')).toString('utf8')) as V,
  };
}

export type FieldKind = 'string' | 'number' | 'boolean';

/**
 * A flat record as one readable hash field per record field. Numbers are written with
 * `String(n)` (round-trips exactly), booleans as `true`/`false`. The record's `versionField`
 * is not written as a value: it IS the key's version (the `version` field of the hash).
 */
export function recordCodec<V extends object>(
  kinds: { readonly [K in keyof V]: FieldKind },
  versionField?: keyof V & string,
): ValueCodec<V> {
  const names = Object.keys(kinds) as (keyof V & string)[];
  for (const n of names) {
    if (n !== versionField && (RESERVED_FIELDS as readonly string[]).includes(n))
      throw new RangeError(`field "${n}" is reserved`);
  }
  return {
    encode(value) {
      const out: Record<string, string> = {};
      for (const n of names) {
        if (n === versionField) continue;
        out[n] = String(value[n]);
      }
      return out;
    },
    decode(fields, version) {
      const out: Record<string, unknown> = {};
      for (const n of names) {
        if (n === versionField) {
          out[n] = version;
          continue;
        }
        const raw = fields[n]?.toString('utf8');
        const kind = kinds[n];
        out[n] = kind === 'number' ? Number(raw) : kind === 'boolean' ? raw === 'true' : (raw ?? '');
      }
      return out as V;
    },
  };
}

export const userMindCodec = recordCodec<UserMindState>(
  {
    user_id: 'string',
    exploitation: 'number',
    curiosity: 'number',
    fatigue: 'number',
    satisfaction: 'number',
    explore_probability: 'number',
    exploration_protected: 'boolean',
    interest_breadth: 'number',
    version: 'number',
    updated_at: 'number',
  },
  'version',
);

export const contentStateCodec = recordCodec<ContentState>(
  {
    content_id: 'string',
    exposure: 'number',
    clicks: 'number',
    ctr: 'number',
    window_ctr: 'number',
    engaged_rate: 'number',
    heating_budget: 'number',
    flagged_cheating: 'boolean',
    version: 'number',
    updated_at: 'number',
  },
  'version',
);

/** An active heating allocation as the ranker sees it. */
export interface ActiveAllocation {
  content_id: string;
  /** Heated impressions still to serve. */
  remaining: number;
  valid_until: number;
}

/**
 * Active allocations of the allocator task: one hash, field = allocation_id, value = JSON
 * `{"content_id","remaining","valid_until"}`. The whole hash is replaced at each checkpoint, so
 * expired or exhausted allocations disappear from it.
 */
export const activeAllocationsCodec: ValueCodec<Map<string, ActiveAllocation>> = {
  variableFields: true,
  encode(value) {
    const out: Record<string, string> = {};
    for (const [id, a] of value)
      out[id] = JSON.stringify({
        content_id: a.content_id,
        remaining: a.remaining,
        valid_until: a.valid_until,
      });
    return out;
  },
  decode(fields) {
    return parseActiveAllocations(fields);
  },
};

/** For the ranker: turns `HGETALL <activeAllocationsKey>` into allocations, skipping version/epoch. */
export function parseActiveAllocations(hash: Record<string, string | Buffer>): Map<string, ActiveAllocation> {
  const out = new Map<string, ActiveAllocation>();
  for (const [field, raw] of Object.entries(hash)) {
    if ((RESERVED_FIELDS as readonly string[]).includes(field)) continue;
    out.set(field, JSON.parse(raw.toString()) as ActiveAllocation);
  }
  return out;
}
