// Credentials of the state client: REDIS_USERNAME / REDIS_PASSWORD (from a Secret) override the
// URL's, and need no URL encoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectStateRedis, createStateRedis } from '../../../state/redis-options.js';
import { TestRedis } from '../../../bench/support/redis-server.js';

test('password and ACL user from the settings reach a server that requires them', async (t) => {
  const password = 'p@ss/w:rd %';
  const server = await TestRedis.start({ args: ['--user', 'app', 'on', `>${password}`, '~*', '+@all'] });
  t.after(() => server.dispose());
  const ok = await connectStateRedis({ url: server.url, username: 'app', password });
  t.after(() => ok.disconnect());
  assert.equal(await ok.set('k', 'v'), 'OK');
  assert.equal(await ok.call('ACL', 'WHOAMI'), 'app');
  // The settings win over credentials in the URL.
  const u = new URL(server.url);
  u.username = 'app';
  u.password = 'wrong';
  const overridden = await connectStateRedis({ url: u.toString(), password });
  t.after(() => overridden.disconnect());
  assert.equal(await overridden.get('k'), 'v');
  // Wrong credentials on a client that is running (a rotated password): it reports the refusal
  // (the job logs it) and keeps retrying. At start the job fails at once (redis-start.test.ts).
  const errors: string[] = [];
  const refused = createStateRedis({ url: server.url, username: 'app', password: 'wrong' });
  refused.on('error', (e: Error) => errors.push(e.message));
  t.after(() => refused.disconnect());
  refused.connect().catch(() => undefined);
  for (const end = Date.now() + 5000; errors.length === 0 && Date.now() < end;)
    await new Promise((r) => setTimeout(r, 20));
  assert.match(errors[0] ?? '', /WRONGPASS/);
});
