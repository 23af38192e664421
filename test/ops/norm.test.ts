import { describe, it, expect } from 'vitest';
import type { Runtime } from '../../src/gpu/runtime.ts';
import { layerNormBackward, layerNormForward, layerNormScratchShape, normTuning, rmsNormBackward, rmsNormForward, rmsNormScratchShape, setNormTuning, type NormTuning } from '../../src/ops/norm.ts';
import { layerNormBackwardRef, layerNormRef, rmsNormBackwardRef, rmsNormRef } from '../reference/norm.ts';
import { f64, finiteDifferenceError } from '../reference/gradcheck.ts';
import { expectBindable } from '../../src/ops/check.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, readF32, withTuning as withTuningOf } from '../helpers/gpu.ts';

// Tolerances (f32 kernels vs float64 references):
// - forward out, mean, rstd: each value goes through one C-term f32 sum, sequential (row per
//   invocation) or 64 strided partials then their sum (workgroup per row): random-sign rounding
//   gives a relative error ~sqrt(C)·2^-24 ≈ 5e-6 at C = 8192 (the worst case C·2^-24 needs
//   every rounding to go one way, which these random inputs do not do) and a handful of roundings, so 1e-5 relative to values of order 1 is ~100 ulps
//   of margin. The inputs carry a row offset of 2 so |mean| > std, where E[x²] - mean² would fail.
//   Rounding x - mean costs up to ~2 ulps of |x| <= 3, which rstd·|w| (|w| <= 1.5) magnifies in
//   rows whose spread is near sqrt(eps): that term is added to atol.
// - dinp: rstd · (w·g - mean(w·g) - x̂·mean(w·g·x̂)) subtracts terms of order 1 and then scales by
//   rstd, so the error is absolute, ~rstd · 2^-24 · C-sum error; atol 2e-5 · max(1, rstd).
//   (With C = 1, LayerNorm's rstd is 1/sqrt(eps) ≈ 316 and the exact dinp is 0.)
// - dweight/dbias: sums over N rows of terms of order 1, in f32 in a fixed order: rounding error
//   grows at worst like N · 2^-24 · |sum|; atol 1e-6 · N + rtol 1e-5.
const fwdTol = (rstdMax: number) => ({ atol: 1e-5 + 2 * 2 ** -24 * 3 * 1.5 * rstdMax, rtol: 1e-5 });
const dinpTol = (rstdMax: number) => ({ atol: 2e-5 * Math.max(1, rstdMax), rtol: 1e-5 });
const paramTol = (N: number) => ({ atol: 1e-6 * N, rtol: 1e-5 });

type Kind = 'layer' | 'rms';

/** Runs `fn` with part of the norm tuning overridden (which row kernel, where grids go 2D). */
const withTuning = (rt: Runtime, t: Partial<NormTuning>, f: () => Promise<void>) => withTuningOf(rt, normTuning, setNormTuning, t, f);

// Both row kernels at every shape: one invocation per row, and one workgroup per row.
const variants: [string, Partial<NormTuning>][] = [['row per invocation', { rowsMaxC: Infinity }], ['workgroup per row', { rowsMaxC: 0 }]];

/** One forward and backward of `kind` at (N, C) on the GPU against the float64 reference. */
async function checkNorm(rt: Runtime, kind: Kind, N: number, C: number, seed: number, opts: { eps?: number; accumulate?: boolean } = {}): Promise<void> {
  const x = rand(N * C, seed, 1, 3); // offset rows: |mean| > std
  const w = rand(C, seed + 1, -1.5, 1.5), b = rand(C, seed + 2);
  const g = rand(N * C, seed + 3);
  const dw0 = rand(C, seed + 4), db0 = rand(C, seed + 5), dx0 = rand(N * C, seed + 6);
  const eps = opts.eps ?? (kind === 'layer' ? 1e-5 : 1e-6);
  const inp = rt.upload(x, [N, C], 'f32', 'inp'), weight = rt.upload(w, [C], 'f32', 'weight'), bias = rt.upload(b, [C], 'f32', 'bias');
  const out = rt.tensor([N, C], 'f32', 'out'), mean = rt.tensor([N], 'f32', 'mean'), rstd = rt.tensor([N], 'f32', 'rstd');
  const dout = rt.upload(g, [N, C], 'f32', 'dout'), dinp = rt.upload(dx0, [N, C], 'f32', 'dinp');
  const dweight = rt.upload(dw0, [C], 'f32', 'dweight'), dbias = rt.upload(db0, [C], 'f32', 'dbias');
  const scratch = rt.tensor(kind === 'layer' ? layerNormScratchShape(N, C) : rmsNormScratchShape(N, C), 'f32', 'scratch');
  const acc = opts.accumulate ?? false;
  const X = f64(x), W = f64(w), G = f64(g);
  let rstdMax: number;
  if (kind === 'layer') {
    const ref = layerNormRef(X, W, f64(b), N, C, eps);
    rt.once(layerNormForward(rt, { out, mean, rstd, inp, weight, bias, eps: opts.eps }));
    rstdMax = Math.max(...ref.rstd);
    expectClose(await readF32(rt, out), ref.out, fwdTol(rstdMax), 'layernorm out');
    expectClose(await readF32(rt, mean), ref.mean, fwdTol(0), 'layernorm mean');
    expectClose(await readF32(rt, rstd), ref.rstd, fwdTol(0), 'layernorm rstd');
    const bwd = layerNormBackward(rt, { dinp, dweight, dbias, scratch, dout, inp, weight, mean, rstd, accumulate: acc });
    rt.run(bwd);
    rt.run(bwd); // twice: parameter gradients accumulate
    rt.release(bwd);
    const r = layerNormBackwardRef(G, X, W, N, C, eps);
    // dinp overwrites (the second run gives the same) unless accumulating (then it gets 2 · dinp).
    expectClose(await readF32(rt, dinp), r.dinp.map((v, i) => (acc ? dx0[i] + 2 * v : v)), dinpTol(rstdMax), 'layernorm dinp');
    expectClose(await readF32(rt, dweight), r.dweight.map((v, i) => dw0[i] + 2 * v), paramTol(N), 'layernorm dweight');
    expectClose(await readF32(rt, dbias), r.dbias.map((v, i) => db0[i] + 2 * v), paramTol(N), 'layernorm dbias');
  } else {
    const ref = rmsNormRef(X, W, N, C, eps);
    rt.once(rmsNormForward(rt, { out, rstd, inp, weight, eps: opts.eps }));
    rstdMax = Math.max(...ref.rstd);
    expectClose(await readF32(rt, out), ref.out, fwdTol(0), 'rmsnorm out');
    expectClose(await readF32(rt, rstd), ref.rstd, fwdTol(0), 'rmsnorm rstd');
    const bwd = rmsNormBackward(rt, { dinp, dweight, scratch, dout, inp, weight, rstd, accumulate: acc });
    rt.run(bwd);
    rt.run(bwd);
    rt.release(bwd);
    const r = rmsNormBackwardRef(G, X, W, N, C, eps);
    expectClose(await readF32(rt, dinp), r.dinp.map((v, i) => (acc ? dx0[i] + 2 * v : v)), dinpTol(rstdMax), 'rmsnorm dinp');
    expectClose(await readF32(rt, dweight), r.dweight.map((v, i) => dw0[i] + 2 * v), paramTol(N), 'rmsnorm dweight');
  }
  rt.free(inp, weight, bias, out, mean, rstd, dout, dinp, dweight, dbias, scratch);
  await expectNoGpuErrors(rt);
}

describe('norm', () => {
  const shapes: [number, number][] = [[1, 1], [7, 3], [33, 67], [130, 768], [1100, 5], [2, 8192]];
  for (const kind of ['layer', 'rms'] as const) {
    for (const [N, C] of shapes) {
      for (const [name, t] of variants) {
        it(`${kind}norm forward and backward at N=${N}, C=${C}, ${name}`, async () => {
          const rt = await getRuntime();
          await withTuning(rt, t, () => checkNorm(rt, kind, N, C, N * 31 + C));
        });
      }
    }
    // gridMax 4 makes every grid 2D with spare workgroups past the last row (row per invocation:
    // 18 workgroups of 64 rows as 4 × 5; workgroup per row: 33 as 4 × 9), which must write nothing.
    for (const [name, t, N, C] of [[...variants[0], 1100, 5], [...variants[0], 1100, 8], [...variants[1], 33, 67]] as const) {
      it(`${kind}norm: 2D grids with spare workgroups, ${name}, N=${N}, C=${C}`, async () => {
        const rt = await getRuntime();
        await withTuning(rt, { ...t, gridMax: 4 }, () => checkNorm(rt, kind, N, C, 21));
      });
    }
    it(`${kind}norm: accumulate into dinp, custom eps`, async () => {
      const rt = await getRuntime();
      // C = 40 takes the vec4 kernels, C = 41 the scalar ones
      for (const [, t] of variants) for (const C of [40, 41]) await withTuning(rt, t, () => checkNorm(rt, kind, 9, C, 5, { accumulate: true, eps: 1e-3 }));
    });
  }

  // With the default tuning (row per invocation at C = 4) this is 1094 workgroups: it checks
  // the blocks of the parameter-gradient pass at large N; the 2D grids are tested above.
  it('layernorm: 70001 rows', async () => {
    await checkNorm(await getRuntime(), 'layer', 70_001, 4, 11);
  });

  it('reference backward matches finite differences', () => {
    const N = 3, C = 5;
    const x = f64(rand(N * C, 1, 0, 2)), w = f64(rand(C, 2)), b = f64(rand(C, 3)), g = f64(rand(N * C, 4));
    const ln = finiteDifferenceError(
      ([x, w, b]) => layerNormRef(x, w, b, N, C).out,
      ([x, w], d) => { const r = layerNormBackwardRef(d, x, w, N, C); return [r.dinp, r.dweight, r.dbias]; },
      [x, w, b], g,
    );
    const rms = finiteDifferenceError(
      ([x, w]) => rmsNormRef(x, w, N, C).out,
      ([x, w], d) => { const r = rmsNormBackwardRef(d, x, w, N, C); return [r.dinp, r.dweight]; },
      [x, w], g,
    );
    // central differences with eps 1e-6 in float64: truncation ~1e-12, cancellation ~1e-10
    expect(ln).toBeLessThan(1e-6);
    expect(rms).toBeLessThan(1e-6);
  });

  it('parameter gradients are the same bits on every run', async () => {
    const rt = await getRuntime();
    const N = 257; // 17 blocks of 16 rows, the last with 1
    for (const C of [67, 68]) { // scalar and vec4 kernels
      const inp = rt.upload(rand(N * C, 1), [N, C]), weight = rt.upload(rand(C, 2), [C]), bias = rt.upload(rand(C, 4), [C]), dout = rt.upload(rand(N * C, 3), [N, C]);
      const mean = rt.tensor([N]), rstd = rt.tensor([N]), out = rt.tensor([N, C]), dinp = rt.tensor([N, C]);
      const rs = rt.tensor(rmsNormScratchShape(N, C)), ls = rt.tensor(layerNormScratchShape(N, C));
      for (const [name, t] of variants) {
        await withTuning(rt, t, async () => {
          for (const kind of ['layer', 'rms'] as const) {
            if (kind === 'rms') rt.once(rmsNormForward(rt, { out, rstd, inp, weight }));
            else rt.once(layerNormForward(rt, { out, mean, rstd, inp, weight, bias }));
            const bits: Uint32Array[] = [];
            for (let k = 0; k < 2; k++) {
              const dweight = rt.tensor([C], 'f32', 'dweight', true), dbias = rt.tensor([C], 'f32', 'dbias', true);
              if (kind === 'rms') rt.once(rmsNormBackward(rt, { dinp, dweight, scratch: rs, dout, inp, weight, rstd }));
              else rt.once(layerNormBackward(rt, { dinp, dweight, dbias, scratch: ls, dout, inp, weight, mean, rstd }));
              const w = await readF32(rt, dweight), b = await readF32(rt, dbias);
              bits.push(new Uint32Array(Float32Array.from([...w, ...b]).buffer));
              rt.free(dweight, dbias);
            }
            expect(bits[0], `${kind}norm, ${name}, C=${C}`).toEqual(bits[1]);
          }
        });
      }
      rt.free(inp, weight, bias, dout, mean, rstd, out, dinp, rs, ls);
    }
    await expectNoGpuErrors(rt);
  });

  it('rejects bad arguments before dispatch, naming op, argument and shapes', async () => {
    const rt = await getRuntime();
    const x = rt.tensor([4, 8], 'f32', 'x'), y = rt.tensor([4, 8], 'f32', 'y'), w = rt.tensor([8], 'f32', 'w'), w7 = rt.tensor([7], 'f32', 'w7');
    const m = rt.tensor([4], 'f32', 'm'), r = rt.tensor([4], 'f32', 'r'), i = rt.tensor([4, 8], 'i32', 'ids');
    expect(() => layerNormForward(rt, { out: y, mean: m, rstd: r, inp: x, weight: w7, bias: w })).toThrow(/layerNormForward: weight \(w7\) has shape \(7\), expected \(8\)/);
    expect(() => rmsNormForward(rt, { out: x, rstd: r, inp: x, weight: w })).toThrow(/rmsNormForward: out \(x\) and inp \(x\) overlap/);
    expect(() => rmsNormForward(rt, { out: y, rstd: r, inp: i, weight: w })).toThrow(/rmsNormForward: inp \(ids\) has dtype i32, expected f32/);
    expect(() => rmsNormForward(rt, { out: y, rstd: r, inp: x, weight: w, eps: -1 })).toThrow(/rmsNormForward: eps must be/);
    const wrongScratch = rt.tensor([1, 2, 8], 'f32', 'scratch');
    expect(() => rmsNormBackward(rt, { dinp: y, dweight: w7, scratch: wrongScratch, dout: x, inp: x, weight: w, rstd: r })).toThrow(/rmsNormBackward: dweight \(w7\) has shape \(7\), expected \(8\)/);
    expect(() => rmsNormBackward(rt, { dinp: y, dweight: m, scratch: wrongScratch, dout: x, inp: x, weight: w, rstd: r })).toThrow(/dweight \(m\) has shape \(4\)/);
    const dw = rt.tensor([8], 'f32', 'dw');
    expect(() => rmsNormBackward(rt, { dinp: y, dweight: dw, scratch: wrongScratch, dout: x, inp: x, weight: w, rstd: r })).toThrow(/rmsNormBackward: scratch \(scratch\) has shape \(1, 2, 8\), expected \(1, 1, 8\)/);
    // the per-binding size check every op runs, against a device with a 64-byte binding limit
    const tiny = { maxStorageBufferBindingSize: 64, maxBufferSize: 1 << 30 } as GPUSupportedLimits;
    expect(() => expectBindable('rmsNormForward', tiny, ['inp'], x)).toThrow(/rmsNormForward: inp \(x\) of shape \(4, 8\) needs 128 bytes, over this device's limit of 64 bytes/);
    rt.free(x, y, w, w7, m, r, i, wrongScratch, dw);
    await expectNoGpuErrors(rt);
  });
});
