// Shared by the operator specs: a TestScheduler that compares with node:assert.
import assert from 'node:assert/strict';
import { TestScheduler, type RunHelpers } from 'rxjs/testing';

export function marbles(fn: (helpers: RunHelpers) => void): void {
  new TestScheduler((actual, expected) => assert.deepEqual(actual, expected)).run(fn);
}
