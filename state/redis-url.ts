// The Redis topology from one URL, so REDIS_URL alone says where the state lives:
//   redis[s]://[user:pass@]host:port[/db]                        one server (ioredis parses it)
//   redis[s]+sentinel://[user:pass@]h1:26379,h2:26379/<name>[/db] Sentinel: the master <name>
//   redis[s]+cluster://[user:pass@]h1:6379,h2:6379               Cluster: seed nodes
// Credentials in the URL are the data nodes' (URL-encoded); separate settings may override them.
import { ConfigError } from '../core/errors.js';

export interface RedisNode {
  host: string;
  port: number;
}

interface Common {
  tls: boolean;
  username?: string;
  password?: string;
}

export type RedisTopology =
  | (Common & { mode: 'standalone'; url: string })
  | (Common & { mode: 'sentinel'; sentinels: RedisNode[]; masterName: string; db: number })
  | (Common & { mode: 'cluster'; nodes: RedisNode[] });

const MULTI = /^(rediss?)\+(sentinel|cluster):\/\/(?:([^@/]*)@)?([^/?#]+)(?:\/([^?#]*))?$/;

/** Parses a Redis URL; a malformed one is a ConfigError naming `key`. */
export function parseRedisUrl(url: string, key = 'redis.url'): RedisTopology {
  const bad = (why: string) => new ConfigError(key, `${why} (got "${redactUrl(url)}")`);
  if (/^rediss?:\/\//.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw bad('not a URL');
    }
    return {
      mode: 'standalone',
      url,
      tls: u.protocol === 'rediss:',
      ...credentials(u.username, u.password),
    };
  }
  const m = MULTI.exec(url);
  if (!m)
    throw bad(
      'expected redis[s]://host:port, redis[s]+sentinel://h:p,h:p/<master> or redis[s]+cluster://h:p,h:p',
    );
  const [, scheme, mode, userinfo, hostList, path] = m;
  const nodes = hostList.split(',').map((hp) => {
    const n = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(hp.trim());
    if (!n || Number(n[2]) > 65535) throw bad(`"${hp}" is not host:port`);
    return { host: n[1].replace(/^\[|\]$/g, ''), port: Number(n[2]) };
  });
  const [user, pass] = userinfo === undefined ? [] : splitUserinfo(userinfo);
  const common = { tls: scheme === 'rediss', ...credentials(user, pass) };
  const segments = (path ?? '').split('/').filter(Boolean);
  if (mode === 'cluster') {
    if (segments.length > 0) throw bad('a cluster URL has no path (Redis Cluster has only db 0)');
    return { mode, nodes, ...common };
  }
  if (segments.length === 0 || segments.length > 2) throw bad('a sentinel URL ends with /<master name>[/db]');
  const db = segments.length === 2 ? Number(segments[1]) : 0;
  if (!Number.isInteger(db) || db < 0) throw bad(`"${segments[1]}" is not a database number`);
  return { mode: 'sentinel', sentinels: nodes, masterName: decodeURIComponent(segments[0]), db, ...common };
}

/** The URL with any password replaced by `***`, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:@/]*):[^@/]*@/, '$1:***@');
}

function splitUserinfo(userinfo: string): [string, string | undefined] {
  const i = userinfo.indexOf(':');
  return i < 0 ? [userinfo, undefined] : [userinfo.slice(0, i), userinfo.slice(i + 1)];
}

function credentials(user?: string, pass?: string): { username?: string; password?: string } {
  return {
    ...(user ? { username: decodeURIComponent(user) } : {}),
    ...(pass ? { password: decodeURIComponent(pass) } : {}),
  };
}
