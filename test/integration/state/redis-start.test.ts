// `thermostat run` (a child process) with a Redis it cannot use ends its start at once with one
// line naming the address, never the password: refused credentials are a configuration error
// (exit 2, without waiting for the bound), no answer within redis.connectTimeoutMs is an
// unreachable dependency (exit 1). Before, the job retried forever, logging warnings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobProcess } from '../../../bench/support/job-process.js';
import { uniqueName } from '../../support/kafka.js';
import { freePort, TestRedis } from '../../../bench/support/redis-server.js';
import { ensureStack } from '../../support/stack.js';

/** Runs the job against `redisUrl` until it exits; its exit, output and run time. */
async function start(redisUrl: string, env: Record<string, string>) {
  const { brokers } = ensureStack();
  const appId = uniqueName('redis-start');
  const started = Date.now();
  const job = JobProcess.spawn({
    brokers,
    appId,
    topicPrefix: `${appId}.`,
    redisUrl,
    httpPort: await freePort(),
    env,
  });
  try {
    const exit = await Promise.race([
      job.exited,
      new Promise<null>((r) => setTimeout(() => r(null), 60_000)),
    ]);
    return { exit, output: job.outputTail.trim(), ms: Date.now() - started };
  } finally {
    await job.dispose();
  }
}

test('refused credentials: exit 2 at once, one line naming the key and the address, not the password', async (t) => {
  const server = await TestRedis.start({ args: ['--user', 'app', 'on', '>the-right-one', '~*', '+@all'] });
  t.after(() => server.dispose());
  const url = `redis://app:a-wrong-secret@127.0.0.1:${server.port}`;
  const r = await start(url, { REDIS_CONNECT_TIMEOUT_MS: '120000' });
  assert.deepEqual(r.exit, { code: 2, signal: null }, r.output);
  assert.match(
    r.output,
    new RegExp(
      `^thermostat: invalid configuration redis\\.password: Redis at redis://app:\\*\\*\\*@127\\.0\\.0\\.1:${server.port} refused the credentials \\(WRONGPASS [^\\n]*\\)$`,
    ),
  );
  assert.ok(!r.output.includes('a-wrong-secret'), 'the password is not printed');
  assert.ok(r.ms < 60_000, `exited after ${r.ms} ms, long before the 120 s bound`);
});

test('every sentinel down: exit 1 after redis.connectTimeoutMs, one line naming the sentinels', async () => {
  const url = `redis+sentinel://127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}/thermostat`;
  const r = await start(url, { REDIS_CONNECT_TIMEOUT_MS: '2000' });
  assert.deepEqual(r.exit, { code: 1, signal: null }, r.output);
  assert.equal(
    r.output,
    `thermostat: cannot reach Redis at ${url} within 2 s (All sentinels are unreachable. Last error: Connection is closed.)`,
  );
});
