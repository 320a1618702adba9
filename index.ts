// Package entry: what outside users import. The test driver runs the real graph in-process.
export { ThermostatTestDriver, type TestDriverOptions, type DeadLetter } from './pipelines/test-driver.js';
export { topologyNames, PUBLIC_TOPICS, dlqTopic, type TopologyNames } from './pipelines/topology.js';
export type * from './schemas/types.js';
export { ThermostatError, ERROR_REASONS, type ErrorReason } from './core/errors.js';
export { userMindKey, contentStateKey, activeAllocationsKey } from './state/keys.js';
export {
  HeatingServer,
  DEFAULT_SERVING_CONFIG,
  type ServingConfig,
  type HeatRequest,
  type HeatPick,
} from './serving/heating-server.js';
export { mindStateFromHash } from './serving/mind-state.js';
