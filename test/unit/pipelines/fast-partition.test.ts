// The in-process transport's allocation-free partitioner must place every key exactly where
// Kafka's murmur2 partitioner (core/hash.ts) does, ASCII or not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partitionForKey } from '../../../core/hash.js';
import { fastPartition } from '../../../runtime/in-process.js';

test('fastPartition equals partitionForKey for ids, odd lengths, non-ASCII and long keys', () => {
  const keys: string[] = ['', 'a', 'ab', 'abc', 'abcd', 'abcde'];
  for (let i = 0; i < 5000; i++) keys.push(`u${i}`, `c${i}`, `ev-7-${i}`, `cr${i * 7919}`);
  keys.push(
    'é',
    'naïve-user',
    '用户42',
    '😀x',
    'x'.repeat(255),
    'y'.repeat(256),
    'z'.repeat(1000),
    'mixé'.repeat(100),
  );
  for (const k of keys)
    for (const n of [1, 2, 6, 7, 32, 100])
      assert.equal(
        fastPartition(k, n),
        partitionForKey(k, n),
        `key ${JSON.stringify(k).slice(0, 40)} / ${n}`,
      );
});
