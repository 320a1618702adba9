// Replays an allocator-input log (and the objectives) through a fresh AllocatorTask, cut into
// batches of `batchSize` records: the uninterrupted run a crashed allocator's output must equal.
// Tests use it to check that what the allocator decides is a function of its log alone.
import type { AgentConfig } from '../../agents/config.js';
import { RuleScorer } from '../../agents/rule-scorer.js';
import type { AllocatorModelPort } from '../../pipelines/allocator-control.js';
import { AllocatorTask } from '../../pipelines/allocator-task.js';
import type { Collector, InRecord } from '../../pipelines/task.js';
import type { TopologyNames } from '../../pipelines/topology.js';
import type { AllocatorInput, BusinessObjectives, HeatingAllocation } from '../../schemas/types.js';

export interface AllocatorReplay {
  names: TopologyNames;
  contentPartitions: number;
  agents: AgentConfig;
  tickMs: number;
  objectives: readonly BusinessObjectives[];
  /** The allocator-input log from offset 0, in order. */
  inputs: readonly AllocatorInput[];
  models?: AllocatorModelPort;
  batchSize: number;
}

export async function replayAllocatorLog(o: AllocatorReplay): Promise<HeatingAllocation[]> {
  await o.models?.restore(null);
  const rule = new RuleScorer();
  const task = new AllocatorTask(
    o.names,
    o.contentPartitions,
    1,
    o.agents,
    o.tickMs,
    () => rule,
    null,
    undefined,
    o.models,
  );
  const out: HeatingAllocation[] = [];
  const collector: Collector = {
    send: (r) => {
      if (r.topic === o.names.allocations) out.push(r.value as HeatingAllocation);
    },
    // What the job set aside (late, refused) it also decided nothing on.
    late: () => {},
    dlq: () => {},
  };
  const rec = (topic: string, offset: number, value: unknown): InRecord => ({
    topic,
    partition: 0,
    offset,
    key: null,
    value,
    timestamp: 0,
  });
  if (o.objectives.length > 0)
    task.process(
      o.objectives.map((v, i) => rec(o.names.objectives, i, v)),
      collector,
    );
  for (let i = 0; i < o.inputs.length; i += o.batchSize)
    task.process(
      o.inputs.slice(i, i + o.batchSize).map((v, k) => rec(o.names.allocatorInput, i + k, v)),
      collector,
    );
  return out;
}
