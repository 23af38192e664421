// Deterministic reductions over flat f32 tensors (see shaders/reduce.wgsl): sums for the total
// loss and token accuracy, sum of squares, and the global gradient norm with its clip scale.
// Two dispatches each: per-workgroup partial sums into a scratch the caller plans
// (`partialsShape`), then one workgroup adds those. Same input, same bits, every run.
//
// Letters: n = elements reduced, G = partial sums (partialsShape(n)).

import { OpError } from '../gpu/errors.ts';
import type { Dispatch, Runtime } from '../gpu/runtime.ts';
import { numel, type Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/reduce.wgsl?raw';
import { ceilDiv, expectBindable, expectDType, expectRank } from './check.ts';

const WG = 256;
/**
 * Upper bound on the partial-sum workgroups. Fixed (not taken from the adapter) so the summation
 * order, hence the result, depends on n alone. 64 workgroups of 256 keep lavapipe's two threads
 * and any current GPU's memory busy; beyond 64 * 256 elements each invocation loops over several.
 */
const MAX_GROUPS = 64;

/** At least 4 elements per invocation, so the scratch stays well under n (a quarter, plus one workgroup). */
function groups(n: number): number {
  return Math.max(1, Math.min(MAX_GROUPS, ceilDiv(n, 4 * WG)));
}

/** Shape of the `partials` scratch for reducing n elements: (G), one per partial invocation. */
export function partialsShape(n: number): [number] {
  return [groups(n) * WG];
}

export interface SumArgs {
  /** (k) f32: receives the sum at outIndex (default 0). */
  out: Tensor;
  /** (n) f32, any shape: reduced as a flat array. */
  inp: Tensor;
  /** (≥ G) f32 scratch, G = partialsShape(n)[0]. */
  partials: Tensor;
  /** out[outIndex] += sum instead of =. */
  accumulate?: boolean;
  outIndex?: number;
}

/** out[outIndex] = Σ inp (or += with accumulate). */
export function sum(rt: Runtime, a: SumArgs): Dispatch[] {
  return reduce(rt, 'sum', 'partial_sum', a);
}

/** out[outIndex] = Σ inp² (or += with accumulate). */
export function sumSquares(rt: Runtime, a: SumArgs): Dispatch[] {
  return reduce(rt, 'sumSquares', 'partial_sumsq', a);
}

export interface GradNormArgs {
  /** (2) f32 (or longer): receives [norm, clipScale]; bind it as adamw's gradScale, index 1. */
  out: Tensor;
  /** (n) f32: the flat gradients of everything being trained. */
  grads: Tensor;
  /** (≥ G) f32 scratch, G = partialsShape(n)[0]. */
  partials: Tensor;
  /** Clip the global norm to this; ≤ 0 means no clipping (clipScale = 1). */
  maxNorm: number;
}

/**
 * out = [‖grads‖₂, min(1, maxNorm / (‖grads‖₂ + 1e-6))], all on the GPU so clipping needs no
 * readback. A non-finite norm gives clipScale 0 (the trainer sees the norm and can skip the step).
 */
export function gradNorm(rt: Runtime, a: GradNormArgs): Dispatch[] {
  const op = 'gradNorm';
  const { n, G } = checkReduce(rt, op, a.grads, a.partials, 'grads');
  expectDType(op, 'out', a.out, 'f32');
  if (numel(a.out.shape) < 2) throw new OpError(op, `out (${a.out.label}) has ${numel(a.out.shape)} elements, needs 2 for [norm, clipScale]`);
  if (!Number.isFinite(a.maxNorm)) throw new OpError(op, `maxNorm must be a finite number, got ${a.maxNorm}`);
  expectBindable(op, rt.limits, ['out'], a.out);
  return [
    partialDispatch(rt, 'partial_sumsq', a.grads, a.partials, n, G),
    rt.kernel({
      key: { kernel: 'reduce', variant: 'finish_norm', dtype: 'f32', constants: { WG } },
      code,
      entryPoint: 'finish_norm',
      bindings: { 2: a.partials, 3: a.out },
      params: [['u32', G], ['u32', 0], ['u32', 0], ['f32', a.maxNorm]],
      workgroups: [1],
    }),
  ];
}

function reduce(rt: Runtime, op: string, entry: 'partial_sum' | 'partial_sumsq', a: SumArgs): Dispatch[] {
  const { n, G } = checkReduce(rt, op, a.inp, a.partials, 'inp');
  expectDType(op, 'out', a.out, 'f32');
  const outIndex = a.outIndex ?? 0;
  if (!Number.isInteger(outIndex) || outIndex < 0 || outIndex >= numel(a.out.shape)) {
    throw new OpError(op, `outIndex ${outIndex} is outside out (${a.out.label}) of ${numel(a.out.shape)} elements`);
  }
  expectBindable(op, rt.limits, ['out'], a.out);
  return [
    partialDispatch(rt, entry, a.inp, a.partials, n, G),
    rt.kernel({
      key: { kernel: 'reduce', variant: 'finish_sum', dtype: 'f32', constants: { WG } },
      code,
      entryPoint: 'finish_sum',
      bindings: { 2: a.partials, 3: a.out },
      params: [['u32', G], ['u32', outIndex], ['u32', a.accumulate ? 1 : 0], ['f32', 0]],
      workgroups: [1],
    }),
  ];
}

function partialDispatch(rt: Runtime, entry: string, inp: Tensor, partials: Tensor, n: number, G: number): Dispatch {
  return rt.kernel({
    key: { kernel: 'reduce', variant: entry, dtype: 'f32', constants: { WG } },
    code,
    entryPoint: entry,
    bindings: { 1: inp, 2: partials },
    params: [['u32', n], ['u32', 0], ['u32', 0], ['f32', 0]],
    workgroups: [G / WG],
  });
}

function checkReduce(rt: Runtime, op: string, inp: Tensor, partials: Tensor, name: string): { n: number; G: number } {
  expectDType(op, name, inp, 'f32');
  const n = numel(inp.shape);
  if (!(n > 0)) throw new OpError(op, `${name} (${inp.label}) is empty`);
  if (n >= 2 ** 32) throw new OpError(op, `${name} (${inp.label}) has ${n} elements: indices must fit in 32 bits`);
  const G = partialsShape(n)[0];
  expectDType(op, 'partials', partials, 'f32');
  expectRank(op, 'partials', partials, 1);
  if (partials.shape[0] < G) throw new OpError(op, `partials (${partials.label}) has shape (${partials.shape[0]}), needs at least (${G}) = partialsShape(${n}) for ${name}`);
  expectBindable(op, rt.limits, ['inp', 'partials'], inp, partials);
  return { n, G };
}
