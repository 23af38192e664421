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

let cached: GPU | undefined;

/** The `GPU` entry point in Node. Also installs WebGPU's globals (GPUBufferUsage, ...). */
export async function nodeGPU(): Promise<GPU> {
  if (cached) return cached;
  configureNodeVulkan();
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  cached = create([]) as GPU;
  return cached;
}
