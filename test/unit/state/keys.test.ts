import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  activeAllocationsKey,
  contentStateKey,
  stateKey,
  taskKey,
  userMindKey,
} from '../../../state/keys.js';
import { activeAllocationsCodec, parseActiveAllocations, userMindCodec } from '../../../state/codecs.js';
import { partitionForKey } from '../../../core/hash.js';
import type { UserMindState } from '../../../schemas/types.js';

test('keys carry the task hash tag; userMindKey uses the Kafka murmur2 partition', () => {
  assert.equal(taskKey('thermostat', { stage: 'user', partition: 3 }), '{thermostat.user.3}:task');
  assert.equal(
    stateKey('app', { stage: 'content', partition: 0 }, 'content', 'c9'),
    '{app.content.0}:content:c9',
  );
  // 'foobar' → murmur2 -790332482 (Kafka test vector) → partition 0 of 6.
  assert.equal(partitionForKey('foobar', 6), 0);
  assert.equal(userMindKey('thermostat', 'foobar', 6), '{thermostat.user.0}:user:foobar');
  assert.equal(contentStateKey('thermostat', 'foobar', 6), '{thermostat.content.0}:content:foobar');
  assert.equal(activeAllocationsKey('thermostat'), '{thermostat.allocator.0}:alloc:active');
});

test('user mind codec writes a readable hash and round-trips exactly; version comes from the key', () => {
  const s: UserMindState = {
    user_id: 'u1',
    exploitation: 0.7,
    curiosity: 0.1 + 0.2,
    fatigue: 0,
    satisfaction: 0.6,
    explore_probability: 1e-7,
    exploration_protected: true,
    interest_breadth: 7,
    version: 42,
    updated_at: 1_700_000_000_123,
  };
  const f = userMindCodec.encode(s);
  assert.deepEqual(f, {
    user_id: 'u1',
    exploitation: '0.7',
    curiosity: '0.30000000000000004',
    fatigue: '0',
    satisfaction: '0.6',
    explore_probability: '1e-7',
    exploration_protected: 'true',
    interest_breadth: '7',
    updated_at: '1700000000123',
  });
  const back = userMindCodec.decode(
    Object.fromEntries(Object.entries(f).map(([k, v]) => [k, Buffer.from(v)])),
    42,
  );
  assert.deepEqual(back, s);
});

test('active allocations: one field per allocation id; the ranker parser skips version/epoch', () => {
  const m = new Map([['00ab', { content_id: 'c1', remaining: 120, valid_until: 5000 }]]);
  const f = activeAllocationsCodec.encode(m);
  assert.deepEqual(f, { '00ab': '{"content_id":"c1","remaining":120,"valid_until":5000}' });
  assert.deepEqual(parseActiveAllocations({ ...f, version: '3', epoch: '2' }), m);
});
