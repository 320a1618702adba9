import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { Registry } from 'prom-client';
import { ConfigError } from '../../../core/errors.js';
import { createMetrics } from '../../../core/metrics.js';
import { selectBackend, loadWasmBackend, loadCpuBackend } from '../../../learn/backend.js';
import { learnConfig } from '../../support/config.js';

const gpuPackageInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node-gpu');
    return true;
  } catch {
    return false;
  }
})();

async function backendGauge(m: ReturnType<typeof createMetrics>): Promise<Record<string, number>> {
  return Object.fromEntries((await m.backend.get()).values.map((v) => [String(v.labels.backend), v.value]));
}

test(
  'auto without the GPU package falls back to wasm, logs why, exports the metric',
  { skip: gpuPackageInstalled && 'tfjs-node-gpu is installed here' },
  async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    const logged: unknown[] = [];
    const logger = { info: (o: unknown) => logged.push(o), warn: (o: unknown) => logged.push(o) } as never;
    const sel = await selectBackend({ metrics, logger });
    assert.equal(sel.requested, 'auto');
    assert.equal(sel.backend, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(sel.attempts[0].backend, 'tensorflow');
    assert.equal(sel.attempts[0].ok, false);
    assert.match(sel.attempts[0].error ?? '', /tfjs-node-gpu is not installed/);
    assert.deepEqual(await backendGauge(metrics), { tensorflow: 0, webgpu: 0, wasm: 1, cpu: 0 });
    assert.ok(
      logged.some(
        (o) =>
          (o as { event?: string; backend?: string }).event === 'tfjs.backend' &&
          (o as { backend?: string }).backend === 'wasm',
      ),
    );
    // a real op runs on it
    assert.deepEqual(
      Array.from(tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([3, 1])).dataSync())),
      [3, 3],
    );
  },
);

test(
  'an explicit gpu request that cannot load fails fast naming THERMOSTAT_TF_BACKEND',
  { skip: gpuPackageInstalled && 'tfjs-node-gpu is installed here' },
  async () => {
    await assert.rejects(selectBackend({ requested: 'gpu' }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.reason, 'CONFIG');
      assert.match(e.message, /THERMOSTAT_TF_BACKEND/);
      assert.match(
        e.message,
        /"gpu" was requested but cannot load: @tensorflow\/tfjs-node-gpu is not installed/,
      );
      return true;
    });
    await assert.rejects(
      selectBackend({ requested: learnConfig({ THERMOSTAT_TF_BACKEND: 'gpu' }).backend }),
      ConfigError,
    );
  },
);

test('a GPU package without a usable GPU is refused; wasm failing falls back to pure-JS cpu', async () => {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const sel = await selectBackend({
    requested: 'auto',
    metrics,
    loaders: {
      gpu: async () => {
        throw new Error(
          '@tensorflow/tfjs-node-gpu loaded but no CUDA GPU device is in use (isUsingGpuDevice=false)',
        );
      },
      wasm: async () => {
        throw new Error('wasm binary missing');
      },
    },
  });
  assert.equal(sel.backend, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.deepEqual(
    sel.attempts.map((a) => [a.backend, a.ok]),
    [
      ['tensorflow', false],
      ['wasm', false],
      ['cpu', true],
    ],
  );
  assert.deepEqual(await backendGauge(metrics), { tensorflow: 0, webgpu: 0, wasm: 0, cpu: 1 });
  await loadWasmBackend(); // the real loaders switch back and forth
  assert.equal(tf.getBackend(), 'wasm');
  await loadCpuBackend();
  assert.equal(tf.getBackend(), 'cpu');
});

test('webgpu: never tried by auto; an explicit request without a usable GPU fails fast with the reason', async () => {
  const sel = await selectBackend({ requested: 'auto' });
  assert.ok(!sel.attempts.some((a) => a.backend === 'webgpu'));
  assert.equal(learnConfig({ THERMOSTAT_TF_BACKEND: 'WebGPU' }).backend, 'webgpu');
  // Here (CI): the optional packages are absent, or Dawn finds no adapter, or only a software one.
  await assert.rejects(selectBackend({ requested: 'webgpu' }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /THERMOSTAT_TF_BACKEND/);
    assert.match(
      e.message,
      /"webgpu" was requested but cannot load: (webgpu is not installed|webgpu: no WebGPU adapter|webgpu: only a software adapter)/,
    );
    return true;
  });
  assert.notEqual(tf.getBackend(), 'webgpu');
});

test('the override comes from THERMOSTAT_TF_BACKEND; a bad value names the key', async () => {
  const requested = (env: Record<string, string>) => learnConfig(env).backend;
  assert.equal(
    (await selectBackend({ requested: requested({ THERMOSTAT_TF_BACKEND: 'cpu' }) })).backend,
    'cpu',
  );
  assert.equal(
    (await selectBackend({ requested: requested({ THERMOSTAT_TF_BACKEND: 'WASM' }) })).backend,
    'wasm',
  );
  assert.equal(requested({}), 'auto');
  assert.throws(
    () => requested({ THERMOSTAT_TF_BACKEND: 'tpu' }),
    (e: unknown) =>
      e instanceof ConfigError &&
      /THERMOSTAT_TF_BACKEND/.test(e.message) &&
      /auto.*gpu.*webgpu.*wasm.*cpu/.test(e.message),
  );
  assert.equal(learnConfig({ THERMOSTAT_TF_BACKEND: 'cpu' }).backend, 'cpu');
  assert.throws(
    () => learnConfig({ THERMOSTAT_TF_BACKEND: 'tpu' }),
    (e: unknown) =>
      e instanceof ConfigError && /learn\.backend \(env THERMOSTAT_TF_BACKEND\)/.test(e.message),
  );
  assert.throws(
    () => learnConfig({ THERMOSTAT_LLM_ENABLED: 'true' }),
    (e: unknown) => e instanceof ConfigError && /learn\.llm\.url/.test(e.message),
  );
  assert.throws(
    () => learnConfig({ THERMOSTAT_LLM_TIMEOUT_MS: 'soon' }),
    (e: unknown) => e instanceof ConfigError && /THERMOSTAT_LLM_TIMEOUT_MS/.test(e.message),
  );
});
