// WebGPU in Node through the `webgpu` package (Dawn). Imported only by Node entry points (tests,
// CLI, benchmarks), never by the page or the worker.
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';

/** True when the machine shows no hardware GPU device node (render node or NVIDIA device). */
function hasHardwareGpu(): boolean {
  return existsSync('/dev/dri/renderD128') || existsSync('/dev/nvidia0') || process.platform !== 'linux';
}

/**
 * Points Vulkan at Mesa's lavapipe when the machine has no GPU (or PUPIL_ADAPTER=lavapipe), unless
 * the user chose an ICD already. Must run before Dawn creates its instance.
 */
export function configureNodeVulkan(): void {
  const want = process.env.PUPIL_ADAPTER;
  if (!process.env.VK_ICD_FILENAMES && existsSync(LAVAPIPE_ICD) && (want === 'lavapipe' || (!want && !hasHardwareGpu()))) {
    process.env.VK_ICD_FILENAMES = LAVAPIPE_ICD;
  }
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `pupil-xdg-${process.getuid?.() ?? 0}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
}

/**
 * Dawn's Node bindings poll for GPU completion by re-arming `setImmediate` with a native callback
 * for as long as any promise (mapAsync, onSubmittedWorkDone) is pending: the main thread spins a
 * core (dawn-gpu/node-webgpu issue 17), which on a software adapter is taken from the GPU itself;
 * browsers do not do this. Native callbacks are re-armed with a 1 ms timer instead (JavaScript
 * callbacks are untouched). Measured on a 1024³ matmul ×20 on lavapipe: 3.5 s → 1.6 s of process
 * CPU. PUPIL_DAWN_SPIN=1 keeps Dawn's polling as it is.
 */
export function throttleDawnPolling(): boolean {
  if (process.env.PUPIL_DAWN_SPIN === '1') return false;
  const g = globalThis as { setImmediate: (fn: (...a: unknown[]) => void, ...args: unknown[]) => unknown; __pupilThrottled?: boolean };
  if (g.__pupilThrottled) return true;
  const immediate = g.setImmediate;
  const isNative = (fn: unknown) => typeof fn === 'function' && Function.prototype.toString.call(fn).includes('[native code]');
  g.setImmediate = (fn, ...args) => (isNative(fn) ? setTimeout(fn, 1, ...args) : immediate(fn, ...args));
  g.__pupilThrottled = true;
  return true;
}

let cached: GPU | undefined;

/** The `GPU` entry point in Node. Also installs WebGPU's globals (GPUBufferUsage, ...). */
export async function nodeGPU(): Promise<GPU> {
  if (cached) return cached;
  configureNodeVulkan();
  throttleDawnPolling();
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  cached = create([]) as GPU;
  return cached;
}
