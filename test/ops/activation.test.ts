import { describe, it, expect } from 'vitest';
import type { Runtime } from '../../src/gpu/runtime.ts';
import { geluBackward, geluForward, swigluBackward, swigluForward } from '../../src/ops/activation.ts';
import { geluBackwardRef, geluRef, swigluBackwardRef, swigluRef } from '../reference/activation.ts';
import { f64, finiteDifferenceError } from '../reference/gradcheck.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, readF32 } from '../helpers/gpu.ts';

// Tolerances (f32 kernels vs float64 references): each output is a few f32 operations plus one
// tanh or exp. Vulkan allows exp ~(3 + 2|x|) ulps and tanh an absolute error of a few 2^-24, so
// near the cancellation in 1 + tanh(u) (x ≈ -3) the error is absolute, ~|x| · 2^-21: atol 4e-6 for
// values of |x| <= 8, rtol 1e-5 (~100 ulps) for the large ones.
const TOL = { atol: 4e-6, rtol: 1e-5 };

// Values where naive formulas break: x³ overflows f32 (|x| > 7e12), tanh(u) saturates, exp(-g)
// overflows (g < -88).
const EXTREMES = [1e20, -1e20, 1e13, -1e13, 100, -100, 20, -20, 9, -9, 0, -0.5];

type Kind = 'gelu' | 'swiglu';

/** GPU forward and backward of `kind` on (N, F) random values in [-8, 8] against the reference. */
async function checkActivation(rt: Runtime, kind: Kind, N: number, F: number, seed: number, accumulate = false): Promise<void> {
  const n = N * F;
  const x = rand(n, seed, -8, 8), y = rand(n, seed + 1, -2, 2), g = rand(n, seed + 2);
  x.set(EXTREMES.slice(0, n));
  const d0 = rand(n, seed + 3), e0 = rand(n, seed + 4);
  const X = f64(x), Y = f64(y), G = f64(g);
  const plus = (init: Float32Array, ref: Float64Array) => (accumulate ? ref.map((v, i) => init[i] + v) : ref);
  const out = rt.tensor([N, F], 'f32', 'out'), dout = rt.upload(g, [N, F], 'f32', 'dout');
  if (kind === 'gelu') {
    const inp = rt.upload(x, [N, F], 'f32', 'inp'), dinp = rt.upload(d0, [N, F], 'f32', 'dinp');
    rt.once(geluForward(rt, { out, inp }));
    expectClose(await readF32(rt, out), geluRef(X), TOL, 'gelu out');
    rt.once(geluBackward(rt, { dinp, dout, inp, accumulate }));
    expectClose(await readF32(rt, dinp), plus(d0, geluBackwardRef(G, X)), TOL, 'gelu dinp');
    rt.free(inp, dinp);
  } else {
    const gate = rt.upload(x, [N, F], 'f32', 'gate'), up = rt.upload(y, [N, F], 'f32', 'up');
    const dgate = rt.upload(d0, [N, F], 'f32', 'dgate'), dup = rt.upload(e0, [N, F], 'f32', 'dup');
    rt.once(swigluForward(rt, { out, gate, up }));
    expectClose(await readF32(rt, out), swigluRef(X, Y), TOL, 'swiglu out');
    rt.once(swigluBackward(rt, { dgate, dup, dout, gate, up, accumulate }));
    const r = swigluBackwardRef(G, X, Y);
    expectClose(await readF32(rt, dgate), plus(d0, r.dgate), TOL, 'swiglu dgate');
    expectClose(await readF32(rt, dup), plus(e0, r.dup), TOL, 'swiglu dup');
    rt.free(gate, up, dgate, dup);
  }
  rt.free(out, dout);
  await expectNoGpuErrors(rt);
}

describe('activation', () => {
  const shapes: [number, number][] = [[1, 1], [7, 3], [33, 67], [130, 768]];
  for (const kind of ['gelu', 'swiglu'] as const) {
    for (const [N, F] of shapes) {
      it(`${kind} forward and backward at N=${N}, F=${F}`, async () => {
        await checkActivation(await getRuntime(), kind, N, F, N + F);
      });
    }
    it(`${kind} backward accumulates with accumulate: true`, async () => {
      await checkActivation(await getRuntime(), kind, 5, 13, 99, true);
    });
  }
  // n % 4 == 0 takes the vec4 SwiGLU kernels (130 × 768 above overwrites; this one accumulates).
  it('swiglu vec4 backward accumulates with accumulate: true', async () => {
    await checkActivation(await getRuntime(), 'swiglu', 5, 12, 98, true);
  });

  it('reference backward matches finite differences', () => {
    const x = f64(rand(40, 1, -5, 5)), y = f64(rand(40, 2, -2, 2)), g = f64(rand(40, 3));
    const gelu = finiteDifferenceError(([x]) => geluRef(x), ([x], d) => [geluBackwardRef(d, x)], [x], g, { samples: 40 });
    const swiglu = finiteDifferenceError(([a, b]) => swigluRef(a, b), ([a, b], d) => { const r = swigluBackwardRef(d, a, b); return [r.dgate, r.dup]; }, [x, y], g, { samples: 40 });
    // central differences with eps 1e-6 in float64: truncation and cancellation ~1e-9
    expect(gelu).toBeLessThan(1e-6);
    expect(swiglu).toBeLessThan(1e-6);
  });

  it('rejects bad arguments before dispatch, naming op, argument and shapes', async () => {
    const rt = await getRuntime();
    const a = rt.tensor([4, 8], 'f32', 'a'), b = rt.tensor([4, 9], 'f32', 'b'), h = rt.tensor([4, 8], 'i32', 'h');
    expect(() => geluForward(rt, { out: a, inp: b })).toThrow(/geluForward: inp \(b\) has shape \(4, 9\) but out has \(4, 8\)/);
    expect(() => geluForward(rt, { out: a, inp: a })).toThrow(/geluForward: out \(a\) and inp \(a\) overlap/);
    expect(() => swigluForward(rt, { out: a, gate: h, up: a })).toThrow(/swigluForward: gate \(h\) has dtype i32, expected f32/);
    const c = rt.tensor([4, 8], 'f32', 'c');
    expect(() => swigluBackward(rt, { dgate: a, dup: c, dout: b, gate: c, up: c })).toThrow(/swigluBackward: dout \(b\) has shape \(4, 9\) but dgate has \(4, 8\)/);
    expect(() => swigluBackward(rt, { dgate: a, dup: c, dout: a, gate: c, up: c })).toThrow(/swigluBackward: dgate \(a\) and dout \(a\) overlap/);
    // read-only inputs may share memory: silu(x) · x is legal
    expect(() => rt.release(swigluForward(rt, { out: a, gate: c, up: c }))).not.toThrow();
    rt.free(a, b, c, h);
    await expectNoGpuErrors(rt);
  });
});
