// Reward weights from business-objectives or from an LLM's prose (SPEC §3). Text is only ever
// parsed as JSON and checked with a schema and bounds — never evaluated (the seed eval()s it).
import { z } from 'zod';
import type { RewardWeights } from '../schemas/types.js';

/** Weights must sum to 1 within this tolerance before being renormalised exactly. */
export const WEIGHT_SUM_TOLERANCE = 0.02;

const weightFields = {
  user_satisfaction: z.number().finite().min(0).max(1),
  platform_revenue: z.number().finite().min(0).max(1),
  long_term: z.number().finite().min(0).max(1),
};
const weightsSchema = z.object(weightFields);
/** An answer to "reply with ONLY these three keys": anything else in the object is refused. */
const exactWeightsSchema = z.strictObject(weightFields);

/**
 * Schema, bounds [0,1], sum 1 ± WEIGHT_SUM_TOLERANCE, then exact renormalisation. Extra keys are
 * ignored, unless `exactKeys` (an LLM's answer: an object with more than was asked for is refused).
 */
export function validateRewardWeights(x: unknown, exactKeys = false): RewardWeights | { error: string } {
  const r = (exactKeys ? exactWeightsSchema : weightsSchema).safeParse(x);
  if (!r.success) {
    const i = r.error.issues[0];
    return { error: `${i.path.join('.') || '(root)'}: ${i.message}` };
  }
  const { user_satisfaction, platform_revenue, long_term } = r.data;
  const sum = user_satisfaction + platform_revenue + long_term;
  if (Math.abs(sum - 1) > WEIGHT_SUM_TOLERANCE)
    return { error: `weights sum to ${sum}, expected 1 ± ${WEIGHT_SUM_TOLERANCE}` };
  return {
    user_satisfaction: user_satisfaction / sum,
    platform_revenue: platform_revenue / sum,
    long_term: long_term / sum,
  };
}

/** The first balanced {...} in `text` (string-aware, so braces inside JSON strings do not count). */
function firstBalancedObject(text: string): string | null {
  const start = text.indexOf('{');
  if (start < 0) return null;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  return null;
}

/**
 * Extracts reward weights from LLM prose: the first ```json fenced block (or any ``` block holding
 * an object), else the first balanced {...}; JSON.parse + schema + bounds. Never throws.
 */
export function parseRewardWeightsFromText(
  text: string,
  exactKeys = false,
): { ok: true; weights: RewardWeights } | { ok: false; reason: string } {
  if (typeof text !== 'string' || text.length === 0) return { ok: false, reason: 'empty text' };
  const fence = /```(?:json|JSON)?\s*\n?([\s\S]*?)```/.exec(text);
  const candidate = (fence && firstBalancedObject(fence[1])) ?? firstBalancedObject(text);
  if (candidate === null) return { ok: false, reason: 'no JSON object found' };
  let value: unknown;
  try {
    value = JSON.parse(candidate);
  } catch (e) {
    return { ok: false, reason: `invalid JSON: ${(e as Error).message}` };
  }
  const v = validateRewardWeights(value, exactKeys);
  return 'error' in v ? { ok: false, reason: v.error } : { ok: true, weights: v };
}

/** Keeps the last good weights; a rejected update changes nothing but the rejection count. */
export class RewardWeightsHolder {
  private current: RewardWeights;
  private rejectedCount = 0;
  private lastReason: string | null = null;

  constructor(initial: RewardWeights) {
    const v = validateRewardWeights(initial);
    if ('error' in v) throw new RangeError(`initial reward weights invalid: ${v.error}`);
    this.current = v;
  }

  get weights(): RewardWeights {
    return { ...this.current };
  }
  get rejected(): number {
    return this.rejectedCount;
  }
  get lastRejection(): string | null {
    return this.lastReason;
  }

  /** From a structured value (business-objectives weights). Returns whether it was accepted. */
  offer(x: unknown): boolean {
    const v = validateRewardWeights(x);
    if ('error' in v) return this.reject(v.error);
    this.current = v;
    return true;
  }

  /** From LLM text. Returns whether it was accepted. */
  offerText(text: string): boolean {
    const r = parseRewardWeightsFromText(text);
    if (!r.ok) return this.reject(r.reason);
    this.current = r.weights;
    return true;
  }

  private reject(reason: string): false {
    this.rejectedCount++;
    this.lastReason = reason;
    return false;
  }
}
