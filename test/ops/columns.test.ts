import { describe, expect, it } from 'vitest';
import { copyColumns } from '../../src/ops/columns.ts';
import { expectNoGpuErrors, getRuntime, rand, readF32 } from '../helpers/gpu.ts';

function copyColumnsRef(out: Float32Array, No: number, inp: Float32Array, Ni: number, outCol: number, inpCol: number, cols: number, accumulate: boolean): Float32Array {
  const r = out.slice();
  const M = out.length / No;
  for (let m = 0; m < M; m++)
    for (let c = 0; c < cols; c++) r[m * No + outCol + c] = inp[m * Ni + inpCol + c] + (accumulate ? out[m * No + outCol + c] : 0);
  return r;
}

// A copy is exact and a single f32 add rounds identically on both sides: bitwise equality.
describe('copyColumns', () => {
  for (const [M, No, Ni, outCol, inpCol, cols, acc] of [
    [1, 7, 3, 2, 0, 3, false],
    [33, 96, 32, 64, 0, 32, true],
    [130, 24, 72, 0, 40, 24, false],
    [300, 5, 5, 1, 1, 4, true],
  ] as const) {
    it(`M ${M}: out (${No}) [${outCol}:+${cols}] ${acc ? '+' : ''}= inp (${Ni}) [${inpCol}:]`, async () => {
      const rt = await getRuntime();
      const out = rand(M * No, 1), inp = rand(M * Ni, 2);
      const to = rt.upload(out, [M, No]), ti = rt.upload(inp, [M, Ni]);
      rt.once(copyColumns(rt, { out: to, inp: ti, outCol, inpCol, cols, accumulate: acc }));
      expect(await readF32(rt, to)).toEqual(copyColumnsRef(out, No, inp, Ni, outCol, inpCol, cols, acc));
      rt.free(to, ti);
      await expectNoGpuErrors(rt);
    });
  }

  it('rejects blocks that do not fit, naming the op and the columns', async () => {
    const rt = await getRuntime();
    const a = rt.tensor([4, 8], 'f32', 'a'), b = rt.tensor([4, 3], 'f32', 'b'), c = rt.tensor([5, 3], 'f32', 'c');
    expect(() => copyColumns(rt, { out: a, inp: b, outCol: 6, inpCol: 0, cols: 3 })).toThrow(/copyColumns: outCol 6 \+ cols 3 does not fit in 8 columns/);
    expect(() => copyColumns(rt, { out: a, inp: c, outCol: 0, inpCol: 0, cols: 3 })).toThrow(/copyColumns: inp \(c\) has 5 rows but out \(a\) has 4/);
    rt.free(a, b, c);
  });
});
