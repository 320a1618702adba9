// SCAN over a state client of any topology. SCAN walks one server's keyspace: on a Cluster every
// master is scanned in turn (a pattern's keys may live on any of them).
import { Cluster, type Redis } from 'ioredis';
import type { StateRedis } from './redis-options.js';

/** Each SCAN reply's keys (possibly none) with the node that holds them, until every cursor is back at 0. */
export async function* scanKeys(
  redis: StateRedis,
  pattern: string,
  count = 1000,
): AsyncGenerator<{ node: Redis; keys: string[] }> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      yield { node, keys };
    } while (cursor !== '0');
  }
}

/** Deletes every key matching `pattern`; returns how many. Keys of different slots are deleted one by one. */
export async function deleteMatching(redis: StateRedis, pattern: string): Promise<number> {
  let n = 0;
  for await (const { node, keys } of scanKeys(redis, pattern)) {
    if (keys.length === 0) continue;
    if (redis instanceof Cluster) await Promise.all(keys.map((k) => node.del(k)));
    else await node.del(...keys);
    n += keys.length;
  }
  return n;
}
