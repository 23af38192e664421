// Column-block copy between row-major matrices (see shaders/columns.wgsl): splitting a fused
// projection's output into its parts and joining their gradients back.
//   M  rows (B·T tokens), No / Ni  columns of out / inp, n  columns copied
import { OpError } from '../gpu/errors.ts';
import { grid, type Dispatch, type Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/columns.wgsl?raw';
import { ceilDiv, expectBindable, expectDType, expectNoAlias, expectPositiveInt, expectRank } from './check.ts';

const WG = 256;

/** out[:, outCol : outCol + cols] = inp[:, inpCol : inpCol + cols] (or += with `accumulate`). */
export function copyColumns(
  rt: Runtime,
  a: {
    out: Tensor; // (M, No)
    inp: Tensor; // (M, Ni)
    outCol: number;
    inpCol: number;
    cols: number;
    accumulate?: boolean;
  },
): Dispatch[] {
  const op = 'copyColumns';
  expectDType(op, 'out', a.out, 'f32');
  expectDType(op, 'inp', a.inp, 'f32');
  expectRank(op, 'out', a.out, 2);
  expectRank(op, 'inp', a.inp, 2);
  const [M, No] = a.out.shape;
  const [Mi, Ni] = a.inp.shape;
  expectPositiveInt(op, 'rows (M)', M);
  expectPositiveInt(op, 'cols', a.cols);
  if (Mi !== M) throw new OpError(op, `inp (${a.inp.label}) has ${Mi} rows but out (${a.out.label}) has ${M}`);
  for (const [name, col, width] of [['outCol', a.outCol, No], ['inpCol', a.inpCol, Ni]] as const) {
    if (!Number.isInteger(col) || col < 0 || col + a.cols > width) {
      throw new OpError(op, `${name} ${col} + cols ${a.cols} does not fit in ${width} columns`);
    }
  }
  expectNoAlias(op, 1, ['out', 'inp'], a.out, a.inp);
  expectBindable(op, rt.limits, ['out', 'inp'], a.out, a.inp);
  const n = M * a.cols;
  return [
    rt.kernel({
      key: { kernel: 'columns', variant: 'main', dtype: 'f32', constants: { WG } },
      code,
      bindings: { 1: a.out, 2: a.inp },
      params: [['u32', M], ['u32', a.cols], ['u32', No], ['u32', a.outCol], ['u32', Ni], ['u32', a.inpCol], ['u32', a.accumulate ? 1 : 0]],
      workgroups: grid(ceilDiv(n, WG)),
    }),
  ];
}
