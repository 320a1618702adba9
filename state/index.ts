// The state layer's public surface (see docs/STATE.md).
export * from './store.js';
export * from './keys.js';
export * from './codecs.js';
export {
  VersionedCache,
  recordCacheGauges,
  type BatchLoader,
  type CacheStats,
  type VersionedCacheOptions,
  type TaskCache,
} from './versioned-cache.js';
export { CompactUserStore, type CompactUserStoreOptions } from './compact-user-store.js';
export { RedisCheckpointStore, type RedisCheckpointStoreOptions } from './redis-checkpoint.js';
export { MemoryCheckpointStore } from './memory-checkpoint.js';
export {
  WriteBehind,
  type Checkpoint,
  type DrainableStore,
  type Health,
  type WriteBehindOptions,
  type WriteBehindStats,
} from './write-behind.js';
export { connectStateRedis, stateRedisOptions, type StateRedisTuning } from './redis-options.js';
