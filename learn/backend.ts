// TensorFlow.js backend selection, once at start (SPEC §3 "Learning").
//
//   auto: tfjs-node-gpu (installed AND a CUDA GPU really in use) → wasm → cpu (pure JS)
//   gpu | webgpu | wasm | cpu: that backend or a ConfigError naming THERMOSTAT_TF_BACKEND (fail fast).
// webgpu (learn/webgpu.ts) is never picked by auto: in Node its tensors are read asynchronously
// only, so it serves the async paths (a scoring thread, the bench), not this thread's sync scoring.
//
// `@tensorflow/tfjs-node-gpu` is an OPTIONAL dependency: it is imported dynamically inside a
// try/catch, through a specifier TypeScript does not resolve, so install, typecheck and tests pass
// without it. tfjs-node-gpu silently runs on the CPU when CUDA is missing; we only accept it when
// its kernel backend reports `isUsingGpuDevice` and a tiny op runs, otherwise we fall through.
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../core/errors.js';
import { LOG_EVENTS, silentLogger, type Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { BackendChoice } from './config.js';
import { loadWebGpuBackend } from './webgpu.js';

/** tfjs backend names as registered with the engine ('tensorflow' is tfjs-node-gpu's). */
export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];
export const BACKEND_ENV = 'THERMOSTAT_TF_BACKEND';
export const BACKEND_CONFIG_KEY = `learn.backend (env ${BACKEND_ENV})`;

export interface BackendAttempt {
  backend: BackendName;
  ok: boolean;
  error?: string;
}

export interface BackendSelection {
  requested: BackendChoice;
  backend: BackendName;
  /** Backends tried in order, with the reason each one was refused. */
  attempts: BackendAttempt[];
}

/**
 * One loader per backend: resolves when `tf.getBackend()` is that backend and usable, throws with a
 * reason otherwise. Injectable so tests can simulate a GPU package that loads without a GPU.
 */
export type BackendLoader = () => Promise<void>;
export interface BackendLoaders {
  gpu: BackendLoader;
  webgpu: BackendLoader;
  wasm: BackendLoader;
  cpu: BackendLoader;
}

// A specifier in a variable: TypeScript does not try to resolve the optional package.
const GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';

/** Loads tfjs-node-gpu and proves a CUDA device is in use. */
export async function loadGpuBackend(): Promise<void> {
  let mod: unknown;
  try {
    mod = await import(GPU_PACKAGE);
  } catch (e) {
    throw new Error(
      `${GPU_PACKAGE} is not installed or failed to load: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  if (!mod) throw new Error(`${GPU_PACKAGE} loaded nothing`);
  if (!(await tf.setBackend('tensorflow')))
    throw new Error(`${GPU_PACKAGE} loaded but the 'tensorflow' backend did not initialise`);
  await tf.ready();
  const kb = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
  if (kb.isUsingGpuDevice !== true)
    throw new Error(`${GPU_PACKAGE} loaded but no CUDA GPU device is in use (isUsingGpuDevice=false)`);
  // A tiny op end to end: a broken CUDA/cuDNN install fails here rather than on the hot path.
  const v = tf.tidy(() => tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).dataSync()[0]);
  if (v !== 2) throw new Error(`${GPU_PACKAGE}: GPU smoke op returned ${v}, expected 2`);
}

/** Directory of the wasm binaries inside the installed package (Node: a file path works). */
export function wasmDistDir(): string {
  const require = createRequire(import.meta.url);
  return (
    path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + path.sep + 'dist' + path.sep
  );
}

export async function loadWasmBackend(): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(wasmDistDir());
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
  await tf.ready();
}

export async function loadCpuBackend(): Promise<void> {
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialise');
  await tf.ready();
}

export const DEFAULT_LOADERS: BackendLoaders = {
  gpu: loadGpuBackend,
  webgpu: () => loadWebGpuBackend(),
  wasm: loadWasmBackend,
  cpu: loadCpuBackend,
};

const NAME_OF: Record<keyof BackendLoaders, BackendName> = {
  gpu: 'tensorflow',
  webgpu: 'webgpu',
  wasm: 'wasm',
  cpu: 'cpu',
};

/** thermostat_tfjs_backend_info: 1 on `active`, 0 on every other backend. */
export function exportBackend(metrics: Pick<Metrics, 'backend'>, active: BackendName): void {
  for (const b of BACKEND_NAMES) metrics.backend.set({ backend: b }, b === active ? 1 : 0);
}

export interface SelectBackendOptions {
  /** The choice (config learn.backend); default auto. */
  requested?: BackendChoice;
  loaders?: Partial<BackendLoaders>;
  logger?: Logger;
  metrics?: Pick<Metrics, 'backend'>;
}

/**
 * Selects and initialises the TF.js backend. auto never throws while the pure-JS cpu backend
 * loads; an explicit choice that cannot load throws a ConfigError naming THERMOSTAT_TF_BACKEND.
 */
export async function selectBackend(opts: SelectBackendOptions = {}): Promise<BackendSelection> {
  const requested = opts.requested ?? 'auto';
  const loaders: BackendLoaders = { ...DEFAULT_LOADERS, ...opts.loaders };
  const log = opts.logger ?? silentLogger;
  const order: (keyof BackendLoaders)[] = requested === 'auto' ? ['gpu', 'wasm', 'cpu'] : [requested];
  const attempts: BackendAttempt[] = [];
  for (const key of order) {
    try {
      await loaders[key]();
      attempts.push({ backend: NAME_OF[key], ok: true });
      const sel: BackendSelection = { requested, backend: NAME_OF[key], attempts };
      if (opts.metrics) {
        exportBackend(opts.metrics, sel.backend);
      }
      log.info(
        { event: LOG_EVENTS.backend, requested, backend: sel.backend, attempts },
        `tfjs backend: ${sel.backend}`,
      );
      return sel;
    } catch (e) {
      const error = (e as Error).message;
      attempts.push({ backend: NAME_OF[key], ok: false, error });
      log.warn(
        { event: LOG_EVENTS.backend, backend: NAME_OF[key], error },
        `tfjs backend ${NAME_OF[key]} unavailable`,
      );
    }
  }
  if (requested !== 'auto') {
    throw new ConfigError(
      BACKEND_CONFIG_KEY,
      `backend "${requested}" was requested but cannot load: ${attempts[0]?.error ?? 'unknown'}; use auto to fall back`,
    );
  }
  throw new ConfigError(
    BACKEND_CONFIG_KEY,
    `no TensorFlow.js backend could load: ${attempts.map((a) => `${a.backend}: ${a.error}`).join('; ')}`,
  );
}
