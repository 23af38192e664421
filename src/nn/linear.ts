// Linear layer, forward and backward, as matmuls (src/ops/matmul.ts).
//   M  rows (B·T tokens), I  input features, O  output features
// Two weight layouts, both as stored by Hugging Face so a state dict maps one to one:
//   'hf'     torch.nn.Linear, weight (O, I):  y = x·Wᵀ + b
//   'conv1d' GPT-2's Conv1D,  weight (I, O):  y = x·W + b
import type { Runtime, Step } from '../gpu/runtime.ts';
import { byteSize, reshape, shapeStr, type Tensor } from '../gpu/tensor.ts';
import { matmul } from '../ops/matmul.ts';

export type LinearLayout = 'hf' | 'conv1d';

export interface LinearForwardArgs {
  out: Tensor; // (M, O), or (Z, M, O) with a batch of Z weights
  inp: Tensor; // (M, I)
  weight: Tensor; // (O, I) 'hf' or (I, O) 'conv1d', or a batch (Z, ·, ·) of them
  bias?: Tensor; // (O)
  layout?: LinearLayout;
  /** out += the layer's output (a residual add for free) instead of out = it. */
  accumulate?: boolean;
}

/** y = x·Wᵀ + b ('hf') or x·W + b ('conv1d'). */
export function linearForward(rt: Runtime, a: LinearForwardArgs): Step[] {
  const conv = a.layout === 'conv1d';
  return matmul(rt, { out: a.out, a: a.inp, b: a.weight, bias: a.bias, transB: !conv, accumulate: a.accumulate });
}

/**
 * Several projections of one input (q, k, v; gate, up). Where consecutive outputs lie back to back
 * in one buffer, their weights too, with equal shapes and no bias, they run as one batched matmul
 * sharing the input: on lavapipe q/k/v at (1024, 256)·(256, 256) took 7.0 ms as one dispatch
 * against 9.0-10 ms as three. Anything else runs one matmul per projection, with the same result.
 */
export function linearForwardMany(
  rt: Runtime,
  a: { inp: Tensor; parts: { out: Tensor; weight: Tensor; bias?: Tensor }[]; layout?: LinearLayout },
): Step[] {
  const steps: Step[] = [];
  const follows = (x: Tensor, prev: Tensor) =>
    x.buffer === prev.buffer && x.byteOffset === prev.byteOffset + byteSize(prev) && x.dtype === prev.dtype && shapeStr(x.shape) === shapeStr(prev.shape);
  for (let i = 0; i < a.parts.length; ) {
    let j = i + 1;
    while (j < a.parts.length && !a.parts[i].bias && !a.parts[j].bias && follows(a.parts[j].out, a.parts[j - 1].out) && follows(a.parts[j].weight, a.parts[j - 1].weight)) j++;
    const first = a.parts[i];
    const Z = j - i;
    const fits = Z * byteSize(first.out) <= rt.limits.maxStorageBufferBindingSize && Z * byteSize(first.weight) <= rt.limits.maxStorageBufferBindingSize;
    if (Z > 1 && fits) {
      const out = { ...first.out, shape: [Z, ...first.out.shape] }; // (Z, M, O)
      const weight = { ...first.weight, shape: [Z, ...first.weight.shape] }; // (Z, O, I) or (Z, I, O)
      steps.push(...linearForward(rt, { out, inp: a.inp, weight, layout: a.layout }));
    } else {
      for (let k = i; k < j; k++) steps.push(...linearForward(rt, { inp: a.inp, ...a.parts[k], layout: a.layout }));
    }
    i = j;
  }
  return steps;
}

export interface LinearBackwardArgs {
  /** (M, I): overwritten, or added to with `accumulateInput`; omitted when nothing needs it. */
  dinp?: Tensor;
  dweight?: Tensor; // (O, I) or (I, O) like weight, accumulated (+=); omitted when frozen
  dbias?: Tensor; // (O), accumulated (+=)
  dout: Tensor; // (M, O)
  inp: Tensor; // (M, I)
  weight: Tensor; // (O, I) or (I, O)
  /** (1, M) of ones: the bias gradient is the column sum ones·dout. Required with dbias. */
  ones?: Tensor;
  layout?: LinearLayout;
  accumulateInput?: boolean;
}

/** dx = dy·W ('hf') or dy·Wᵀ ('conv1d'); dW += dyᵀ·x or xᵀ·dy; db += Σ_rows dy. */
export function linearBackward(rt: Runtime, a: LinearBackwardArgs): Step[] {
  const conv = a.layout === 'conv1d';
  const steps: Step[] = [];
  if (a.dinp) steps.push(...matmul(rt, { out: a.dinp, a: a.dout, b: a.weight, transB: conv, accumulate: a.accumulateInput }));
  if (a.dweight) {
    steps.push(
      ...(conv
        ? matmul(rt, { out: a.dweight, a: a.inp, b: a.dout, transA: true, accumulate: true })
        : matmul(rt, { out: a.dweight, a: a.dout, b: a.inp, transA: true, accumulate: true })),
    );
  }
  if (a.dbias) steps.push(...biasBackward(rt, { dbias: a.dbias, dout: a.dout, ones: a.ones }));
  return steps;
}

/** dbias += Σ over rows of dout, as the (1, M)·(M, O) matmul ones·dout: deterministic, no new kernel. */
export function biasBackward(
  rt: Runtime,
  a: {
    dbias: Tensor; // (O), accumulated
    dout: Tensor; // (M, O)
    ones?: Tensor; // (1, ≥ M) of ones
  },
): Step[] {
  const [M, O] = a.dout.shape;
  if (!a.ones) throw new Error(`biasBackward: a (1, ${M}) tensor of ones is required for the bias gradient ${a.dbias.label}`);
  const ones = a.ones.shape[1] === M ? a.ones : { ...a.ones, shape: [1, M] };
  if (a.ones.shape[1] < M) throw new Error(`biasBackward: ones (${a.ones.label}) has ${a.ones.shape[1]} columns, fewer than the ${M} rows of dout`);
  return matmul(rt, { out: reshape(a.dbias, [1, O]), a: ones, b: a.dout, accumulate: true });
}
