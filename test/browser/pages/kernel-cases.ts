// Kernel cases run in the browser Worker: small awkward shapes, compared with the float64
// references the Node tests use. Tolerances as in the Node tests of each kernel.
import type { Runtime } from '../../../src/gpu/runtime.ts';
import { add } from '../../../src/ops/elementwise.ts';
import { addRef } from '../../reference/elementwise.ts';

export interface Case {
  name: string;
  run(rt: Runtime): Promise<{ maxError: number; tol: number }>;
}

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return Number.isNaN(m) ? Infinity : m;
}

export const cases: Case[] = [
  {
    name: 'add (1000)',
    async run(rt) {
      const a = rand(1000, 1), b = rand(1000, 2);
      const ta = rt.upload(a, [1000]), tb = rt.upload(b, [1000]), ty = rt.tensor([1000]);
      rt.once(add(rt, ty, ta, tb));
      const y = await rt.read(ty);
      rt.free(ta, tb, ty);
      return { maxError: maxAbsDiff(y, addRef(Float64Array.from(a), Float64Array.from(b))), tol: 1e-6 };
    },
  },
];

export { rand, maxAbsDiff };
