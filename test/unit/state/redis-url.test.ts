import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRedisUrl, redactUrl } from '../../../state/redis-url.js';
import { loadRuntimeConfig } from '../../../core/config.js';

test('one server: the URL as ioredis reads it, TLS from rediss://, credentials decoded', () => {
  assert.deepEqual(parseRedisUrl('redis://127.0.0.1:6379/2'), {
    mode: 'standalone',
    url: 'redis://127.0.0.1:6379/2',
    tls: false,
  });
  assert.deepEqual(parseRedisUrl('rediss://app:p%40ss@redis.internal:6380'), {
    mode: 'standalone',
    url: 'rediss://app:p%40ss@redis.internal:6380',
    tls: true,
    username: 'app',
    password: 'p@ss',
  });
});

test('Sentinel: the sentinels, the master name, an optional db and the data nodes’ credentials', () => {
  assert.deepEqual(
    parseRedisUrl('redis+sentinel://:s%3Acret@10.0.0.1:26379,sentinel-b:26380,[::1]:26381/mymaster/3'),
    {
      mode: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'sentinel-b', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      masterName: 'mymaster',
      db: 3,
      tls: false,
      password: 's:cret',
    },
  );
  assert.equal((parseRedisUrl('redis+sentinel://s:26379/thermostat') as { db: number }).db, 0);
});

test('Cluster: the seed nodes; TLS from rediss+cluster://', () => {
  assert.deepEqual(parseRedisUrl('rediss+cluster://user:pw@a:7000,b:7001'), {
    mode: 'cluster',
    nodes: [
      { host: 'a', port: 7000 },
      { host: 'b', port: 7001 },
    ],
    tls: true,
    username: 'user',
    password: 'pw',
  });
});

test('malformed URLs name redis.url and never print the password', () => {
  for (const [url, why] of [
    ['redis+sentinel://:hunter2@a:26379', /ends with \/<master name>/],
    ['redis+sentinel://a:26379/m/x', /"x" is not a database number/],
    ['redis+cluster://a:7000/1', /has no path/],
    ['redis+cluster://a,b:7001', /"a" is not host:port/],
    ['redis+cluster://a:99999', /"a:99999" is not host:port/],
    ['memcached://a:1', /expected redis\[s\]:\/\/host:port/],
  ] as const) {
    assert.throws(
      () => parseRedisUrl(url),
      (e: Error) =>
        /^invalid configuration redis\.url: /.test(e.message) &&
        why.test(e.message) &&
        !/hunter2/.test(e.message),
      url,
    );
  }
  assert.equal(redactUrl('redis+sentinel://u:hunter2@a:1/m'), 'redis+sentinel://u:***@a:1/m');
});

test('configuration: REDIS_URL takes every topology; credentials from their own variables', () => {
  const cfg = loadRuntimeConfig({
    env: { REDIS_URL: 'redis+cluster://a:7000', REDIS_PASSWORD: 'pw', REDIS_SENTINEL_PASSWORD: 'spw' },
  });
  assert.deepEqual(
    [cfg.redis.url, cfg.redis.password, cfg.redis.sentinelPassword],
    ['redis+cluster://a:7000', 'pw', 'spw'],
  );
  assert.throws(
    () => loadRuntimeConfig({ env: { REDIS_URL: 'http://a:1' } }),
    /invalid configuration redis\.url/,
  );
});
