// LayerNorm (GPT-2) and RMSNorm (Llama, Qwen2) over the last dimension, forward and backward.
//   N  rows (B·T tokens, or any leading dimensions flattened)
//   C  channels (the last dimension; any size)
//   K  parameter-gradient slices in the backward scratch: 2 for LayerNorm (w, b), 1 for RMSNorm
// Shaders: shaders/norm.wgsl.
import { OpError } from '../gpu/errors.ts';
import { grid, type Dispatch, type Runtime } from '../gpu/runtime.ts';
import { numel, type Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/norm.wgsl?raw';
import { ceilDiv, expectBindable, expectDType, expectNoAlias, expectNumel, expectPositiveInt, expectSameShape, expectShape } from './check.ts';

const WG = 64; // workgroup-per-row kernels (256 was ~4x slower on lavapipe at C = 4096; each reads all WG partials)
const RWG = 64; // rows per workgroup of the row-per-invocation kernels; columns per workgroup of the column passes
// The backward's parameter-gradient pass gives each invocation one column of a block of rows. Up to
// MAX_BLOCKS blocks times C columns keeps a GPU busy; at least MIN_ROWS rows per block keeps the
// scratch (written and read once more) small next to the N·C inputs.
const MAX_BLOCKS = 64;
const MIN_ROWS = 16;

/**
 * Which row kernel runs. Measured on lavapipe (2 shared cores), N = 1024: at C = 256 the old
 * workgroup-per-row kernels (WG 256, tree sums) took ~15-25 ms per forward, the row-per-invocation
 * vec4 ones ~0.4-0.6 ms (no barriers, no idle lanes, a quarter of the per-lane gathers); at
 * C = 4096 row per invocation is still 2-3x the workgroup form (~17 vs ~28-60 ms), and at N = 130,
 * C = 4096 too, so CPU adapters always take it. On GPUs one invocation per row is cheap while the
 * rows of a workgroup fit in cache; beyond that a workgroup per row spreads columns over lanes.
 */
export interface NormTuning {
  /** Largest C that gets one invocation per row; larger C get one workgroup per row. */
  rowsMaxC: number;
  /** Largest grid dimension before going 2D (tests lower it to reach the 2D path cheaply). */
  gridMax: number;
}

const tunings = new WeakMap<Runtime, NormTuning>();

/** The tuning in force for this runtime. */
export function normTuning(rt: Runtime): NormTuning {
  let t = tunings.get(rt);
  if (!t) tunings.set(rt, (t = { rowsMaxC: rt.isCpuAdapter ? Infinity : 1024, gridMax: 65535 }));
  return t;
}

/** Overrides part of the tuning (tests, benchmarks, per-adapter tuning). */
export function setNormTuning(rt: Runtime, t: Partial<NormTuning>): void {
  tunings.set(rt, { ...normTuning(rt), ...t });
}

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
    key: { kernel: 'norm', variant: entry, dtype: 'f32', constants: { WG, RWG } },
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
 * Entry point and grid of a row kernel: `<base>_rows4` (C a multiple of 4) or `<base>_rows` over
 * RWG-row workgroups, or `<base>` with a workgroup per row.
 */
function rowKernel(rt: Runtime, base: string, N: number, C: number): { entry: string; workgroups: [number, number, number] } {
  const t = normTuning(rt);
  return C <= t.rowsMaxC ? { entry: C % 4 === 0 ? `${base}_rows4` : `${base}_rows`, workgroups: grid(ceilDiv(N, RWG), t.gridMax) } : { entry: base, workgroups: grid(N, t.gridMax) };
}

/** The parameter-gradient passes: per-block column sums into scratch (4 columns per invocation when C allows), then the fixed-order reduce. */
function paramKernels(rt: Runtime, kind: 'layernorm' | 'rmsnorm', bindings: Record<number, Tensor>, reduceBindings: Record<number, Tensor>, p: { N: number; C: number; rowsPerBlock: number; blocks: number }): Dispatch[] {
  return [
    p.C % 4 === 0 ? kernel(rt, `${kind}_dparams4`, bindings, p, [ceilDiv(p.C / 4, RWG), p.blocks]) : kernel(rt, `${kind}_dparams`, bindings, p, [ceilDiv(p.C, RWG), p.blocks]),
    kernel(rt, `${kind}_reduce`, reduceBindings, p, [ceilDiv(p.C, RWG)]),
  ];
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
  const k = rowKernel(rt, 'layernorm_forward', N, C);
  return [kernel(rt, k.entry, { 1: a.out, 2: a.mean, 3: a.rstd, 4: a.inp, 5: a.weight, 6: a.bias }, { N, C, eps }, k.workgroups)];
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
  const k = rowKernel(rt, 'layernorm_backward', N, C);
  return [
    kernel(rt, k.entry, { 7: a.dinp, 9: a.dout, 4: a.inp, 5: a.weight, 10: a.mean, 11: a.rstd }, p, k.workgroups),
    ...paramKernels(rt, 'layernorm', { 8: a.scratch, 9: a.dout, 4: a.inp, 10: a.mean, 11: a.rstd }, { 8: a.scratch, 12: a.dweight, 13: a.dbias }, p),
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
  const k = rowKernel(rt, 'rmsnorm_forward', N, C);
  return [kernel(rt, k.entry, { 1: a.out, 3: a.rstd, 4: a.inp, 5: a.weight }, { N, C, eps }, k.workgroups)];
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
  const k = rowKernel(rt, 'rmsnorm_backward', N, C);
  return [
    kernel(rt, k.entry, { 7: a.dinp, 9: a.dout, 4: a.inp, 5: a.weight, 11: a.rstd }, p, k.workgroups),
    ...paramKernels(rt, 'rmsnorm', { 8: a.scratch, 9: a.dout, 4: a.inp, 11: a.rstd }, { 8: a.scratch, 12: a.dweight }, p),
  ];
}
