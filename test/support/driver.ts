// Shared helpers for tests that drive the real graph in memory.
import type { RecordSerde } from '../../pipelines/task.js';
import assert from 'node:assert/strict';
import { parseAgentConfig } from '../../agents/config.js';
import { RuleScorer } from '../../agents/rule-scorer.js';
import type { GraphSettings } from '../../pipelines/task-factory.js';
import { ThermostatTestDriver, type TestDriverOptions } from '../../pipelines/test-driver.js';
import { topologyNames } from '../../pipelines/topology.js';
import { wireSerde } from '../../pipelines/wire-serde.js';
import type { ContentPublished, UserInteraction } from '../../schemas/types.js';

/** The production serde: Confluent wire format, local registry, validation. */
export function testSerde(): RecordSerde {
  return wireSerde(topologyNames('thermostat'));
}

/** One partition per topic, the shipped agent rules and the rule scorer: the graph of task-level tests. */
export function singlePartitionSettings(
  names: GraphSettings['names'],
  over: Partial<GraphSettings> = {},
): GraphSettings {
  return {
    names,
    partitions: 1,
    objectivesPartitions: 1,
    agents: parseAgentConfig({}),
    timing: { tickMs: 60_000, outOfOrdernessMs: 0, allowedLatenessMs: 0 },
    seed: 1,
    cacheMaxEntries: 1_000_000,
    scorer: () => new RuleScorer(),
    ...over,
  };
}

export function createDriver(opts: Partial<TestDriverOptions> = {}): Promise<ThermostatTestDriver> {
  return ThermostatTestDriver.create({ serde: testSerde(), ...opts });
}

let seq = 0;
export function interaction(
  p: Partial<UserInteraction> & { user_id: string; content_id: string; event_time: number },
): UserInteraction {
  return {
    event_id: p.event_id ?? `e${++seq}`,
    category: 'tech',
    click: false,
    dwell_ms: 1000,
    completion: 0.5,
    shared: false,
    is_new_content: true,
    heated: false,
    allocation_id: null,
    user_registered_at: 0,
    ...p,
  };
}

export function publication(p: Partial<ContentPublished> & { content_id: string }): ContentPublished {
  return {
    creator_id: 'cr1',
    category: 'tech',
    quality_score: 0.5,
    published_at: 0,
    creator_followers: null,
    ...p,
  };
}

/** Asserts a HeatingAllocation carries every field SPEC §2 names. */
export function assertAllocationFields(a: object): void {
  const fields = [
    'allocation_id',
    'content_id',
    'creator_id',
    'category',
    'valid_from',
    'valid_until',
    'impressions',
    'bid_price',
    'cost',
    'score',
    'target',
    'policy',
    'model_version',
    'reward_weights',
    'emitted_at',
  ];
  for (const f of fields) assert.ok(f in a, `field ${f}`);
}
