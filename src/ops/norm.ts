// LayerNorm (GPT-2) and RMSNorm (Llama, Qwen2) over the last dimension, forward and backward.
//   N  rows (B·T tokens, or any leading dimensions flattened)
//   C  channels (the last dimension; any size, the kernels stride over it)
//   K  parameter-gradient slices in the backward scratch: 2 for LayerNorm (w, b), 1 for RMSNorm
// Shaders: shaders/norm.wgsl.
import { OpError } from '../gpu/errors.ts';
import { grid, type Dispatch, type Runtime } from '../gpu/runtime.ts';
import { numel, type Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/norm.wgsl?raw';
import { ceilDiv, expectBindable, expectDType, expectNoAlias, expectNumel, expectPositiveInt, expectSameShape, expectShape } from './check.ts';

const WG = 256;
// The backward gives each workgroup a block of rows. Up to MAX_BLOCKS blocks keeps a large GPU
// busy; at least MIN_ROWS rows per block keeps the scratch small for small N.
const MAX_BLOCKS = 256;
const MIN_ROWS = 4;

function backwardPlan(N: number): { rowsPerBlock: number; blocks: number } {
  const rowsPerBlock = Math.max(MIN_ROWS, ceilDiv(N, MAX_BLOCKS));
  return { rowsPerBlock, blocks: ceilDiv(N, rowsPerBlock) };
}

/** Shape of the scratch `layerNormBackward` needs for `N` rows of `C` channels: (blocks, 2, C). */
export function layerNormScratchShape(N: number, C: number): [number, number, number] {
  return [backwardPlan(N).blocks, 2, C];
}

/** Shape of the scratch `rmsNormBackward` needs for `N` rows of `C` channels: (blocks, 1, C). */
export function rmsNormScratchShape(N: number, C: number): [number, number, number] {
  return [backwardPlan(N).blocks, 1, C];
}

/** Rows and channels of `inp`, after checking dtype and sizes. */
function rowsOf(op: string, inp: Tensor): { N: number; C: number } {
  expectDType(op, 'inp', inp, 'f32');
  if (inp.shape.length < 1) throw new OpError(op, `inp (${inp.label}) must have at least one dimension`);
  const C = inp.shape[inp.shape.length - 1];
  inp.shape.forEach((d, i) => expectPositiveInt(op, `inp (${inp.label}) dimension ${i}`, d));
  return { N: numel(inp.shape) / C, C };
}

function checkEps(op: string, eps: number): void {
  if (!Number.isFinite(eps) || eps < 0) throw new OpError(op, `eps must be a finite number >= 0, got ${eps}`);
}

function kernel(rt: Runtime, entry: string, bindings: Record<number, Tensor>, params: { N: number; C: number; eps?: number; rowsPerBlock?: number; blocks?: number; accumulate?: boolean }, workgroups: readonly [number, number?, number?]): Dispatch {
  return rt.kernel({
    key: { kernel: 'norm', variant: entry, dtype: 'f32', constants: { WG } },
    code,
    entryPoint: entry,
    bindings,
    params: [
      ['u32', params.N],
      ['u32', params.C],
      ['f32', params.eps ?? 0],
      ['u32', params.rowsPerBlock ?? 0],
      ['u32', params.blocks ?? 0],
      ['u32', params.accumulate ? 1 : 0],
    ],
    workgroups,
  });
}

/**
 * out = (inp - mean) * rstd * weight + bias over the last dimension (biased variance, as
 * torch.nn.LayerNorm). Saves mean and rstd for the backward.
 */
export function layerNormForward(
  rt: Runtime,
  a: {
    out: Tensor; // (N, C)
    mean: Tensor; // (N)
    rstd: Tensor; // (N)
    inp: Tensor; // (N, C)
    weight: Tensor; // (C)
    bias: Tensor; // (C)
    eps?: number;
  },
): Dispatch[] {
  const op = 'layerNormForward';
  const { N, C } = rowsOf(op, a.inp);
  const eps = a.eps ?? 1e-5;
  checkEps(op, eps);
  for (const [name, t] of [['out', a.out], ['mean', a.mean], ['rstd', a.rstd], ['weight', a.weight], ['bias', a.bias]] as const) expectDType(op, name, t, 'f32');
  expectSameShape(op, ['inp', 'out'], a.inp, a.out);
  expectShape(op, 'weight', a.weight, [C]);
  expectShape(op, 'bias', a.bias, [C]);
  expectNumel(op, 'mean', a.mean, N);
  expectNumel(op, 'rstd', a.rstd, N);
  expectNoAlias(op, 3, ['out', 'mean', 'rstd', 'inp', 'weight', 'bias'], a.out, a.mean, a.rstd, a.inp, a.weight, a.bias);
  expectBindable(op, rt.limits, ['out', 'inp'], a.out, a.inp);
  return [kernel(rt, 'layernorm_forward', { 1: a.out, 2: a.mean, 3: a.rstd, 4: a.inp, 5: a.weight, 6: a.bias }, { N, C, eps }, grid(N))];
}

/**
 * dinp = (or += with `accumulate`) the input gradient; dweight += Σ dout·x̂ and dbias += Σ dout
 * over the rows, reduced through `scratch` (shape from `layerNormScratchShape`) in a fixed order.
 */
export function layerNormBackward(
  rt: Runtime,
  a: {
    dinp: Tensor; // (N, C)
    dweight: Tensor; // (C)
    dbias: Tensor; // (C)
    scratch: Tensor; // (blocks, 2, C): layerNormScratchShape(N, C)
    dout: Tensor; // (N, C)
    inp: Tensor; // (N, C)
    weight: Tensor; // (C)
    mean: Tensor; // (N)
    rstd: Tensor; // (N)
    accumulate?: boolean;
  },
): Dispatch[] {
  const op = 'layerNormBackward';
  const { N, C } = rowsOf(op, a.inp);
  for (const [name, t] of [['dinp', a.dinp], ['dweight', a.dweight], ['dbias', a.dbias], ['scratch', a.scratch], ['dout', a.dout], ['weight', a.weight], ['mean', a.mean], ['rstd', a.rstd]] as const) expectDType(op, name, t, 'f32');
  expectSameShape(op, ['inp', 'dinp', 'dout'], a.inp, a.dinp, a.dout);
  expectShape(op, 'weight', a.weight, [C]);
  expectShape(op, 'dweight', a.dweight, [C]);
  expectShape(op, 'dbias', a.dbias, [C]);
  expectNumel(op, 'mean', a.mean, N);
  expectNumel(op, 'rstd', a.rstd, N);
  const plan = backwardPlan(N);
  expectShape(op, 'scratch', a.scratch, layerNormScratchShape(N, C));
  expectNoAlias(op, 4, ['dinp', 'dweight', 'dbias', 'scratch', 'dout', 'inp', 'weight', 'mean', 'rstd'], a.dinp, a.dweight, a.dbias, a.scratch, a.dout, a.inp, a.weight, a.mean, a.rstd);
  expectBindable(op, rt.limits, ['dinp', 'scratch', 'dout', 'inp'], a.dinp, a.scratch, a.dout, a.inp);
  const p = { N, C, rowsPerBlock: plan.rowsPerBlock, blocks: plan.blocks, accumulate: a.accumulate };
  return [
    kernel(rt, 'layernorm_backward', { 7: a.dinp, 8: a.scratch, 9: a.dout, 4: a.inp, 5: a.weight, 10: a.mean, 11: a.rstd }, p, [plan.blocks]),
    kernel(rt, 'layernorm_reduce', { 8: a.scratch, 12: a.dweight, 13: a.dbias }, p, [ceilDiv(C, WG)]),
  ];
}

/** out = weight * inp * rstd, rstd = 1 / sqrt(mean(inp²) + eps), as Hugging Face's LlamaRMSNorm. */
export function rmsNormForward(
  rt: Runtime,
  a: {
    out: Tensor; // (N, C)
    rstd: Tensor; // (N)
    inp: Tensor; // (N, C)
    weight: Tensor; // (C)
    eps?: number;
  },
): Dispatch[] {
  const op = 'rmsNormForward';
  const { N, C } = rowsOf(op, a.inp);
  const eps = a.eps ?? 1e-6;
  checkEps(op, eps);
  for (const [name, t] of [['out', a.out], ['rstd', a.rstd], ['weight', a.weight]] as const) expectDType(op, name, t, 'f32');
  expectSameShape(op, ['inp', 'out'], a.inp, a.out);
  expectShape(op, 'weight', a.weight, [C]);
  expectNumel(op, 'rstd', a.rstd, N);
  expectNoAlias(op, 2, ['out', 'rstd', 'inp', 'weight'], a.out, a.rstd, a.inp, a.weight);
  expectBindable(op, rt.limits, ['out', 'inp'], a.out, a.inp);
  return [kernel(rt, 'rmsnorm_forward', { 1: a.out, 3: a.rstd, 4: a.inp, 5: a.weight }, { N, C, eps }, grid(N))];
}

/**
 * dinp = (or += with `accumulate`) the input gradient; dweight += Σ dout·inp·rstd over the rows,
 * reduced through `scratch` (shape from `rmsNormScratchShape`) in a fixed order.
 */
export function rmsNormBackward(
  rt: Runtime,
  a: {
    dinp: Tensor; // (N, C)
    dweight: Tensor; // (C)
    scratch: Tensor; // (blocks, 1, C): rmsNormScratchShape(N, C)
    dout: Tensor; // (N, C)
    inp: Tensor; // (N, C)
    weight: Tensor; // (C)
    rstd: Tensor; // (N)
    accumulate?: boolean;
  },
): Dispatch[] {
  const op = 'rmsNormBackward';
  const { N, C } = rowsOf(op, a.inp);
  for (const [name, t] of [['dinp', a.dinp], ['dweight', a.dweight], ['scratch', a.scratch], ['dout', a.dout], ['weight', a.weight], ['rstd', a.rstd]] as const) expectDType(op, name, t, 'f32');
  expectSameShape(op, ['inp', 'dinp', 'dout'], a.inp, a.dinp, a.dout);
  expectShape(op, 'weight', a.weight, [C]);
  expectShape(op, 'dweight', a.dweight, [C]);
  expectNumel(op, 'rstd', a.rstd, N);
  const plan = backwardPlan(N);
  expectShape(op, 'scratch', a.scratch, rmsNormScratchShape(N, C));
  expectNoAlias(op, 3, ['dinp', 'dweight', 'scratch', 'dout', 'inp', 'weight', 'rstd'], a.dinp, a.dweight, a.scratch, a.dout, a.inp, a.weight, a.rstd);
  expectBindable(op, rt.limits, ['dinp', 'scratch', 'dout', 'inp'], a.dinp, a.scratch, a.dout, a.inp);
  const p = { N, C, rowsPerBlock: plan.rowsPerBlock, blocks: plan.blocks, accumulate: a.accumulate };
  return [
    kernel(rt, 'rmsnorm_backward', { 7: a.dinp, 8: a.scratch, 9: a.dout, 4: a.inp, 5: a.weight, 11: a.rstd }, p, [plan.blocks]),
    kernel(rt, 'rmsnorm_reduce', { 8: a.scratch, 12: a.dweight }, p, [ceilDiv(C, WG)]),
  ];
}
