import { BROWSER_ADVICE, NoWebGPUError } from './errors.ts';

/** Optional features Pupil uses when the adapter has them; every path has a fallback. */
export interface GpuFeatures {
  /** f16 storage and arithmetic in shaders (`enable f16;`). */
  f16: boolean;
  /** subgroup operations in shaders (`enable subgroups;`). */
  subgroups: boolean;
  /** GPU timestamps for profiling. */
  timestamps: boolean;
}

export interface AcquireOptions {
  /** The `GPU` object to use; defaults to `navigator.gpu` (page or worker). In Node use `nodeGPU()`. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /** Turn features off even when the adapter has them, to test the fallbacks. */
  disable?: Partial<Record<keyof GpuFeatures, boolean>>;
  label?: string;
}

export interface AcquiredDevice {
  adapter: GPUAdapter;
  device: GPUDevice;
  features: GpuFeatures;
  info: { vendor: string; architecture: string; device: string; description: string };
}

const FEATURE_NAMES: Record<keyof GpuFeatures, GPUFeatureName> = {
  f16: 'shader-f16',
  subgroups: 'subgroups' as GPUFeatureName,
  timestamps: 'timestamp-query',
};

// Limits we ask for at the adapter's real maximum (the defaults are far lower: 128 MiB bindings).
const WANTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxBindGroups',
] as const;

/** Finds the WebGPU entry point of this environment, or explains why there is none. */
export function defaultGPU(): GPU {
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  if (!nav || !('gpu' in nav) || !nav.gpu) {
    const insecure = (globalThis as { isSecureContext?: boolean }).isSecureContext === false;
    throw new NoWebGPUError(
      insecure ? 'this page is not a secure context (http on a non-localhost address)' : 'navigator.gpu is missing',
      BROWSER_ADVICE,
    );
  }
  return nav.gpu;
}

/** Requests an adapter and a device with the adapter's real limits and the optional features. */
export async function acquireDevice(opts: AcquireOptions = {}): Promise<AcquiredDevice> {
  const gpu = opts.gpu ?? defaultGPU();
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new NoWebGPUError(
      'no GPU adapter was found (WebGPU may be disabled, or the GPU driver is blocklisted)',
      `${BROWSER_ADVICE} Check chrome://gpu for "WebGPU: Hardware accelerated". Without a GPU on Linux, install Mesa's lavapipe (mesa-vulkan-drivers).`,
    );
  }
  const features: GpuFeatures = { f16: false, subgroups: false, timestamps: false };
  const requiredFeatures: GPUFeatureName[] = [];
  for (const key of Object.keys(FEATURE_NAMES) as (keyof GpuFeatures)[]) {
    const name = FEATURE_NAMES[key];
    if (adapter.features.has(name) && !opts.disable?.[key]) {
      features[key] = true;
      requiredFeatures.push(name);
    }
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label: opts.label ?? 'pupil', requiredFeatures, requiredLimits });
  } catch (e) {
    throw new NoWebGPUError(`the adapter refused to create a device (${(e as Error).message})`, BROWSER_ADVICE);
  }
  const ai = adapter.info ?? ({} as GPUAdapterInfo);
  return {
    adapter,
    device,
    features,
    info: { vendor: ai.vendor ?? '', architecture: ai.architecture ?? '', device: ai.device ?? '', description: ai.description ?? '' },
  };
}
