// One pre-norm transformer block, forward and backward:
//   xmid = x + attention(norm1(x));  y = xmid + mlp(norm2(xmid))
// The residual gradient lives in one (N, C) buffer, `dres`, that enters holding dy and leaves
// holding dx (the norms' backward adds into it). Letters as in src/nn/types.ts.
import type { Step } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { attentionScale } from '../models/config.ts';
import { attentionBackwardLayer, attentionForwardLayer, type AttentionSaved } from './attention.ts';
import type { LayerContext } from './context.ts';
import { mlpBackward, mlpForward, type MlpSaved } from './mlp.ts';
import { normBackward, normForward, normSavedShapes, type NormSaved } from './norm.ts';
import type { Dims, LayerNames } from './types.ts';

/** Everything one block keeps from its forward for its backward. */
export interface BlockSaved {
  ln1: Tensor; // (N, C)
  n1: NormSaved;
  attn: AttentionSaved;
  xmid: Tensor; // (N, C): residual after attention
  ln2: Tensor; // (N, C)
  n2: NormSaved;
  mlp: MlpSaved;
}

/** Shapes of a block's saved tensors, by name relative to the block. */
export function blockSavedShapes(d: Dims, norm: 'rms' | 'layer', mlp: 'swiglu' | 'gelu'): Record<string, number[]> {
  const plan: Record<string, number[]> = {
    ln1: [d.N, d.C],
    q: [d.N, d.Hq * d.D],
    k: [d.N, d.Hkv * d.D],
    v: [d.N, d.Hkv * d.D],
    att: [d.N, d.Hq * d.D],
    lse: [d.B, d.Hq, d.T],
    xmid: [d.N, d.C],
    ln2: [d.N, d.C],
    pre: [d.N, d.F],
    h: [d.N, d.F],
  };
  if (mlp === 'swiglu') plan.up = [d.N, d.F];
  for (const [k, s] of Object.entries(normSavedShapes(norm, d.N))) {
    plan[`n1.${k}`] = s;
    plan[`n2.${k}`] = s;
  }
  return plan;
}

/** Assembles a BlockSaved from tensors named as in blockSavedShapes. */
export function blockSaved(get: (name: string) => Tensor, has: (name: string) => boolean): BlockSaved {
  const norm = (p: string): NormSaved => ({ rstd: get(`${p}.rstd`), mean: has(`${p}.mean`) ? get(`${p}.mean`) : undefined });
  return {
    ln1: get('ln1'),
    n1: norm('n1'),
    attn: { q: get('q'), k: get('k'), v: get('v'), att: get('att'), lse: get('lse') },
    xmid: get('xmid'),
    ln2: get('ln2'),
    n2: norm('n2'),
    mlp: { pre: get('pre'), up: has('up') ? get('up') : undefined, h: get('h') },
  };
}

/**
 * x → y. Without `out` (recomputation in the backward) it stops once everything the backward
 * reads exists, skipping the last projection.
 */
export function blockForward(ctx: LayerContext, layer: number, names: LayerNames, s: BlockSaved, inp: Tensor, out?: Tensor): Step[] {
  const { rt, cfg, w } = ctx;
  const kind = cfg.norm;
  return [
    ...normForward(rt, kind, { out: s.ln1, saved: s.n1, inp, weight: w.p(names.norm1.weight), bias: w.p(names.norm1.bias), eps: cfg.normEps }),
    rt.copy(s.xmid, inp),
    ...attentionForwardLayer(ctx, names, { out: s.xmid, s: s.attn, inp: s.ln1, scale: attentionScale(cfg, layer) }),
    ...normForward(rt, kind, { out: s.ln2, saved: s.n2, inp: s.xmid, weight: w.p(names.norm2.weight), bias: w.p(names.norm2.bias), eps: cfg.normEps }),
    ...(out ? [rt.copy(out, s.xmid)] : []),
    ...mlpForward(ctx, names.mlp, { out, s: s.mlp, inp: s.ln2 }),
  ];
}

/** dres: dy on entry, dx on exit. Parameter gradients are accumulated. */
export function blockBackward(ctx: LayerContext, layer: number, names: LayerNames, s: BlockSaved, inp: Tensor, dres: Tensor): Step[] {
  const { rt, cfg, w } = ctx;
  const kind = cfg.norm;
  const { dln, norm: scratch } = ctx.scratch;
  return [
    ...mlpBackward(ctx, names.mlp, { dinp: dln, dout: dres, s: s.mlp, inp: s.ln2 }),
    ...normBackward(rt, kind, {
      dinp: dres, accumulate: true, dweight: w.gOrDiscard(names.norm2.weight, 0)!, dbias: w.gOrDiscard(names.norm2.bias, 1), scratch,
      dout: dln, inp: s.xmid, weight: w.p(names.norm2.weight), saved: s.n2,
    }),
    ...attentionBackwardLayer(ctx, names, { dinp: dln, dout: dres, s: s.attn, inp: s.ln1, scale: attentionScale(cfg, layer) }),
    ...normBackward(rt, kind, {
      dinp: dres, accumulate: true, dweight: w.gOrDiscard(names.norm1.weight, 0)!, dbias: w.gOrDiscard(names.norm1.bias, 1), scratch,
      dout: dln, inp, weight: w.p(names.norm1.weight), saved: s.n1,
    }),
  ];
}
