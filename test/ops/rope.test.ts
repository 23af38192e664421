import { describe, it, expect } from 'vitest';
import type { Runtime } from '../../src/gpu/runtime.ts';
import { ropeBackward, ropeForward, ropeTable } from '../../src/ops/rope.ts';
import { ropeBackwardRef, ropeRef } from '../reference/rope.ts';
import { f64, finiteDifferenceError } from '../reference/gradcheck.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, randInt, readF32 } from '../helpers/gpu.ts';

// Tolerance: out = x·cos θ ∓ x'·sin θ with |x| <= 1, cos and sin from a float64 table rounded once
// to f32 (half an ulp, 6e-8), then two products and a sum in f32: a few ulps of |x|, so atol 1e-6
// at any position the table covers. The naive f32 angle (f32(pos) · f32(inv_freq), as Hugging
// Face computes it in float32) is off by up to 5e-4 rad at pos = 8192 and would fail this
// tolerance; a test checks that it does.
const TOL = { atol: 1e-6 };

/** GPU rope forward and backward (separate or in place) against the reference. */
async function checkRope(rt: Runtime, [B, T, H, D]: number[], pos: Int32Array, opts: { base?: number; inPlace?: boolean; seed?: number } = {}): Promise<void> {
  const n = B * T * H * D;
  const seed = opts.seed ?? n;
  const x = rand(n, seed), g = rand(n, seed + 1);
  const base = opts.base ?? 10000;
  const positions = rt.upload(pos, [B, T], 'i32', 'positions');
  const inp = rt.upload(x, [B, T, H, D], 'f32', 'inp'), dout = rt.upload(g, [B, T, H, D], 'f32', 'dout');
  const out = opts.inPlace ? inp : rt.tensor([B, T, H, D], 'f32', 'out');
  const dinp = opts.inPlace ? dout : rt.tensor([B, T, H, D], 'f32', 'dinp');
  const P = Math.max(...pos) + 1;
  const table = rt.upload(ropeTable(P, D, base), [P, D / 2, 2], 'f32', 'table');
  const fwd = ropeForward(rt, { out, inp, positions, table }), bwd = ropeBackward(rt, { dinp, dout, positions, table });
  // D/2 a multiple of 4 takes the vec4 row kernel, any other even D the per-pair one.
  const entry = `rope.rope${(D / 2) % 4 === 0 ? '4' : ''}${opts.inPlace ? '_inplace' : ''}`;
  expect([fwd[0].label, bwd[0].label]).toEqual([entry, entry]);
  rt.once(fwd);
  rt.once(bwd);
  expectClose(await readF32(rt, out), ropeRef(f64(x), pos, B, T, H, D, base), TOL, 'rope out');
  expectClose(await readF32(rt, dinp), ropeBackwardRef(f64(g), pos, B, T, H, D, base), TOL, 'rope dinp');
  rt.free(positions, inp, dout, table);
  if (!opts.inPlace) rt.free(out, dinp);
  await expectNoGpuErrors(rt);
}

/** Positions of packed sequences: each row holds segments that restart at 0. */
function packed(B: number, T: number, seed: number): Int32Array {
  const lens = randInt(B * T, seed, 5);
  const pos = new Int32Array(B * T);
  for (let b = 0, k = 0; b < B; b++) {
    for (let t = 0, p = 0, left = 1 + lens[k++]; t < T; t++, p++, left--) {
      if (left === 0) { p = 0; left = 1 + lens[k++]; }
      pos[b * T + t] = p;
    }
  }
  return pos;
}

describe('rope', () => {
  const shapes = [[1, 1, 1, 2], [2, 7, 3, 6], [1, 33, 2, 64], [3, 5, 2, 130]];
  for (const s of shapes) {
    it(`forward and backward at (B, T, H, D) = (${s.join(', ')}), packed positions`, async () => {
      await checkRope(await getRuntime(), s, packed(s[0], s[1], s[3]));
    });
  }

  it('positions up to 65535, Llama 3 base 500000, D = 128', async () => {
    const B = 2, T = 33;
    const pos = randInt(B * T, 7, 65536);
    pos.set([0, 1, 8191, 8192, 65535, 4095, 4096]);
    await checkRope(await getRuntime(), [B, T, 2, 128], pos);
    await checkRope(await getRuntime(), [B, T, 2, 128], pos, { base: 500000, seed: 3 });
  });

  it('in place (out = inp, dinp = dout)', async () => {
    const pos = randInt(2 * 9, 5, 2000);
    await checkRope(await getRuntime(), [2, 9, 3, 10], pos, { inPlace: true });
    await checkRope(await getRuntime(), [2, 9, 3, 16], pos, { inPlace: true });
  });

  it('positions outside the table give NaN, not a read out of bounds', async () => {
    const rt = await getRuntime();
    for (const D of [4, 8]) { // per-pair and vec4 kernels
      const x = rt.upload(rand(2 * D, 3), [1, 2, 1, D]), positions = rt.upload([1, 5], [1, 2], 'i32');
      const table = rt.upload(ropeTable(3, D), [3, D / 2, 2]);
      rt.once(ropeForward(rt, { out: x, inp: x, positions, table }));
      const y = await readF32(rt, x);
      expect(y.slice(0, D).every(Number.isFinite)).toBe(true);
      expect(y.slice(D).every(Number.isNaN)).toBe(true);
      rt.free(x, positions, table);
    }
    await expectNoGpuErrors(rt);
  });

  it('backward undoes forward', async () => {
    const rt = await getRuntime();
    const shape = [1, 4, 2, 8], n = 64;
    const x = rand(n, 9);
    const t = rt.upload(x, shape), positions = rt.upload([0, 700, 3000, 8191], [1, 4], 'i32');
    const table = rt.upload(ropeTable(8192, 8), [8192, 4, 2]);
    rt.once([...ropeForward(rt, { out: t, inp: t, positions, table }), ...ropeBackward(rt, { dinp: t, dout: t, positions, table })]);
    expectClose(await readF32(rt, t), x, { atol: 1e-6 }, 'round trip'); // two rotations: a few ulps
    rt.free(t, positions, table);
    await expectNoGpuErrors(rt);
  });

  it('reference backward matches finite differences', () => {
    const B = 1, T = 3, H = 2, D = 4, pos = [0, 5, 11];
    const x = f64(rand(B * T * H * D, 1)), g = f64(rand(B * T * H * D, 2));
    const err = finiteDifferenceError(([x]) => ropeRef(x, pos, B, T, H, D), (_, d) => [ropeBackwardRef(d, pos, B, T, H, D)], [x], g);
    expect(err).toBeLessThan(1e-7); // linear in x: central differences are exact up to rounding
  });

  it('the tolerance rejects the naive f32 angle', () => {
    const D = 128, pos = 8191;
    let worst = 0;
    for (let i = 0; i < D / 2; i++) {
      const exact = pos * Math.pow(10000, (-2 * i) / D);
      const naive = Math.fround(pos * Math.fround(Math.pow(10000, (-2 * i) / D)));
      worst = Math.max(worst, Math.abs(Math.sin(naive) - Math.sin(exact)));
    }
    expect(worst).toBeGreaterThan(10 * TOL.atol);
  });

  it('rejects bad arguments before dispatch, naming op, argument and shapes', async () => {
    const rt = await getRuntime();
    const x = rt.tensor([2, 3, 4, 6], 'f32', 'x'), odd = rt.tensor([2, 3, 4, 5], 'f32', 'odd');
    const pos = rt.tensor([2, 3], 'i32', 'pos'), posF = rt.tensor([2, 3], 'f32', 'posF'), pos4 = rt.tensor([2, 4], 'i32', 'pos4');
    const table = rt.tensor([8, 3, 2], 'f32', 'table'), table4 = rt.tensor([8, 4, 2], 'f32', 'table4');
    expect(() => ropeForward(rt, { out: odd, inp: odd, positions: pos, table })).toThrow(/ropeForward: inp \(odd\) has head size D = 5; rotate-half RoPE needs an even D/);
    expect(() => ropeForward(rt, { out: x, inp: x, positions: posF, table })).toThrow(/ropeForward: positions \(posF\) has dtype f32, expected i32/);
    expect(() => ropeBackward(rt, { dinp: x, dout: x, positions: pos4, table })).toThrow(/ropeBackward: positions \(pos4\) has shape \(2, 4\), expected \(2, 3\)/);
    expect(() => ropeForward(rt, { out: x, inp: x, positions: pos, table: table4 })).toThrow(/ropeForward: table \(table4\) has shape \(8, 4, 2\), expected \(\*, 3, 2\)/);
    expect(() => ropeTable(8, 6, 0)).toThrow(/ropeTable: base must be/);
    const p11 = rt.tensor([1, 1], 'i32', 'p11');
    // a view that overlaps the input without being it cannot be done in one pass
    const head = { ...x, shape: [1, 1, 4, 6] };
    expect(() => ropeForward(rt, { out: { ...x, byteOffset: 64, shape: [1, 1, 4, 6] }, inp: head, positions: p11, table })).toThrow(/ropeForward: out \(x\) and inp \(x\) overlap/);
    rt.free(x, odd, pos, posF, pos4, p11, table, table4);
    await expectNoGpuErrors(rt);
  });
});
