// Kernel cases run in the browser Worker: small awkward shapes, compared with the float64
// references the Node tests use. Tolerances as in the Node tests of each kernel.
import type { Runtime } from '../../../src/gpu/runtime.ts';
import { add } from '../../../src/ops/elementwise.ts';
import { addRef } from '../../reference/elementwise.ts';
import { crossEntropy } from '../../../src/ops/cross_entropy.ts';
import { crossEntropyBackwardRef, crossEntropyRef } from '../../reference/cross_entropy.ts';
import { adamw, adamwHyper, buildDecayMask, decayMaskShape } from '../../../src/ops/adamw.ts';
import { adamwRef } from '../../reference/adamw.ts';
import { gradNorm, partialsShape } from '../../../src/ops/reduce.ts';
import { gradNormRef } from '../../reference/reduce.ts';

/** One comparison: the worst absolute error found and the tolerance it must stay within. */
export interface Check {
  what: string;
  maxError: number;
  tol: number;
}

export interface Case {
  name: string;
  run(rt: Runtime): Promise<Check[]>;
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
      return [{ what: 'y', maxError: maxAbsDiff(y, addRef(Float64Array.from(a), Float64Array.from(b))), tol: 1e-6 }];
    },
  },
  {
    name: 'cross-entropy forward+backward (7, 130) with ignored rows',
    async run(rt) {
      const R = 7, V = 130;
      const x = rand(R * V, 3).map((v) => 4 * v);
      const targets = Int32Array.from({ length: R }, (_, i) => (i === 2 ? -100 : (i * 37) % V));
      const counted = targets.filter((t) => t !== -100).length;
      const tl = rt.upload(x, [R, V]), tt = rt.upload(targets, [R], 'i32'), loss = rt.tensor([R]), gs = rt.upload([1 / counted], [1]);
      rt.once(crossEntropy(rt, { logits: tl, targets: tt, rowOffset: 0, losses: loss, gradScale: gs }));
      const [l, d] = [await rt.read(loss), await rt.read(tl)];
      const x64 = Float64Array.from(x);
      const dref = crossEntropyBackwardRef(x64, targets, V, Float64Array.from(targets, (t) => (t === -100 ? 0 : 1 / counted)));
      rt.free(tl, tt, loss, gs);
      // Loss: f32 log-sum-exp over 130 terms; gradient: softmax rounding (see test/ops/cross_entropy.test.ts).
      return [
        { what: 'loss', maxError: maxAbsDiff(l, crossEntropyRef(x64, targets, V)), tol: 1e-5 },
        { what: 'dlogits', maxError: maxAbsDiff(d, dref), tol: 1e-6 },
      ];
    },
  },
  {
    name: 'gradient norm, clip scale and AdamW (1000 params, masked decay)',
    async run(rt) {
      const P = 1000;
      const p = rand(P, 4), g = rand(P, 5).map((v) => 3 * v);
      const mask = buildDecayMask(P, [{ offset: 0, size: 600, decay: true }]);
      const tp = rt.upload(p, [P]), tg = rt.upload(g, [P]), tm = rt.tensor([P], 'f32', 'm', true), tv = rt.tensor([P], 'f32', 'v', true);
      const tmask = rt.upload(mask, decayMaskShape(P), 'u32');
      const h = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 1 };
      const hyper = rt.upload(adamwHyper(h), [6]);
      const norm = rt.tensor([2]), partials = rt.tensor(partialsShape(P));
      rt.once([...gradNorm(rt, { out: norm, grads: tg, partials, maxNorm: 1 }), ...adamw(rt, { params: tp, grads: tg, m: tm, v: tv, decayMask: tmask, hyper, gradScale: norm, gradScaleIndex: 1 })]);
      const [n, after] = [await rt.read(norm), await rt.read(tp)];
      const [refNorm, refScale] = gradNormRef(Float64Array.from(g), 1);
      const ref = Float64Array.from(p);
      const f = (v: number) => Math.fround(v);
      adamwRef(ref, Float64Array.from(g), new Float64Array(P), new Float64Array(P), (i) => i < 600, { lr: f(h.lr), beta1: f(h.beta1), beta2: f(h.beta2), eps: f(h.eps), weightDecay: f(h.weightDecay), step: 1 }, refScale);
      rt.free(tp, tg, tm, tv, tmask, hyper, norm, partials);
      // Norm and scale to 2e-6 relative as in the Node test; parameters near 1: a few f32 ulps.
      return [
        { what: 'norm (relative)', maxError: Math.abs(n[0] - refNorm) / refNorm, tol: 2e-6 },
        { what: 'clip scale (relative)', maxError: Math.abs(n[1] - refScale) / refScale, tol: 2e-6 },
        { what: 'params', maxError: maxAbsDiff(after, ref), tol: 1e-6 },
      ];
    },
  },
];

export { rand, maxAbsDiff };
