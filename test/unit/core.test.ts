import { test } from 'node:test';
import assert from 'node:assert/strict';
import { murmur2, partitionForKey, hash64Hex } from '../../core/hash.js';
import { Rng, keyedUniform } from '../../core/rng.js';
import { loadRuntimeConfig } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { renderTypes } from '../../scripts/gen-types.js';
import { readFileSync } from 'node:fs';

test('murmur2 matches the Kafka Java client for known keys', () => {
  // Vectors from the Kafka Java client's UtilsTest.testMurmur2.
  const cases: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ];
  for (const [k, want] of cases) assert.equal(murmur2(new TextEncoder().encode(k)), want, k);
  assert.equal(partitionForKey('foobar', 6), (-790332482 & 0x7fffffff) % 6);
});

test('keyed draws depend only on their key, and the seeded RNG replays', () => {
  assert.equal(keyedUniform(7, 'c1', 3), keyedUniform(7, 'c1', 3));
  assert.notEqual(keyedUniform(7, 'c1', 3), keyedUniform(7, 'c1', 4));
  const a = new Rng(1);
  const b = new Rng(1);
  for (let i = 0; i < 100; i++) assert.equal(a.next(), b.next());
  assert.equal(hash64Hex('x@1').length, 16);
});

test('config fails fast naming the offending key', () => {
  assert.throws(
    () => loadRuntimeConfig({ env: { THERMOSTAT_TICK_MS: 'soon' } }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match((e as Error).message, /tickMs \(env THERMOSTAT_TICK_MS\)/);
      return true;
    },
  );
  assert.throws(
    () => loadRuntimeConfig({ env: {}, overrides: { kafka: { inputPartitions: 0 } } }),
    /kafka\.inputPartitions/,
  );
  const cfg = loadRuntimeConfig({ env: { KAFKA_BROKERS: 'k:9092' } });
  assert.equal(cfg.kafka.brokers, 'k:9092');
  assert.equal(cfg.kafka.inputPartitions, 6);
  assert.equal(cfg.kafka.instanceId, undefined);
  assert.equal(
    loadRuntimeConfig({ env: { THERMOSTAT_INSTANCE_ID: 'thermostat-0' } }).kafka.instanceId,
    'thermostat-0',
  );
  assert.throws(() => loadRuntimeConfig({ env: { THERMOSTAT_INSTANCE_ID: 'a b' } }), /kafka\.instanceId/);
});

test('idle TTLs: 30 days by default, 0 turns expiry off, a bad value fails naming its key', () => {
  const d = loadRuntimeConfig({ env: {} });
  assert.deepEqual([d.state.userIdleTtlMs, d.state.contentIdleTtlMs], [2_592_000_000, 2_592_000_000]);
  const off = loadRuntimeConfig({
    env: { THERMOSTAT_USER_IDLE_TTL_MS: '0', THERMOSTAT_CONTENT_IDLE_TTL_MS: '0' },
  });
  assert.deepEqual([off.state.userIdleTtlMs, off.state.contentIdleTtlMs], [0, 0]);
  assert.throws(
    () => loadRuntimeConfig({ env: { THERMOSTAT_USER_IDLE_TTL_MS: '30d' } }),
    /state\.userIdleTtlMs \(env THERMOSTAT_USER_IDLE_TTL_MS\)/,
  );
  assert.throws(
    () => loadRuntimeConfig({ env: {}, overrides: { state: { userIdleTtlMs: -1 } } }),
    /state\.userIdleTtlMs/,
  );
  assert.throws(
    () => loadRuntimeConfig({ env: {}, overrides: { state: { contentIdleTtlMs: 'a month' } } }),
    /state\.contentIdleTtlMs/,
  );
  // A content still heating is never reset: its TTL must exceed the heating age.
  assert.throws(
    () => loadRuntimeConfig({ env: { THERMOSTAT_CONTENT_IDLE_TTL_MS: String(86_400_000) } }),
    (e: unknown) =>
      e instanceof ConfigError && /state\.contentIdleTtlMs.*maxHeatingAgeMs/.test((e as Error).message),
  );
});

test('hostile-input bounds and the HTTP bind address come from the environment, validated by key', () => {
  const d = loadRuntimeConfig({ env: {} });
  assert.deepEqual(
    [d.http.host, d.kafka.maxRecordBytes, d.kafka.partitionMismatch, d.watermark.maxAheadMs],
    ['0.0.0.0', 262_144, 'reroute', 300_000],
  );
  assert.deepEqual([d.watermark.aheadPolicy, d.watermark.idleMaxLagMs], ['dlq', 60_000]);
  assert.deepEqual([d.redis.maxParkedRecords, d.redis.degradedReadyLimitMs], [50_000, 300_000]);
  const c = loadRuntimeConfig({
    env: {
      THERMOSTAT_HTTP_HOST: '127.0.0.1',
      THERMOSTAT_MAX_RECORD_BYTES: '65536',
      THERMOSTAT_PARTITION_MISMATCH: 'dlq',
      THERMOSTAT_WATERMARK_AHEAD_POLICY: 'clamp',
      THERMOSTAT_WATERMARK_MAX_AHEAD_MS: '60000',
      THERMOSTAT_WATERMARK_IDLE_MAX_LAG_MS: '30000',
      THERMOSTAT_MAX_PARKED_RECORDS: '1000',
      THERMOSTAT_DEGRADED_READY_LIMIT_MS: '10000',
    },
  });
  assert.deepEqual(
    [c.http.host, c.kafka.maxRecordBytes, c.kafka.partitionMismatch, c.watermark.aheadPolicy],
    ['127.0.0.1', 65_536, 'dlq', 'clamp'],
  );
  assert.deepEqual(
    [
      c.watermark.maxAheadMs,
      c.watermark.idleMaxLagMs,
      c.redis.maxParkedRecords,
      c.redis.degradedReadyLimitMs,
    ],
    [60_000, 30_000, 1000, 10_000],
  );
  assert.throws(
    () => loadRuntimeConfig({ env: { THERMOSTAT_PARTITION_MISMATCH: 'drop' } }),
    /kafka\.partitionMismatch/,
  );
  assert.throws(
    () => loadRuntimeConfig({ env: { THERMOSTAT_MAX_RECORD_BYTES: '2000000' } }),
    /kafka\.maxRecordBytes/,
  );
  assert.throws(
    () => loadRuntimeConfig({ env: { THERMOSTAT_WATERMARK_AHEAD_POLICY: 'x' } }),
    /watermark\.aheadPolicy/,
  );
});

test('the busy checkpoint trigger: 100 ms by default, 0 turns it off, a bad value names its key', () => {
  assert.equal(loadRuntimeConfig({ env: {} }).commitMinIntervalMs, 100);
  assert.equal(loadRuntimeConfig({ env: { THERMOSTAT_COMMIT_MIN_INTERVAL_MS: '0' } }).commitMinIntervalMs, 0);
  assert.throws(
    () => loadRuntimeConfig({ env: { THERMOSTAT_COMMIT_MIN_INTERVAL_MS: '-1' } }),
    /commitMinIntervalMs \(env THERMOSTAT_COMMIT_MIN_INTERVAL_MS\)/,
  );
});

test('agent rules come from the config file and a bad one names its key', async () => {
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  const file = join(dir, 'thermostat.json');
  writeFileSync(file, JSON.stringify({ tickMs: 30000, agents: { system: { heatingCap: 0.15 } } }));
  const cfg = loadRuntimeConfig({ env: { THERMOSTAT_CONFIG: file } });
  assert.equal(cfg.tickMs, 30000);
  assert.equal(cfg.agents.system.heatingCap, 0.15);
  writeFileSync(file, JSON.stringify({ agents: { system: { heatingCap: 3 } } }));
  assert.throws(() => loadRuntimeConfig({ env: { THERMOSTAT_CONFIG: file } }), /agents\.system\.heatingCap/);
});

test('the learn section comes from the config file, the environment wins, a bad value names its key', async () => {
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'cfg-')), 'thermostat.json');
  writeFileSync(file, JSON.stringify({ seed: 7, learn: { scorer: 'learned', modelSeq: 4 } }));
  const fromFile = loadRuntimeConfig({ env: { THERMOSTAT_CONFIG: file } }).learn;
  assert.equal(fromFile.scorer, 'learned');
  assert.equal(fromFile.modelSeq, 4);
  assert.equal(fromFile.seed, 7, "the learner's seed follows the job's");
  const both = loadRuntimeConfig({ env: { THERMOSTAT_CONFIG: file, THERMOSTAT_SCORER: 'rule' } });
  assert.equal(both.learn.scorer, 'rule');
  writeFileSync(file, JSON.stringify({ learn: { scorer: 'magic' } }));
  assert.throws(() => loadRuntimeConfig({ env: { THERMOSTAT_CONFIG: file } }), /learn\.scorer/);
  assert.throws(
    () => loadRuntimeConfig({ env: { THERMOSTAT_SCORER: 'magic' } }),
    /learn\.scorer \(env THERMOSTAT_SCORER\)/,
  );
});

test('an unknown key in the config file fails at start and is named', async () => {
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'cfg-')), 'thermostat.json');
  writeFileSync(file, JSON.stringify({ tickMs: 30000, comitIntervalMs: 500 }));
  assert.throws(
    () => loadRuntimeConfig({ env: { THERMOSTAT_CONFIG: file } }),
    (e: unknown) => e instanceof ConfigError && /comitIntervalMs/.test(e.message),
  );
  writeFileSync(file, JSON.stringify({ agents: { system: { heatingCapp: 0.15 } } }));
  assert.throws(() => loadRuntimeConfig({ env: { THERMOSTAT_CONFIG: file } }), /agents\.system\.heatingCapp/);
  writeFileSync(file, JSON.stringify({ kafka: { broker: 'x:9092' } }));
  assert.throws(
    () => loadRuntimeConfig({ env: { THERMOSTAT_CONFIG: file } }),
    (e: unknown) => e instanceof ConfigError && /kafka\.broker\b/.test(e.message),
  );
});

test('schemas/types.ts is generated from the current .avsc files', () => {
  const current = readFileSync(new URL('../../schemas/types.ts', import.meta.url), 'utf8');
  assert.equal(current, renderTypes(), 'run `npm run gen:types`');
});
