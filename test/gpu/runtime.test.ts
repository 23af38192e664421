import { describe, expect, it } from 'vitest';
import { acquireDevice, defaultGPU } from '../../src/gpu/device.ts';
import { DeviceLostError, NoWebGPUError } from '../../src/gpu/errors.ts';
import { f16BitsToF32, f32ToF16Bits } from '../../src/gpu/half.ts';
import { nodeGPU } from '../../src/gpu/node.ts';
import { pipelineKey } from '../../src/gpu/pipelines.ts';
import { BufferPool } from '../../src/gpu/pool.ts';
import { Runtime, grid } from '../../src/gpu/runtime.ts';
import { reshape } from '../../src/gpu/tensor.ts';
import { specialize } from '../../src/gpu/wgsl.ts';
import { add, fill } from '../../src/ops/elementwise.ts';
import { expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';

describe('device acquisition', () => {
  it('requests the adapter limits and detects the optional features', async () => {
    const gpu = await nodeGPU();
    const a = await acquireDevice({ gpu });
    const adapter = a.adapter.limits;
    expect(a.device.limits.maxStorageBufferBindingSize).toBe(adapter.maxStorageBufferBindingSize);
    expect(a.device.limits.maxComputeWorkgroupStorageSize).toBe(adapter.maxComputeWorkgroupStorageSize);
    expect(a.features.f16).toBe(a.adapter.features.has('shader-f16'));
    expect(a.features.timestamps).toBe(a.adapter.features.has('timestamp-query'));
    expect(a.device.features.has('shader-f16')).toBe(a.features.f16);
    a.device.destroy();
  });

  it('can switch features off to exercise the fallbacks', async () => {
    const a = await acquireDevice({ gpu: await nodeGPU(), disable: { f16: true, subgroups: true, timestamps: true } });
    expect(a.features).toEqual({ f16: false, subgroups: false, timestamps: false });
    expect(a.device.features.has('shader-f16')).toBe(false);
    a.device.destroy();
  });

  it('explains a missing WebGPU and what to do about it', async () => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true });
    try {
      expect(() => defaultGPU()).toThrow(NoWebGPUError);
      expect(() => defaultGPU()).toThrow(/navigator.gpu is missing.*Chrome or Edge 113\+/);
    } finally {
      if (saved) Object.defineProperty(globalThis, 'navigator', saved);
      else delete (globalThis as { navigator?: unknown }).navigator;
    }
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    await expect(acquireDevice({ gpu: noAdapter })).rejects.toThrow(/no GPU adapter was found.*lavapipe/);
  });
});

describe('runtime', () => {
  it('reads back f32, f16, i32 and u32 tensors, including views at an offset', async () => {
    const rt = await getRuntime();
    const f = rt.upload([1.5, -2, 3.25], [3], 'f32');
    const h = rt.upload([0.1, 65504, -1e-5], [3], 'f16');
    const i = rt.upload([-7, 0, 2 ** 30], [3], 'i32');
    const u = rt.upload([0, 1, 2 ** 32 - 1], [3], 'u32');
    expect(Array.from(await rt.read(f))).toEqual([1.5, -2, 3.25]);
    expect(Array.from(await rt.read(h))).toEqual([0.1, 65504, -1e-5].map((v) => f16BitsToF32(f32ToF16Bits(v))));
    expect(Array.from(await rt.read(i))).toEqual([-7, 0, 2 ** 30]);
    expect(Array.from(await rt.read(u))).toEqual([0, 1, 2 ** 32 - 1]);
    // A view into a flat buffer, as model parameters are.
    const align = rt.limits.minStorageBufferOffsetAlignment;
    const flat = rt.tensor([align / 4 + 4], 'f32', 'flat', true);
    const view = { ...flat, byteOffset: align, shape: [4], label: 'view' };
    rt.once(fill(rt, view, 9));
    const all = await rt.read(flat);
    expect(Array.from(all.slice(0, align / 4)).every((v) => v === 0)).toBe(true);
    expect(Array.from(all.slice(align / 4))).toEqual([9, 9, 9, 9]);
    expect(Array.from(await rt.read(reshape(view, [2, 2])))).toEqual([9, 9, 9, 9]);
    rt.free(f, h, i, u, flat);
  });

  it('runs copies and clears in order with dispatches', async () => {
    const rt = await getRuntime();
    const a = rt.tensor([6], 'f32', 'a'), b = rt.tensor([6], 'f32', 'b', true), c = rt.tensor([6], 'f32', 'c');
    const half = { ...b, byteOffset: 0, shape: [3], label: 'b[:3]' };
    rt.once([fill(rt, a, 3), rt.copy(b, a), fill(rt, a, 5), rt.clear(half), add(rt, c, a, b)]);
    expect(Array.from(await rt.read(c))).toEqual([5, 5, 5, 8, 8, 8]);
    expect(() => rt.copy(half, a)).toThrow(/differ in size/);
    await expectNoGpuErrors(rt);
    rt.free(a, b, c);
  });

  it('caches pipelines by (kernel, variant, dtype, constants)', async () => {
    const rt = await getRuntime();
    const a = rt.tensor([5]), b = rt.tensor([5]), y = rt.tensor([5]);
    rt.once(add(rt, y, a, b));
    const size = rt.pipelines.size;
    rt.once(add(rt, y, b, a));
    expect(rt.pipelines.size).toBe(size);
    rt.once(fill(rt, y, 0));
    rt.once(fill(rt, a, 1));
    expect(rt.pipelines.size).toBeLessThanOrEqual(size + 1);
    expect(rt.pipelines.size).toBeGreaterThan(0);
    expect(pipelineKey({ kernel: 'matmul', variant: 'nt', dtype: 'f16', constants: { TN: 4, TM: 8 } })).toBe('matmul/nt/f16/TM=8,TN=4');
    rt.free(a, b, y);
  });

  it('reuses pooled buffers by size class and usage', async () => {
    const rt = await getRuntime();
    expect(BufferPool.sizeClass(100)).toBe(256);
    expect(BufferPool.sizeClass(1000)).toBe(1024);
    expect(BufferPool.sizeClass(1025)).toBe(1280);
    const t = rt.tensor([300]);
    const buf = t.buffer;
    rt.free(t);
    const u = rt.tensor([290]);
    expect(u.buffer).toBe(buf);
    rt.free(u);
    expect(() => rt.pool.release(rt.device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE, label: 'stray' }))).toThrow(/stray.*did not come from this pool/);
  });

  it('rejects a tensor over the device limit before allocating', async () => {
    const rt = await getRuntime();
    const n = rt.limits.maxStorageBufferBindingSize / 4 + 1;
    expect(() => rt.tensor([n], 'f32', 'huge')).toThrow(/huge: a buffer of shape .* needs \d+ bytes, over this device's limit/);
  });

  it('splits large grids over two dimensions', () => {
    expect(grid(10)).toEqual([10, 1, 1]);
    const [x, y] = grid(200_000);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(200_000);
  });

  it('times dispatches with GPU timestamps when the adapter has them', async () => {
    const rt = await getRuntime();
    if (!rt.startProfiling()) return expect(rt.features.timestamps).toBe(false);
    const y = rt.tensor([1 << 16]);
    rt.once(fill(rt, y, 1));
    await rt.sync();
    const s = rt.profiler!.summary();
    rt.stopProfiling();
    expect(s[0].label).toBe('elementwise.fill');
    expect(s[0].ms).toBeGreaterThan(0);
    rt.free(y);
  });

  it('specialises storage types for the f16 variants', () => {
    const code = '// x\nalias ST = f32;\nfn f() {}';
    expect(specialize(code, 'f32')).toBe(code);
    expect(specialize(code, 'f16')).toBe('enable f16;\n// x\nalias ST = f16;\nfn f() {}');
    expect(() => specialize('fn f() {}', 'f16')).toThrow(/no `alias ST = f32;` line/);
  });
});

describe('device loss', () => {
  it('is surfaced as an event with the reason, and pending readbacks reject instead of hanging', async () => {
    const rt = await Runtime.create({ gpu: await nodeGPU() });
    const t = rt.upload([1, 2, 3], [3]);
    const lost = new Promise<DeviceLostError>((resolve) => rt.onLost(resolve));
    rt.device.destroy();
    const e = await lost;
    expect(e).toBeInstanceOf(DeviceLostError);
    expect(e.reason).toBe('destroyed');
    await expect(rt.read(t)).rejects.toThrow(/GPU device lost \(destroyed\)/);
    await expect(rt.sync()).rejects.toThrow(DeviceLostError);
  });
});
