// The agents' public surface (pure domain logic, no I/O): see docs/AGENTS.md.
export * from './config.js';
export * from './scorer.js';
export * from './user.js';
export * from './rule-explore.js';
export * from './audience.js';
export * from './content.js';
export * from './anticheat.js';
export * from './allocation-features.js';
export * from './rule-scorer.js';
export * from './evidence.js';
export * from './system.js';
export * from './reward-weights.js';
