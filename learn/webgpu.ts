// A GPU for TensorFlow.js through WebGPU: Dawn's Node binding (the `webgpu` package: Vulkan on
// Linux, Metal on macOS, D3D12 on Windows) under @tensorflow/tfjs-backend-webgpu. It reaches a GPU
// where tfjs-node-gpu cannot install: that package downloads libtensorflow 2.9 built for CUDA 11.2 /
// cuDNN 8 at install, which needs the internet and that CUDA generation.
//
// Neither package is a dependency (Dawn's binary is ≈ 50 MB for all platforms); both are optional,
// installed by `bash scripts/webgpu.sh`, and imported through specifiers TypeScript does not resolve.
//
// In Node a WebGPU tensor can only be read asynchronously: the backend's readSync goes through an
// OffscreenCanvas, which Node lacks. So this backend serves the async paths: `scoreLoadedAsync`
// (learn/allocation-model.ts), a scoring thread the job's synchronous scorer waits on
// (learn/alloc-scorer-pool.ts), and the bench. A software adapter (SwiftShader, lavapipe, llvmpipe)
// is refused: it would be a slower CPU backend under a GPU's name.
import * as tf from '@tensorflow/tfjs';

const DAWN_PACKAGE = 'webgpu';
const TFJS_WEBGPU_PACKAGE = '@tensorflow/tfjs-backend-webgpu';

/** What Dawn reports for the adapter in use (WebGPU's GPUAdapterInfo). */
export interface WebGpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

interface DawnModule {
  create(flags: string[]): { requestAdapter(o?: object): Promise<DawnAdapter | null> };
  globals: Record<string, unknown>;
}
interface DawnAdapter {
  info?: Partial<WebGpuAdapterInfo>;
  isFallbackAdapter?: boolean;
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestDevice(d: { requiredFeatures: string[]; requiredLimits: Record<string, number> }): Promise<unknown>;
}
interface TfjsWebGpuModule {
  WebGPUBackend: new (device: unknown, info: unknown) => tf.KernelBackend;
}

/**
 * Limits asked of the device: what the tfjs backend asks for itself, plus the adapter's storage
 * buffers per shader stage. WebGPU's default is 8, and the gradient-norm clip sums 10 gradients
 * in one addN (11 buffers): under the default that pipeline is invalid and every PPO step fails
 * validation (measured on the H100, docs/results/performance.md).
 */
const DEVICE_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupSizeX',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
];

const SOFTWARE_ADAPTER = /swiftshader|lavapipe|llvmpipe|software|basic render/i;

let loaded: WebGpuAdapterInfo | undefined;
/** Device errors Dawn reported outside any error scope (tfjs opens none): each is a failed op. */
const deviceErrors = { count: 0, first: '' };

/** Device errors so far in this thread, and the first one's text. */
export const webGpuErrors = (): { count: number; first: string } => ({ ...deviceErrors });

/** The adapter the webgpu backend runs on, once loadWebGpuBackend has succeeded in this thread. */
export const webGpuAdapter = (): WebGpuAdapterInfo | undefined => loaded;

/**
 * Makes `webgpu` the tfjs backend of this thread: Dawn's GPU object as `navigator.gpu`, then the
 * tfjs WebGPU backend registered and set, then one op read back. Throws with the reason when a
 * package is missing, no adapter is found, or the adapter is a software one.
 */
export async function loadWebGpuBackend(dawnFlags: string[] = []): Promise<void> {
  if (loaded) {
    if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend did not re-initialise');
    return;
  }
  const dawn = (await importOptional(DAWN_PACKAGE)) as DawnModule;
  const gpu = dawn.create(dawnFlags);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter)
    throw new Error(`${DAWN_PACKAGE}: no WebGPU adapter (Dawn found no usable Vulkan/Metal/D3D12 GPU)`);
  const info: WebGpuAdapterInfo = {
    vendor: adapter.info?.vendor ?? '',
    architecture: adapter.info?.architecture ?? '',
    device: adapter.info?.device ?? '',
    description: adapter.info?.description ?? '',
  };
  if (adapter.isFallbackAdapter === true || SOFTWARE_ADAPTER.test(`${info.vendor} ${info.description}`))
    throw new Error(`${DAWN_PACKAGE}: only a software adapter is available (${describeAdapter(info)})`);
  // Imported BEFORE navigator.gpu exists, so the package registers its kernels but not its own
  // backend factory (which would ask the device for the default limits); ours is below.
  const tfWebGpu = (await importOptional(TFJS_WEBGPU_PACKAGE)) as TfjsWebGpuModule;
  // The backend checks navigator.gpu and uses WebGPU's global constants (GPUBufferUsage, …).
  Object.assign(globalThis, dawn.globals);
  const g = globalThis as { navigator?: object };
  g.navigator ??= {};
  Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  const requiredLimits: Record<string, number> = {};
  for (const k of DEVICE_LIMITS)
    if (typeof adapter.limits[k] === 'number') requiredLimits[k] = adapter.limits[k];
  const requiredFeatures = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
  const device = (await adapter.requestDevice({ requiredFeatures, requiredLimits })) as {
    onuncapturederror: ((e: { error?: { message?: string } }) => void) | null;
  };
  // A pipeline that fails validation makes no exception in tfjs, only wrong numbers: count them.
  device.onuncapturederror = (e) => {
    if (deviceErrors.count++ === 0) deviceErrors.first = e.error?.message?.split('\n')[0] ?? 'unknown';
  };
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new tfWebGpu.WebGPUBackend(device, adapter.info), 3);
  if (!(await tf.setBackend('webgpu')))
    throw new Error(`${TFJS_WEBGPU_PACKAGE} loaded but the webgpu backend did not initialise`);
  await tf.ready();
  // A matMul and an addN of 10 tensors (what the PPO step's gradient clip runs), read back.
  const probe = tf.tidy(() =>
    tf.addN(Array.from({ length: 10 }, () => tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])))),
  );
  try {
    const v = (await probe.data())[0];
    if (v !== 20 || deviceErrors.count > 0)
      throw new Error(
        `webgpu: smoke ops returned ${v} (expected 20), device errors: ${deviceErrors.first || 'none'}`,
      );
  } finally {
    probe.dispose();
  }
  loaded = info;
}

export const describeAdapter = (i: WebGpuAdapterInfo): string =>
  [i.vendor, i.architecture, i.device, i.description].filter((s) => s !== '').join(' / ') || 'unnamed';

async function importOptional(specifier: string): Promise<unknown> {
  try {
    return await import(specifier);
  } catch (e) {
    throw new Error(
      `${specifier} is not installed or failed to load (bash scripts/webgpu.sh installs it): ${(e as Error).message.split('\n')[0]}`,
    );
  }
}
