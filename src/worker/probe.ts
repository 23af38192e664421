import { Runtime } from '../gpu/runtime.ts';
import { matmul, matmulFlops } from '../ops/matmul.ts';
import type { AdapterReport, KernelCheck } from './protocol.ts';

const REPORTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'minStorageBufferOffsetAlignment',
] as const;

/** Describes the runtime's device and checks one kernel against the CPU. */
export async function probeRuntime(rt: Runtime): Promise<AdapterReport> {
  const limits: Record<string, number> = {};
  for (const k of REPORTED_LIMITS) limits[k] = (rt.limits as unknown as Record<string, number>)[k];
  return { info: rt.adapterInfo, features: { ...rt.features }, limits, kernel: await checkKernel(rt) };
}

/** out = a·bᵀ at 512³ (the layout of a Linear layer), timed over several runs, checked on the CPU. */
async function checkKernel(rt: Runtime): Promise<KernelCheck> {
  const n = 512;
  const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: n * n }, (_, i) => Math.cos(i * 0.7));
  const ta = rt.upload(a, [n, n], 'f32', 'a');
  const tb = rt.upload(b, [n, n], 'f32', 'b');
  const out = rt.tensor([n, n], 'f32', 'out');
  const d = matmul(rt, { out, a: ta, b: tb, transB: true });
  rt.run(d);
  await rt.sync();
  const reps = 5;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) rt.run(d);
  await rt.sync();
  const ms = (performance.now() - t0) / reps;
  const y = await rt.read(out);
  // Check a sample of rows on the CPU (the whole product would take the CPU longer than the GPU).
  let maxError = 0;
  for (let r = 0; r < n; r += 37) {
    for (let c = 0; c < n; c++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[r * n + k] * b[c * n + k];
      maxError = Math.max(maxError, Math.abs(y[r * n + c] - s));
    }
  }
  rt.release(d);
  rt.free(ta, tb, out);
  // 512-term f32 dot products of values in [-1, 1]: a few ulps per term.
  return { name: 'matmul a·bᵀ', shape: `${n}×${n}×${n}`, ms, gflops: matmulFlops(n, n, n) / ms / 1e6, maxError, ok: maxError <= 1e-6 * n };
}
