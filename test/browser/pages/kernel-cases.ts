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

/** One comparison: the worst absolute error found and the tolerance it must stay within. */import { layerNormBackward, layerNormForward, layerNormScratchShape, rmsNormBackward, rmsNormForward, rmsNormScratchShape } from '../../../src/ops/norm.ts';
import { layerNormBackwardRef, layerNormRef, rmsNormBackwardRef, rmsNormRef } from '../../reference/norm.ts';
import { geluBackward, geluForward, swigluBackward, swigluForward } from '../../../src/ops/activation.ts';
import { geluBackwardRef, geluRef, swigluBackwardRef, swigluRef } from '../../reference/activation.ts';
import { ropeForward, ropeTable } from '../../../src/ops/rope.ts';
import { ropeRef } from '../../reference/rope.ts';
import { embeddingBackward, embeddingBackwardIndex, embeddingForward, embeddingIndexShape } from '../../../src/ops/embedding.ts';
import { embeddingBackwardRef, embeddingRef } from '../../reference/embedding.ts';
import { matmul } from '../../../src/ops/matmul.ts';
import { matmulRef } from '../../reference/matmul.ts';
import { attentionBackward, attentionForward, attentionScratchShapes } from '../../../src/ops/attention.ts';
import { attentionBackwardRef, attentionForwardRef } from '../../reference/attention.ts';
import { distillLoss } from '../../../src/ops/distill.ts';
import { distillBackwardRef, distillRef, teacherTopK } from '../../reference/distill.ts';
import { topkLogSoftmax } from '../../../src/ops/topk.ts';
import { topkLogSoftmaxRef } from '../../reference/topk.ts';

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

/** out = op(a)·op(b) (+ bias) at an awkward shape and an aligned one (vec4 paths). */
async function matmulCase(rt: Runtime, M: number, K: number, N: number, transA: boolean, transB: boolean, withBias: boolean): Promise<Check> {
  const a = rand(M * K, M + K), b = rand(K * N, K + N), bias = rand(N, N);
  const ta = rt.upload(a, transA ? [K, M] : [M, K]), tb = rt.upload(b, transB ? [N, K] : [K, N]), tbias = rt.upload(bias, [N]), out = rt.tensor([M, N]);
  rt.once(matmul(rt, { out, a: ta, b: tb, transA, transB, bias: withBias ? tbias : undefined }));
  const got = await rt.read(out);
  rt.free(ta, tb, tbias, out);
  const ref = matmulRef(Float64Array.from(a), Float64Array.from(b), { M, N, K, transA, transB, bias: withBias ? Float64Array.from(bias) : undefined });
  // K-term f32 dot products of values in [-1, 1]: atol 1e-6·K as in the Node test.
  return { what: `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} ${M}x${K}x${N}${withBias ? ' + bias' : ''}`, maxError: maxAbsDiff(got, ref), tol: 1e-6 * K + 1e-6 };
}

export const cases: Case[] = [
  {
    name: 'flash attention forward+backward, GQA and segments (2, 33, 4, 2, 16)',
    async run(rt) {
      const [B, T, Hq, Hkv, D] = [2, 33, 4, 2, 16];
      const seg = Int32Array.from({ length: B * T }, (_, i) => ((i % T) < 20 ? 1 : 2));
      const q = rand(B * T * Hq * D, 21), k = rand(B * T * Hkv * D, 22), v = rand(B * T * Hkv * D, 23), dy = rand(B * T * Hq * D, 24);
      const tq = rt.upload(q, [B, T, Hq, D]), tk = rt.upload(k, [B, T, Hkv, D]), tv = rt.upload(v, [B, T, Hkv, D]), tdy = rt.upload(dy, [B, T, Hq, D]);
      const ts = rt.upload(seg, [B, T], 'i32');
      const s = attentionScratchShapes(B, T, Hq);
      const out = rt.tensor([B, T, Hq, D]), lse = rt.tensor(s.lse), delta = rt.tensor(s.delta);
      const dq = rt.tensor([B, T, Hq, D]), dk = rt.tensor([B, T, Hkv, D]), dv = rt.tensor([B, T, Hkv, D]);
      rt.once([
        ...attentionForward(rt, { out, lse, q: tq, k: tk, v: tv, segmentIds: ts }),
        ...attentionBackward(rt, { dq, dk, dv, dout: tdy, q: tq, k: tk, v: tv, out, lse, delta, segmentIds: ts }),
      ]);
      const dims = { B, T, Hq, Hkv, D, seg };
      const [q64, k64, v64, dy64] = [q, k, v, dy].map((a) => Float64Array.from(a));
      const f = attentionForwardRef(dims, q64, k64, v64), b = attentionBackwardRef(dims, q64, k64, v64, dy64);
      // Tolerances of test/ops/attention.test.ts: f32 sums over up to T terms in another order.
      const checks = [
        { what: 'out', maxError: maxAbsDiff(await rt.read(out), f.out), tol: 2e-5 },
        { what: 'lse', maxError: maxAbsDiff(await rt.read(lse), f.lse), tol: 2e-5 },
        { what: 'dq', maxError: maxAbsDiff(await rt.read(dq), b.dq), tol: 1e-4 },
        { what: 'dk', maxError: maxAbsDiff(await rt.read(dk), b.dk), tol: 1e-4 },
        { what: 'dv', maxError: maxAbsDiff(await rt.read(dv), b.dv), tol: 1e-4 },
      ];
      rt.free(tq, tk, tv, tdy, ts, out, lse, delta, dq, dk, dv);
      return checks;
    },
  },
  {
    name: 'matmul NN, NT, TN at awkward and aligned shapes',
    async run(rt) {
      return [
        await matmulCase(rt, 33, 7, 130, false, false, true),
        await matmulCase(rt, 64, 64, 64, false, false, false),
        await matmulCase(rt, 33, 130, 7, false, true, false),
        await matmulCase(rt, 48, 64, 40, false, true, true),
        await matmulCase(rt, 7, 33, 130, true, false, false),
        await matmulCase(rt, 64, 32, 64, true, false, false),
      ];
    },
  },
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
    name: 'distillation loss forward+backward (7, 130), top-5, JSD(0.3) at τ 2, an ignored row',
    async run(rt) {
      const R = 7, V = 130, K = 5;
      const x = rand(R * V, 5).map((v) => 4 * v);
      const targets = Int32Array.from({ length: R }, (_, i) => (i === 4 ? -100 : (i * 41) % V));
      const counted = targets.filter((t) => t !== -100).length;
      const { ids, lps } = teacherTopK(R, V, K, rand(R * (K + 1), 6).map((v) => (v + 1) / 2));
      const o = { V, K, kind: 'jsd' as const, beta: 0.3, alpha: 0.4, temperature: 2 };
      const tl = rt.upload(x, [R, V]), tt = rt.upload(targets, [R], 'i32'), ti = rt.upload(ids, [R, K], 'i32'), tp = rt.upload(Float32Array.from(lps), [R, K]);
      const loss = rt.tensor([R]), gs = rt.upload([1 / counted], [1]);
      rt.once(distillLoss(rt, { logits: tl, targets: tt, teacherIds: ti, teacherLogprobs: tp, rowOffset: 0, losses: loss, gradScale: gs, ...o }));
      const [l, d] = [await rt.read(loss), await rt.read(tl)];
      rt.free(tl, tt, ti, tp, loss, gs);
      const x64 = Float64Array.from(x);
      const dref = distillBackwardRef(x64, targets, ids, lps, o, Float64Array.from(targets, (t) => (t === -100 ? 0 : 1 / counted)));
      // As in test/ops/distill.test.ts: f32 log-sum-exps over V and K terms of logits up to 4.
      return [
        { what: 'loss', maxError: maxAbsDiff(l, distillRef(x64, targets, ids, lps, o)), tol: 2e-5 },
        { what: 'dlogits', maxError: maxAbsDiff(d, dref), tol: 2e-6 },
      ];
    },
  },
  {
    name: 'top-k log-softmax (7, 1000), K 17, τ 0.5, tied logits',
    async run(rt) {
      const R = 7, V = 1000, K = 17;
      // Rounded to 1/8 so many logits tie: the lower id must come first.
      const x = rand(R * V, 7).map((v) => Math.round(8 * 4 * v) / 8);
      const tl = rt.upload(x, [R, V]), ids = rt.tensor([R, K], 'i32'), lp = rt.tensor([R, K]);
      rt.once(topkLogSoftmax(rt, { ids, logprobs: lp, logits: tl, rowOffset: 0, temperature: 0.5 }));
      const [gi, gl] = [await rt.read(ids), await rt.read(lp)];
      rt.free(tl, ids, lp);
      const ref = topkLogSoftmaxRef(Float64Array.from(x), R, V, K, 0.5);
      // Ids exactly; log-probs: f32 rounding of z = x/τ (|z| ≤ 8) and a log-sum-exp over 1000 terms.
      return [
        { what: 'ids (mismatches)', maxError: Array.from(gi).filter((v, i) => v !== ref.ids[i]).length, tol: 0 },
        { what: 'logprobs', maxError: maxAbsDiff(gl, ref.logprobs), tol: 1e-5 },
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
  {
    name: 'LayerNorm and RMSNorm forward+backward (33, 67)',
    async run(rt) {
      const N = 33, C = 67;
      const x = rand(N * C, 6).map((v) => v + 0.5), w = rand(C, 7), b = rand(C, 8), dy = rand(N * C, 9);
      const [x64, w64, b64, dy64] = [x, w, b, dy].map((a) => Float64Array.from(a));
      const tx = rt.upload(x, [N, C]), tw = rt.upload(w, [C]), tb = rt.upload(b, [C]), tdy = rt.upload(dy, [N, C]);
      const out = rt.tensor([N, C]), mean = rt.tensor([N]), rstd = rt.tensor([N]), dx = rt.tensor([N, C]);
      const dw = rt.tensor([C], 'f32', 'dw', true), db = rt.tensor([C], 'f32', 'db', true);
      const scratch = rt.tensor(layerNormScratchShape(N, C));
      rt.once([...layerNormForward(rt, { out, mean, rstd, inp: tx, weight: tw, bias: tb }), ...layerNormBackward(rt, { dinp: dx, dweight: dw, dbias: db, scratch, dout: tdy, inp: tx, weight: tw, mean, rstd })]);
      const ln = layerNormRef(x64, w64, b64, N, C), lnb = layerNormBackwardRef(dy64, x64, w64, N, C);
      const checks: Check[] = [
        { what: 'layernorm out', maxError: maxAbsDiff(await rt.read(out), ln.out), tol: 2e-5 },
        { what: 'layernorm dinp', maxError: maxAbsDiff(await rt.read(dx), lnb.dinp), tol: 5e-5 },
        { what: 'layernorm dweight', maxError: maxAbsDiff(await rt.read(dw), lnb.dweight), tol: 1e-4 },
        { what: 'layernorm dbias', maxError: maxAbsDiff(await rt.read(db), lnb.dbias), tol: 1e-4 },
      ];
      const rstd2 = rt.tensor([N]), scratch2 = rt.tensor(rmsNormScratchShape(N, C)), dw2 = rt.tensor([C], 'f32', 'dw2', true);
      rt.once([...rmsNormForward(rt, { out, rstd: rstd2, inp: tx, weight: tw }), ...rmsNormBackward(rt, { dinp: dx, dweight: dw2, scratch: scratch2, dout: tdy, inp: tx, weight: tw, rstd: rstd2 })]);
      const rms = rmsNormRef(x64, w64, N, C), rmsb = rmsNormBackwardRef(dy64, x64, w64, N, C);
      checks.push(
        { what: 'rmsnorm out', maxError: maxAbsDiff(await rt.read(out), rms.out), tol: 2e-5 },
        { what: 'rmsnorm dinp', maxError: maxAbsDiff(await rt.read(dx), rmsb.dinp), tol: 5e-5 },
        { what: 'rmsnorm dweight', maxError: maxAbsDiff(await rt.read(dw2), rmsb.dweight), tol: 1e-4 },
      );
      rt.free(tx, tw, tb, tdy, out, mean, rstd, dx, dw, db, scratch, rstd2, scratch2, dw2);
      return checks;
    },
  },
  {
    name: 'GELU and SwiGLU forward+backward (7, 130)',
    async run(rt) {
      const n = 7 * 130;
      const x = rand(n, 10).map((v) => 4 * v), u = rand(n, 11), dy = rand(n, 12);
      const [x64, u64, dy64] = [x, u, dy].map((a) => Float64Array.from(a));
      const tx = rt.upload(x, [7, 130]), tu = rt.upload(u, [7, 130]), tdy = rt.upload(dy, [7, 130]);
      const y = rt.tensor([7, 130]), dx = rt.tensor([7, 130]), du = rt.tensor([7, 130]);
      rt.once([...geluForward(rt, { out: y, inp: tx })]);
      const checks: Check[] = [{ what: 'gelu', maxError: maxAbsDiff(await rt.read(y), geluRef(x64)), tol: 1e-5 }];
      rt.once(geluBackward(rt, { dinp: dx, dout: tdy, inp: tx }));
      checks.push({ what: 'gelu backward', maxError: maxAbsDiff(await rt.read(dx), geluBackwardRef(dy64, x64)), tol: 1e-5 });
      rt.once([...swigluForward(rt, { out: y, gate: tx, up: tu }), ...swigluBackward(rt, { dgate: dx, dup: du, dout: tdy, gate: tx, up: tu })]);
      const sb = swigluBackwardRef(dy64, x64, u64);
      checks.push(
        { what: 'swiglu', maxError: maxAbsDiff(await rt.read(y), swigluRef(x64, u64)), tol: 1e-5 },
        { what: 'swiglu dgate', maxError: maxAbsDiff(await rt.read(dx), sb.dgate), tol: 1e-5 },
        { what: 'swiglu dup', maxError: maxAbsDiff(await rt.read(du), sb.dup), tol: 1e-5 },
      );
      rt.free(tx, tu, tdy, y, dx, du);
      return checks;
    },
  },
  {
    name: 'RoPE forward in place (2, 7, 3, 16), packed positions',
    async run(rt) {
      const [B, T, H, D] = [2, 7, 3, 16];
      const x = rand(B * T * H * D, 13);
      const pos = Int32Array.from({ length: B * T }, (_, i) => (i % T) % 4);
      const tx = rt.upload(x, [B, T, H, D]), tp = rt.upload(pos, [B, T], 'i32'), table = rt.upload(ropeTable(T, D), [T, D / 2, 2]);
      rt.once(ropeForward(rt, { out: tx, inp: tx, positions: tp, table }));
      const got = await rt.read(tx);
      rt.free(tx, tp, table);
      return [{ what: 'rope', maxError: maxAbsDiff(got, ropeRef(Float64Array.from(x), pos, B, T, H, D)), tol: 1e-6 }];
    },
  },
  {
    name: 'embedding forward+backward with repeated ids (7 tokens, V 11, C 5)',
    async run(rt) {
      const V = 11, C = 5, ids = Int32Array.of(3, 3, 0, 10, 3, 7, 0);
      const table = rand(V * C, 14), dy = rand(ids.length * C, 15);
      const tt = rt.upload(table, [V, C]), ti = rt.upload(ids, [1, 7], 'i32'), out = rt.tensor([1, 7, C]), tdy = rt.upload(dy, [1, 7, C]);
      const dt = rt.tensor([V, C], 'f32', 'dtable', true);
      const index = rt.upload(embeddingBackwardIndex(ids, V), embeddingIndexShape(ids.length), 'i32');
      rt.once([...embeddingForward(rt, { out, ids: ti, table: tt }), ...embeddingBackward(rt, { dtable: dt, dout: tdy, ids: ti, index })]);
      const checks = [
        { what: 'lookup', maxError: maxAbsDiff(await rt.read(out), embeddingRef(ids, Float64Array.from(table), V, C)), tol: 0 },
        { what: 'dtable', maxError: maxAbsDiff(await rt.read(dt), embeddingBackwardRef(ids, Float64Array.from(dy), V, C)), tol: 1e-6 },
      ];
      rt.free(tt, ti, out, tdy, dt, index);
      return checks;
    },
  },
];

export { rand, maxAbsDiff };
