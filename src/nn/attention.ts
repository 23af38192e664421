// Causal self-attention sublayer: q/k/v projections (+bias), RoPE on q and k (llama, qwen2),
// flash attention restricted by segment ids, output projection added into the residual stream.
// Grouped-query attention when Hkv < Hq. Letters as in src/nn/types.ts.
import type { Step } from '../gpu/runtime.ts';
import { reshape, type Tensor } from '../gpu/tensor.ts';
import { attentionBackward, attentionForward } from '../ops/attention.ts';
import { copyColumns } from '../ops/columns.ts';
import { ropeBackward, ropeForward } from '../ops/rope.ts';
import type { LayerContext } from './context.ts';
import { linearBackward, linearForward, linearForwardMany } from './linear.ts';
import type { LayerNames } from './types.ts';

/** What the attention sublayer keeps for its backward. */
export interface AttentionSaved {
  q: Tensor; // (N, Hq·D), after RoPE
  k: Tensor; // (N, Hkv·D), after RoPE
  v: Tensor; // (N, Hkv·D)
  att: Tensor; // (N, Hq·D), attention output before the o projection
  lse: Tensor; // (B, Hq, T)
}

const heads = (t: Tensor, B: number, T: number, H: number, D: number) => reshape(t, [B, T, H, D]);

/** out += o(attention(q(x), k(x), v(x))): `out` holds the residual input on entry. */
export function attentionForwardLayer(
  ctx: LayerContext,
  names: LayerNames,
  a: {
    out: Tensor; // (N, C), accumulated into
    s: AttentionSaved;
    inp: Tensor; // (N, C), the normalised input
    scale: number; // of the scores (attentionScale)
  },
): Step[] {
  const { rt, d, w, layout, inputs } = ctx;
  const { s } = a;
  const steps: Step[] = [];
  if ('fused' in names.qkv) {
    // gpt2: one (N, C)·(C, 3C) product, then its column blocks become q, k, v
    const qkv = ctx.scratch.qkv!;
    steps.push(...linearForward(rt, { out: qkv, inp: a.inp, weight: w.p(names.qkv.fused.weight), bias: w.p(names.qkv.fused.bias), layout }));
    const widths = [d.Hq * d.D, d.Hkv * d.D, d.Hkv * d.D];
    [s.q, s.k, s.v].forEach((t, i) => {
      steps.push(...copyColumns(rt, { out: t, inp: qkv, outCol: 0, inpCol: widths.slice(0, i).reduce((x, y) => x + y, 0), cols: widths[i] }));
    });
  } else {
    const parts = ([[s.q, names.qkv.q], [s.k, names.qkv.k], [s.v, names.qkv.v]] as const).map(([out, n]) => ({ out, weight: w.p(n.weight), bias: w.p(n.bias) }));
    steps.push(...linearForwardMany(rt, { inp: a.inp, parts, layout }));
  }
  const q4 = heads(s.q, d.B, d.T, d.Hq, d.D);
  const k4 = heads(s.k, d.B, d.T, d.Hkv, d.D);
  if (ctx.ropeTable) {
    steps.push(...ropeForward(rt, { out: q4, inp: q4, positions: inputs.positions, table: ctx.ropeTable }));
    steps.push(...ropeForward(rt, { out: k4, inp: k4, positions: inputs.positions, table: ctx.ropeTable }));
  }
  steps.push(
    ...attentionForward(rt, { out: heads(s.att, d.B, d.T, d.Hq, d.D), lse: s.lse, q: q4, k: k4, v: heads(s.v, d.B, d.T, d.Hkv, d.D), segmentIds: inputs.segmentIds, scale: a.scale }),
  );
  steps.push(...linearForward(rt, { out: a.out, inp: s.att, weight: w.p(names.o.weight), bias: w.p(names.o.bias), layout, accumulate: true }));
  return steps;
}

/**
 * Given dout (the residual gradient), accumulates the o/q/k/v parameter gradients and writes the
 * gradient of the normalised input into `dinp` (overwritten).
 */
export function attentionBackwardLayer(
  ctx: LayerContext,
  names: LayerNames,
  a: {
    dinp: Tensor; // (N, C), overwritten
    dout: Tensor; // (N, C)
    s: AttentionSaved;
    inp: Tensor; // (N, C), the normalised input
    scale: number; // as in the forward
  },
): Step[] {
  const { rt, d, w, layout, inputs, ones } = ctx;
  const { s } = a;
  const { datt, dq, dk, dv, delta } = ctx.scratch;
  const steps: Step[] = [];
  steps.push(...linearBackward(rt, { dinp: datt, dweight: w.g(names.o.weight), dbias: w.g(names.o.bias), dout: a.dout, inp: s.att, weight: w.p(names.o.weight), ones, layout }));
  const q4 = heads(s.q, d.B, d.T, d.Hq, d.D);
  const dq4 = heads(dq, d.B, d.T, d.Hq, d.D);
  const dk4 = heads(dk, d.B, d.T, d.Hkv, d.D);
  steps.push(
    ...attentionBackward(rt, {
      dq: dq4, dk: dk4, dv: heads(dv, d.B, d.T, d.Hkv, d.D), dout: heads(datt, d.B, d.T, d.Hq, d.D),
      q: q4, k: heads(s.k, d.B, d.T, d.Hkv, d.D), v: heads(s.v, d.B, d.T, d.Hkv, d.D), out: heads(s.att, d.B, d.T, d.Hq, d.D),
      lse: s.lse, delta, segmentIds: inputs.segmentIds, scale: a.scale,
    }),
  );
  if (ctx.ropeTable) {
    steps.push(...ropeBackward(rt, { dinp: dq4, dout: dq4, positions: inputs.positions, table: ctx.ropeTable }));
    steps.push(...ropeBackward(rt, { dinp: dk4, dout: dk4, positions: inputs.positions, table: ctx.ropeTable }));
  }
  if ('fused' in names.qkv) {
    const dqkv = ctx.scratch.qkv!;
    const widths = [d.Hq * d.D, d.Hkv * d.D, d.Hkv * d.D];
    [dq, dk, dv].forEach((t, i) => {
      steps.push(...copyColumns(rt, { out: dqkv, inp: t, outCol: widths.slice(0, i).reduce((x, y) => x + y, 0), inpCol: 0, cols: widths[i] }));
    });
    const n = names.qkv.fused;
    steps.push(...linearBackward(rt, { dinp: a.dinp, dweight: w.g(n.weight), dbias: w.g(n.bias), dout: dqkv, inp: a.inp, weight: w.p(n.weight), ones, layout }));
  } else {
    const parts = [[dq, names.qkv.q], [dk, names.qkv.k], [dv, names.qkv.v]] as const;
    parts.forEach(([g, n], i) => {
      steps.push(...linearBackward(rt, { dinp: a.dinp, accumulateInput: i > 0, dweight: w.g(n.weight), dbias: w.g(n.bias), dout: g, inp: a.inp, weight: w.p(n.weight), ones, layout }));
    });
  }
  return steps;
}
