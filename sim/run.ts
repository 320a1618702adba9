// Separate full-population runs, one per policy, each with its own World built from the same
// seed (same users, creators, publication schedule and random streams): the side-by-side table.
import { CATEGORIES, adjacencyMap, defaultWorldConfig, type WorldConfig } from './config.js';
import { makeArm, simulate } from './engine.js';
import type { RunResult } from './metrics.js';
import type { PolicyContext } from './policy.js';
import { createPolicy } from './policies.js';
import { ContentStats, type RankerConfig } from './ranker.js';
import { World } from './world.js';

export interface RunOptions {
  world?: Partial<WorldConfig>;
  ranker?: Partial<RankerConfig>;
  options?: Record<string, unknown>;
  /** Progress: (policy, ticks done, total ticks). */
  onTick?: (policy: string, done: number, total: number) => void;
}

export function policyContext(cfg: WorldConfig, options: Record<string, unknown> = {}): PolicyContext {
  return {
    seed: cfg.seed,
    startMs: cfg.startMs,
    tickMs: cfg.tickMs,
    days: cfg.days,
    users: cfg.users,
    categories: CATEGORIES,
    adjacency: adjacencyMap(),
    world: cfg,
    options,
  };
}

export async function runPolicy(name: string, cfg: WorldConfig, opts: RunOptions = {}): Promise<RunResult> {
  const policy = await createPolicy(name, policyContext(cfg, opts.options));
  try {
    const world = new World(cfg);
    const arm = makeArm(world, new ContentStats(), policy, name, opts.ranker);
    const [res] = await simulate(world, [arm], () => 0, { onTick: (d, t) => opts.onTick?.(name, d, t) });
    return res;
  } finally {
    await policy.close?.();
  }
}

export interface SideBySide {
  config: WorldConfig;
  policies: Record<string, RunResult>;
}

export async function runSideBySide(names: string[], opts: RunOptions = {}): Promise<SideBySide> {
  const cfg = defaultWorldConfig(opts.world);
  const policies: Record<string, RunResult> = {};
  for (const n of names) policies[n] = await runPolicy(n, cfg, opts);
  return { config: cfg, policies };
}
