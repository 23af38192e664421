import { describe, it, expect } from 'vitest';
import { gradNorm, partialsShape, sum, sumSquares } from '../../src/ops/reduce.ts';
import { gradNormRef, sumAbsRef, sumRef, sumSquaresRef } from '../reference/reduce.ts';
import { f64 } from '../reference/gradcheck.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, readF32 } from '../helpers/gpu.ts';
import type { Runtime } from '../../src/gpu/runtime.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';

// f32 summation: each of the T = partialsShape(n) invocations adds ceil(n / T) values in a row, the
// finishing workgroup's invocations add T / 256 partials each, then a tree of depth 8 adds the
// rest, so the rounding error is at most (ceil(n / T) + T / 256 + 8) · 2^-24 · Σ|x|. The
// reference sums the same f32 inputs in f64, so that bound is the whole difference.
const sumTol = (x: Float32Array) => { const T = partialsShape(x.length)[0]; return { atol: (Math.ceil(x.length / T) + T / 256 + 8) * 2 ** -24 * sumAbsRef(f64(x)) }; };

async function run(rt: Runtime, f: typeof sum, inp: Tensor, extra: { accumulate?: boolean; outIndex?: number; out?: Tensor } = {}): Promise<Float32Array> {
  const n = inp.shape.reduce((a, b) => a * b, 1);
  const out = extra.out ?? rt.tensor([1], 'f32', 'out', true);
  const partials = rt.tensor(partialsShape(n), 'f32', 'partials');
  rt.once(f(rt, { out, inp, partials, accumulate: extra.accumulate, outIndex: extra.outIndex }));
  const r = await readF32(rt, out);
  rt.free(partials);
  if (!extra.out) rt.free(out);
  return r;
}

/** Sum and sum of squares of n seeded values against the float64 reference. */
async function checkReduce(n: number, seed: number): Promise<void> {
  const rt = await getRuntime();
  const x = rand(n, seed, -1, 1.5);
  const inp = rt.upload(x, [n], 'f32', 'inp');
  expectClose(await run(rt, sum, inp), [sumRef(f64(x))], sumTol(x), `sum n=${n}`);
  const sq = x.map((v) => v * v);
  expectClose(await run(rt, sumSquares, inp), [sumSquaresRef(f64(x))], sumTol(sq), `sumSquares n=${n}`);
  rt.free(inp);
  await expectNoGpuErrors(rt);
}

async function norm(rt: Runtime, g: Float32Array, maxNorm: number): Promise<Float32Array> {
  const grads = rt.upload(g, [g.length], 'f32', 'grads');
  const out = rt.tensor([2], 'f32', 'normOut');
  const partials = rt.tensor(partialsShape(g.length), 'f32', 'partials');
  rt.once(gradNorm(rt, { out, grads, partials, maxNorm }));
  const r = await readF32(rt, out);
  rt.free(grads, out, partials);
  return r;
}

describe('reduce', () => {
  // 1_300_007 > 64 workgroups · 256: every invocation loops 80 times (grid-stride).
  for (const n of [1, 33, 100_003, 1_300_007]) it(`sum and sumSquares at n=${n}`, () => checkReduce(n, n));

  it('partials: one per invocation of at most 64 workgroups (at least 4 elements each), fixed by n alone', () => {
    expect(partialsShape(1)).toEqual([256]);
    expect(partialsShape(1024)).toEqual([256]);
    expect(partialsShape(1025)).toEqual([512]);
    expect(partialsShape(5184)).toEqual([1536]); // well under n: the scratch never rivals the data
    expect(partialsShape(500_000_000)).toEqual([64 * 256]);
  });

  it('accumulate and outIndex', async () => {
    const rt = await getRuntime();
    const x = rand(777, 5);
    const inp = rt.upload(x, [7, 111], 'f32', 'inp');
    const out = rt.upload([10, 20, 30], [3], 'f32', 'out');
    await run(rt, sum, inp, { out, outIndex: 1, accumulate: true });
    const r = await run(rt, sumSquares, inp, { out, outIndex: 2 });
    expect(r[0]).toBe(10);
    expectClose([r[1]], [20 + sumRef(f64(x))], { atol: 1e-4 }, 'accumulated sum (values ~20: a few f32 ulps)');
    expectClose([r[2]], [sumSquaresRef(f64(x))], sumTol(x), 'sumSquares into out[2]');
    rt.free(inp, out);
    await expectNoGpuErrors(rt);
  });

  it('gradNorm: norm and clip scale, with and without clipping', async () => {
    const rt = await getRuntime();
    const g = rand(100_003, 9, -0.1, 0.1);
    const [refNorm] = gradNormRef(f64(g), 0);
    // Norm: sqrt halves the relative error of the sum of squares (bounded as above, ≤ 2e-6 here).
    const tol = { atol: 0, rtol: 2e-6 };
    for (const maxNorm of [0, -1, refNorm * 10, refNorm / 3, 1e-3]) {
      const [n, s] = await norm(rt, g, maxNorm);
      const [en, es] = gradNormRef(f64(g), maxNorm);
      expectClose([n], [en], tol, `norm (maxNorm ${maxNorm})`);
      expectClose([s], [es], tol, `clipScale (maxNorm ${maxNorm})`);
      if (maxNorm <= 0 || maxNorm > refNorm) expect(s).toBe(1);
      else expect(s).toBeLessThan(1);
    }
    await expectNoGpuErrors(rt);
  });

  it('gradNorm: an infinite gradient gives norm inf and clip scale 0', async () => {
    const rt = await getRuntime();
    const g = rand(1000, 3);
    g[500] = Infinity;
    const [n, s] = await norm(rt, g, 1);
    expect(n).toBe(Infinity);
    expect(s).toBe(0);
    const [, unclipped] = await norm(rt, g, 0);
    expect(unclipped).toBe(1);
    await expectNoGpuErrors(rt);
  });

  it('deterministic: bit-identical results run after run', async () => {
    const rt = await getRuntime();
    const n = 700_001;
    // Wide dynamic range so any change in the order of additions would change the bits.
    const x = rand(n, 11).map((v, i) => v * 10 ** ((i % 9) - 4));
    const inp = rt.upload(x, [n], 'f32', 'inp');
    const a = await run(rt, sum, inp), b = await run(rt, sum, inp);
    const c = await norm(rt, x, 1), d = await norm(rt, x, 1);
    expect(new Uint32Array(b.buffer)).toEqual(new Uint32Array(a.buffer));
    expect(new Uint32Array(d.buffer)).toEqual(new Uint32Array(c.buffer));
    rt.free(inp);
    await expectNoGpuErrors(rt);
  });

  it('rejects bad arguments before dispatch, naming op, argument and shapes', async () => {
    const rt = await getRuntime();
    const inp = rt.tensor([1000], 'f32', 'inp'), out = rt.tensor([1], 'f32', 'out'), out2 = rt.tensor([2], 'f32', 'out2');
    const small = rt.tensor([3], 'f32', 'small'), partials = rt.tensor(partialsShape(1000), 'f32', 'partials');
    const ints = rt.tensor([1000], 'i32', 'ints');
    expect(() => sum(rt, { out, inp, partials: small })).toThrow(/sum: partials \(small\) has shape \(3\), needs at least \(256\) = partialsShape\(1000\)/);
    expect(() => sum(rt, { out, inp: ints, partials })).toThrow(/sum: inp \(ints\) has dtype i32, expected f32/);
    expect(() => sumSquares(rt, { out, inp, partials, outIndex: 1 })).toThrow(/sumSquares: outIndex 1 is outside out \(out\) of 1 elements/);
    expect(() => gradNorm(rt, { out, grads: inp, partials, maxNorm: 1 })).toThrow(/gradNorm: out \(out\) has 1 elements, needs 2/);
    expect(() => gradNorm(rt, { out: out2, grads: inp, partials, maxNorm: NaN })).toThrow(/gradNorm: maxNorm must be a finite number/);
    rt.free(inp, out, out2, small, partials, ints);
    await expectNoGpuErrors(rt);
  });
});
