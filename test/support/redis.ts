// One private redis-server (bench/support/redis-server.ts) per test file.
import { after, before } from 'node:test';
import type { Redis } from 'ioredis';
import { TestRedis, type TestRedisOptions } from '../../bench/support/redis-server.js';

/**
 * One private redis-server for a whole test file: started before its tests, stopped after them,
 * with a plain assertion client (`raw`); clients passed to `track` are disconnected at the end.
 */
export function useFileRedis(opts: TestRedisOptions = {}): {
  readonly server: TestRedis;
  readonly raw: Redis;
  track<C extends { disconnect(): void }>(client: C): C;
} {
  let server: TestRedis | undefined;
  let raw: Redis | undefined;
  const clients: { disconnect(): void }[] = [];
  before(async () => {
    server = await TestRedis.start(opts);
    raw = server.client();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    raw?.disconnect();
    await server?.dispose();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('useFileRedis: the server starts in the before() hook');
    return v;
  };
  return {
    get server() {
      return started(server);
    },
    get raw() {
      return started(raw);
    },
    track(client) {
      clients.push(client);
      return client;
    },
  };
}
