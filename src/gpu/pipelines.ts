import type { DType } from './tensor.ts';

/** What identifies a compute pipeline: the cache key is built from exactly these fields. */
export interface PipelineKey {
  /** Kernel family, usually the .wgsl file name: 'matmul', 'attention', ... */
  kernel: string;
  /** Entry point and specialisation within the family: 'nn', 'forward', 'backward_dq', ... */
  variant: string;
  /** Storage element type the shader was specialised for. */
  dtype: DType;
  /** Workgroup size (and any other override constants), as override constants. */
  constants?: Record<string, number>;
}

export function pipelineKey(k: PipelineKey): string {
  const c = k.constants ? Object.entries(k.constants).sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, v]) => `${n}=${v}`).join(',') : '';
  return `${k.kernel}/${k.variant}/${k.dtype}/${c}`;
}

/**
 * Compiles each (kernel, variant, dtype, constants) once. Shader modules are shared between the
 * pipelines made from the same source text.
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  /** `code` is the full WGSL source for this dtype; `entryPoint` defaults to `main`. */
  get(key: PipelineKey, code: string, entryPoint = 'main'): GPUComputePipeline {
    const id = `${pipelineKey(key)}#${entryPoint}`;
    let p = this.pipelines.get(id);
    if (!p) {
      const moduleId = `${key.kernel}/${key.dtype}#${code.length}:${hash(code)}`;
      let module = this.modules.get(moduleId);
      if (!module) {
        module = this.device.createShaderModule({ label: `${key.kernel}.wgsl (${key.dtype})`, code });
        this.modules.set(moduleId, module);
      }
      p = this.device.createComputePipeline({
        label: pipelineKey(key),
        layout: 'auto',
        compute: { module, entryPoint, constants: key.constants },
      });
      this.pipelines.set(id, p);
    }
    return p;
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
