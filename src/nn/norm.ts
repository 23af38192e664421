// Normalisation layer (RMSNorm for llama/qwen2, LayerNorm for gpt2) over the last dimension.
//   N  rows (B·T tokens), C  channels
// The saved statistics (rstd, and mean for LayerNorm) are activations the model plans; the
// backward's parameter-gradient scratch is shared by every norm of the model.
import type { Runtime, Step } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { layerNormBackward, layerNormForward, layerNormScratchShape, rmsNormBackward, rmsNormForward, rmsNormScratchShape } from '../ops/norm.ts';

export type NormKind = 'rms' | 'layer';

/** What a norm saves for its backward. */
export interface NormSaved {
  rstd: Tensor; // (N)
  mean?: Tensor; // (N), LayerNorm only
}

export function normSavedShapes(kind: NormKind, N: number): Record<string, number[]> {
  return kind === 'layer' ? { mean: [N], rstd: [N] } : { rstd: [N] };
}

/** Scratch shape the backward needs (one per model is enough: norms run one after another). */
export function normScratchShape(kind: NormKind, N: number, C: number): number[] {
  return kind === 'layer' ? layerNormScratchShape(N, C) : rmsNormScratchShape(N, C);
}

export function normForward(
  rt: Runtime,
  kind: NormKind,
  a: {
    out: Tensor; // (N, C)
    saved: NormSaved;
    inp: Tensor; // (N, C)
    weight: Tensor; // (C)
    bias?: Tensor; // (C), LayerNorm only
    eps: number;
  },
): Step[] {
  if (kind === 'rms') return rmsNormForward(rt, { out: a.out, rstd: a.saved.rstd, inp: a.inp, weight: a.weight, eps: a.eps });
  if (!a.saved.mean || !a.bias) throw new Error('normForward: LayerNorm needs a saved mean and a bias');
  return layerNormForward(rt, { out: a.out, mean: a.saved.mean, rstd: a.saved.rstd, inp: a.inp, weight: a.weight, bias: a.bias, eps: a.eps });
}

/** dinp = (or += with `accumulate`, the residual stream) the input gradient; dweight, dbias +=. */
export function normBackward(
  rt: Runtime,
  kind: NormKind,
  a: {
    dinp: Tensor; // (N, C)
    dweight: Tensor; // (C)
    dbias?: Tensor; // (C), LayerNorm only
    scratch: Tensor; // normScratchShape(kind, N, C)
    dout: Tensor; // (N, C)
    inp: Tensor; // (N, C)
    weight: Tensor; // (C)
    saved: NormSaved;
    accumulate?: boolean;
  },
): Step[] {
  if (kind === 'rms') {
    return rmsNormBackward(rt, { dinp: a.dinp, dweight: a.dweight, scratch: a.scratch, dout: a.dout, inp: a.inp, weight: a.weight, rstd: a.saved.rstd, accumulate: a.accumulate });
  }
  if (!a.saved.mean || !a.dbias) throw new Error('normBackward: LayerNorm needs a saved mean and dbias');
  return layerNormBackward(rt, {
    dinp: a.dinp, dweight: a.dweight, dbias: a.dbias, scratch: a.scratch, dout: a.dout, inp: a.inp, weight: a.weight,
    mean: a.saved.mean, rstd: a.saved.rstd, accumulate: a.accumulate,
  });
}
