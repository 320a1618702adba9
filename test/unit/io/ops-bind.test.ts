// The ops server binds where http.host (THERMOSTAT_HTTP_HOST) says, and nowhere else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../../core/metrics.js';
import { loadRuntimeConfig } from '../../../core/config.js';
import { startOpsServer } from '../../../io/http.js';

test('THERMOSTAT_HTTP_HOST binds /metrics, /healthz and /readyz to that address only', async () => {
  const cfg = loadRuntimeConfig({ env: { THERMOSTAT_HTTP_HOST: '127.0.0.2', THERMOSTAT_HTTP_PORT: '0' } });
  const ops = await startOpsServer({
    port: cfg.http.port,
    host: cfg.http.host,
    register: createMetrics().register,
    readiness: () => ({ ready: true }),
  });
  try {
    assert.match(ops.url, /^http:\/\/127\.0\.0\.2:\d+$/);
    assert.equal((await fetch(`${ops.url}/healthz`)).status, 200);
    const port = new URL(ops.url).port;
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'not reachable on another address');
  } finally {
    await ops.close();
  }
});
