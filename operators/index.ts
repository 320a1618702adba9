// Re-exports only: one operator per module, named after its export.
export * from './types.js';
export * from './decodeWithDlq.js';
export * from './withWatermarks.js';
export * from './combineWatermarkMarkers.js';
export * from './releaseBelowWatermark.js';
export * from './dedupeBySourceOffset.js';
export * from './eventTimeTicks.js';
export * from './keyedStateUpdate.js';
