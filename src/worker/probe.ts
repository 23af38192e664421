import { Runtime } from '../gpu/runtime.ts';
import { add } from '../ops/elementwise.ts';
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

async function checkKernel(rt: Runtime): Promise<KernelCheck> {
  const n = 1 << 20;
  const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
  const ta = rt.upload(a, [n], 'f32', 'a');
  const tb = rt.upload(b, [n], 'f32', 'b');
  const ty = rt.tensor([n], 'f32', 'y');
  const d = add(rt, ty, ta, tb);
  rt.run(d);
  await rt.sync();
  const reps = 10;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) rt.run(d);
  await rt.sync();
  const ms = (performance.now() - t0) / reps;
  const y = await rt.read(ty);
  let maxError = 0;
  for (let i = 0; i < n; i++) maxError = Math.max(maxError, Math.abs(y[i] - (a[i] + b[i])));
  rt.release(d);
  rt.free(ta, tb, ty);
  return { name: 'add', shape: `(${n})`, ms, gflops: n / ms / 1e6, maxError, ok: maxError <= 1e-6 };
}
