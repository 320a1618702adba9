// A task's backlog: output work left from input it already consumed (the content stage stops a
// long catch-up of ticks after a bounded step). Both runtimes run one step at a time between
// their reads, so downstream stages consume each step before the next one is produced.
import { isRetriable } from '../core/retry.js';
import type { OwnedTask } from '../pipelines/task-factory.js';
import type { Collector } from '../pipelines/task.js';

/** Whether the task has a backlog step to run now (never ahead of batches held for their state). */
export function hasBacklog(owned: OwnedTask): boolean {
  return owned.gate.held.length === 0 && (owned.task.backlog?.() ?? false);
}

/**
 * Runs one backlog step: loads the keys it reads, then `process([])`. False when the store cannot
 * load: nothing was processed and the backlog waits (as the runner does with a batch).
 */
export async function runBacklogStep(
  owned: OwnedTask,
  out: Collector,
  /** Still this runtime's task after the load (false: revoked meanwhile, the next owner closes). */
  current: () => boolean = () => true,
): Promise<boolean> {
  const { task, gate } = owned;
  const keys = task.keysFor?.([]) ?? [];
  const load = async (): Promise<void> => {
    if (keys.length > 0) for (const c of owned.caches) await c.ensureLoaded(keys);
  };
  if (gate.health.failing) {
    gate.health.probe(load); // in the background; a later call retries
    return false;
  }
  try {
    await load();
  } catch (e) {
    if (!isRetriable(e)) throw e;
    gate.health.failed();
    return false;
  }
  if (!current()) return false;
  task.process([], out);
  return true;
}
