// Control records on the allocator's own input log. Anything that changes how the allocator decides
// and arrives in wall-clock time (a model version the learner trained, reward weights an LLM
// proposed) is written as a record on <app>-allocator-input, the single-partition topic the
// allocator reads its ticks from. The allocator applies it at its position in that log, after
// running every tick the records before it completed: a replay of the same log applies it at the
// same tick, whatever the batching, so decisions and allocation ids stay a function of the log.
import type { AllocationScorer } from '../agents/scorer.js';
import type { AllocatorControl, AllocatorInput } from '../schemas/types.js';

/** The model recorded live in the allocator's checkpointed state (absent: the configured scorer). */
export interface LiveModel {
  /** Control seq that made it live; a MODEL control applies only with a greater seq. */
  seq: number;
  policy: 'RULE' | 'LEARNED';
  /** HeatingAllocation.model_version of its allocations. */
  version: string;
  /** First tick allocated with it (information for logs and tests). */
  since: number | null;
}

/**
 * What the allocator needs from a learner: the scorer of the live model, a synchronous adoption of
 * a MODEL control record (the weights travel in the record), and an asynchronous restore of the
 * model its checkpoint names, before the restored task processes anything.
 */
export interface AllocatorModelPort {
  restore(live: LiveModel | null): Promise<void>;
  /** The live model after `control`, or null when the record is refused (a blob that does not load). */
  adopt(control: AllocatorControl): LiveModel | null;
  /** The scorer for `tick` under the live model (read once per tick; may depend on the tick only). */
  scorer(tick: number): AllocationScorer;
}

/** Where control records are written (the Kafka producer, or the in-memory broker). */
export interface AllocatorControlSink {
  send(control: AllocatorControl): Promise<void>;
}

/** Marks a control record: no content partition has this source. */
export const CONTROL_SOURCE = -1;

/** The AllocatorInput that carries `control` (no requests, totals or outcomes). */
export function controlInput(control: AllocatorControl): AllocatorInput {
  return {
    source: CONTROL_SOURCE,
    tick: -1,
    chunk: 0,
    chunks: 0,
    requests: [],
    totals: { impressions: 0, heated_impressions: 0, new_content_impressions: 0, new_content_clicks: 0 },
    outcomes: [],
    audience: [],
    control,
  };
}

/** The live model written in a checkpoint's metadata (JSON), or null. */
export function liveModelOf(meta: string | null): LiveModel | null {
  if (meta === null) return null;
  return (JSON.parse(meta) as { live?: LiveModel }).live ?? null;
}
