import { describe, it, expect } from 'vitest';
import { add, axpy, fill, scale } from '../../src/ops/elementwise.ts';
import { addRef, axpyRef, scaleRef } from '../reference/elementwise.ts';
import { f64 } from '../reference/gradcheck.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, readF32 } from '../helpers/gpu.ts';

// Elementwise f32 ops do one rounding each: tolerance is a few ulps of the values (|x| <= 2).
const TOL = { atol: 1e-6, rtol: 1e-6 };

describe('elementwise', () => {
  for (const n of [1, 7, 257, 70_001]) {
    it(`add, axpy, scale, fill at n=${n}`, async () => {
      const rt = await getRuntime();
      const a = rand(n, 1), b = rand(n, 2);
      const ta = rt.upload(a, [n]), tb = rt.upload(b, [n]), ty = rt.tensor([n]);
      rt.once(add(rt, ty, ta, tb));
      expectClose(await readF32(rt, ty), addRef(f64(a), f64(b)), TOL, 'add');
      rt.once(axpy(rt, ty, ta, -0.5));
      expectClose(await readF32(rt, ty), axpyRef(addRef(f64(a), f64(b)), f64(a), -0.5), TOL, 'axpy');
      rt.once(scale(rt, ty, tb, 3));
      expectClose(await readF32(rt, ty), scaleRef(f64(b), 3), TOL, 'scale');
      rt.once(fill(rt, ty, 0.25));
      expect((await readF32(rt, ty)).every((v) => v === 0.25)).toBe(true);
      rt.free(ta, tb, ty);
      await expectNoGpuErrors(rt);
    });
  }

  it('a grid larger than 65535 workgroups', async () => {
    const rt = await getRuntime();
    const n = 65536 * 256 + 3;
    const x = rt.tensor([n]);
    rt.once(fill(rt, x, 2));
    const back = await readF32(rt, x);
    expect(back[n - 1]).toBe(2);
    expect(back[0]).toBe(2);
    rt.free(x);
  });

  it('rejects mismatched shapes before dispatch, naming op and shapes', async () => {
    const rt = await getRuntime();
    const a = rt.tensor([3], 'f32', 'a'), b = rt.tensor([4], 'f32', 'b');
    expect(() => add(rt, a, a, b)).toThrow(/add: b \(b\) has shape \(4\) but y has \(3\)/);
    expect(() => add(rt, a, a, a)).toThrow(/add: y \(a\) and a \(a\) overlap in the same buffer/);
    rt.free(a, b);
  });
});
