// Shared helpers for GPU tests in Node (lavapipe on machines without a GPU).
import { expect } from 'vitest';
import { nodeGPU } from '../../src/gpu/node.ts';
import { Runtime } from '../../src/gpu/runtime.ts';
import type { AcquireOptions } from '../../src/gpu/device.ts';
import type { DType, Tensor } from '../../src/gpu/tensor.ts';

const runtimes = new Map<string, Promise<Runtime>>();

/** One runtime per test file (and per set of disabled features, to test fallbacks). */
export function getRuntime(disable: AcquireOptions['disable'] = {}): Promise<Runtime> {
  const key = JSON.stringify(disable);
  let rt = runtimes.get(key);
  if (!rt) runtimes.set(key, (rt = nodeGPU().then((gpu) => Runtime.create({ gpu, disable }))));
  return rt;
}

/** Seeded uniform random numbers in [lo, hi) (mulberry32). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** Seeded random integers in [0, hi). */
export function randInt(n: number, seed: number, hi: number): Int32Array {
  return Int32Array.from(rand(n, seed, 0, 1), (v) => Math.min(hi - 1, Math.floor(v * hi)));
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| elementwise and reports the worst
 * element. Tolerances belong to the test: state why they are what they are.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: { atol: number; rtol?: number }, what = 'value'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const rtol = tol.rtol ?? 0;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const excess = Math.abs(a - e) - (tol.atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${tol.atol}, rtol ${rtol})`);
  }
}

/** Uploads, runs nothing, and reads back: for tests that need a tensor's contents. */
export async function readF32(rt: Runtime, t: Tensor): Promise<Float32Array> {
  return Float32Array.from(await rt.read(t));
}

export function upload(rt: Runtime, data: ArrayLike<number>, shape: number[], dtype: DType = 'f32', label = 'input'): Tensor {
  return rt.upload(data, shape, dtype, label);
}

/** Fails the test if the device reported validation errors since the last call. */
export async function expectNoGpuErrors(rt: Runtime): Promise<void> {
  await rt.sync();
  const errs = rt.errors.splice(0);
  expect(errs, 'GPU validation errors').toEqual([]);
}

/** Runs f with part of an op's per-runtime tuning overridden (tuning / setTuning of its module), then restores it. */
export async function withTuning<T extends object>(
  rt: Runtime, tuning: (rt: Runtime) => T, setTuning: (rt: Runtime, t: Partial<T>) => void, t: Partial<T>, f: () => Promise<void>,
): Promise<void> {
  const before = { ...tuning(rt) };
  setTuning(rt, t);
  try {
    await f();
  } finally {
    setTuning(rt, before);
  }
}
