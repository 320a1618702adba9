// Package entry: what outside users import (docs/CONTRACT.md says how a ranker uses it).

// The graph in-process: the test driver runs the real three stages without a broker.
export { ThermostatTestDriver, type TestDriverOptions, type DeadLetter } from './pipelines/test-driver.js';
export { topologyNames, PUBLIC_TOPICS, dlqTopic, type TopologyNames } from './pipelines/topology.js';
export type * from './schemas/types.js';
export { ThermostatError, ConfigError, ERROR_REASONS, type ErrorReason } from './core/errors.js';

// Records on the wire: Confluent wire format, local or HTTP schema registry.
export { wireSerde } from './pipelines/wire-serde.js';
export { Serde, type Decoded } from './io/serde.js';
export { LocalSchemaRegistry } from './io/registry-local.js';
export { HttpSchemaRegistry } from './io/registry-http.js';
export type { SchemaRegistry, RegisteredSchema } from './io/registry.js';
export { DLQ_HEADERS } from './io/dlq.js';

// Ranker side: where a key lives, the job's outputs as a ranker reads them.
export { partitionForKey, murmur2 } from './core/hash.js';
export { userMindKey, contentStateKey, activeAllocationsKey } from './state/keys.js';
export { parseActiveAllocations, type ActiveAllocation } from './state/codecs.js';
export { ActiveAllocationsView } from './ranker/allocations-view.js';
export {
  followAllocations,
  type FollowAllocationsOptions,
  type AllocationsFollower,
} from './ranker/follow-allocations.js';
export {
  readUserMind,
  readContentState,
  readActiveAllocations,
  type HashReader,
} from './ranker/redis-reads.js';

// Serving: which heated item, if any, to show a user now (serving/).
export {
  HeatingServer,
  DEFAULT_SERVING_CONFIG,
  type ServingConfig,
  type HeatRequest,
  type HeatPick,
} from './serving/heating-server.js';
