// AdamW fused over the flat parameter buffer (see shaders/adamw.wgsl): one dispatch updates
// params, m and v of everything being trained. Frozen parameters are simply outside the tensors
// (or the `range`) passed.
//
// Letters: P = elements of the flat parameter buffer, S = elements of the gradScale tensor.

import { OpError } from '../gpu/errors.ts';
import { grid, type Dispatch, type Runtime } from '../gpu/runtime.ts';
import { byteSize, numel, type Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/adamw.wgsl?raw';
import { ceilDiv, expectDType, expectNumel, expectSameShape } from './check.ts';

const OP = 'adamw';
const WG = 256;

/** Layout of the `hyper` tensor: the trainer rewrites it each step with `rt.write(hyper, adamwHyper(...))`. */
export const HYPER_SIZE = 6;

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count, for the bias correction. */
  step: number;
}

/** [lr, beta1, beta2, eps, weightDecay, step], the contents of the (6) f32 `hyper` tensor. */
export function adamwHyper(h: AdamWHyper): Float32Array {
  if (!Number.isInteger(h.step) || h.step < 1) throw new OpError(OP, `step must be a positive integer (1-based), got ${h.step}`);
  if (h.step > 2 ** 24) throw new OpError(OP, `step ${h.step} is not exactly representable in f32`);
  return Float32Array.of(h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.step);
}

/** Shape of the decay bitmask for P parameters: (ceil(P / 32)). */
export function decayMaskShape(P: number): [number] {
  return [Math.max(1, ceilDiv(P, 32))];
}

/**
 * Bit i set = weight decay applies to element i. Elements no range covers get no decay; later
 * ranges win where ranges overlap. Norm gains and biases are the usual `decay: false` ranges.
 */
export function buildDecayMask(P: number, ranges: { offset: number; size: number; decay: boolean }[]): Uint32Array {
  if (!Number.isInteger(P) || P <= 0) throw new OpError('buildDecayMask', `P must be a positive integer, got ${P}`);
  const mask = new Uint32Array(decayMaskShape(P)[0]);
  for (const r of ranges) {
    if (!Number.isInteger(r.offset) || !Number.isInteger(r.size) || r.offset < 0 || r.size < 0 || r.offset + r.size > P) {
      throw new OpError('buildDecayMask', `range [${r.offset}, ${r.offset + r.size}) is outside the ${P} parameters`);
    }
    for (let i = r.offset; i < r.offset + r.size; i++) {
      if (r.decay) mask[i >>> 5] |= 1 << (i & 31);
      else mask[i >>> 5] &= ~(1 << (i & 31));
    }
  }
  return mask;
}

export interface AdamWArgs {
  /** (P) f32, updated in place. */
  params: Tensor;
  /** (P) f32: gradients, already normalised by the loss (e.g. 1 / tokens of the accumulated batch). */
  grads: Tensor;
  /** (P) f32: first moment, zero before step 1. */
  m: Tensor;
  /** (P) f32: second moment, zero before step 1. */
  v: Tensor;
  /** (ceil(P / 32)) u32: buildDecayMask(P, ...). */
  decayMask: Tensor;
  /** (6) f32: adamwHyper({ lr, beta1, beta2, eps, weightDecay, step }), rewritten each step. */
  hyper: Tensor;
  /** (S) f32: gradScale[gradScaleIndex] multiplies the gradient; gradNorm's out with index 1 clips. */
  gradScale: Tensor;
  gradScaleIndex?: number;
  /** Update only elements [offset, offset + size) (default: all P). Mask bits stay indexed over P. */
  range?: { offset: number; size: number };
}

/** One AdamW step over (a range of) the flat buffers, with torch.optim.AdamW's arithmetic. */
export function adamw(rt: Runtime, a: AdamWArgs): Dispatch[] {
  for (const [name, t] of [['params', a.params], ['grads', a.grads], ['m', a.m], ['v', a.v], ['gradScale', a.gradScale], ['hyper', a.hyper]] as const) {
    expectDType(OP, name, t, 'f32');
  }
  expectSameShape(OP, ['params', 'grads', 'm', 'v'], a.params, a.grads, a.m, a.v);
  const P = numel(a.params.shape);
  if (!(P > 0)) throw new OpError(OP, `params (${a.params.label}) is empty`);
  if (P >= 2 ** 32) throw new OpError(OP, `params (${a.params.label}) has ${P} elements: indices must fit in 32 bits`);
  expectDType(OP, 'decayMask', a.decayMask, 'u32');
  expectNumel(OP, 'decayMask', a.decayMask, decayMaskShape(P)[0]);
  expectNumel(OP, 'hyper', a.hyper, HYPER_SIZE);
  const S = numel(a.gradScale.shape);
  const scaleIndex = a.gradScaleIndex ?? 0;
  if (!Number.isInteger(scaleIndex) || scaleIndex < 0 || scaleIndex >= S) {
    throw new OpError(OP, `gradScaleIndex ${scaleIndex} is outside gradScale (${a.gradScale.label}) of ${S} elements`);
  }
  const { offset, size } = a.range ?? { offset: 0, size: P };
  if (!Number.isInteger(offset) || !Number.isInteger(size) || offset < 0 || size <= 0 || offset + size > P) {
    throw new OpError(OP, `range [${offset}, ${offset + size}) is not a non-empty part of the ${P} parameters (${a.params.label})`);
  }
  for (const t of [a.params, a.grads, a.m, a.v, a.decayMask, a.hyper, a.gradScale]) {
    try {
      rt.checkBindingSize(t.label, t.shape, byteSize(t));
    } catch (e) {
      throw new OpError(OP, (e as Error).message);
    }
  }
  const vec4 = offset % 4 === 0 && size % 4 === 0;
  const entry = vec4 ? 'main4' : 'main';
  return [
    rt.kernel({
      key: { kernel: 'adamw', variant: entry, dtype: 'f32', constants: { WG } },
      code,
      entryPoint: entry,
      bindings: vec4
        ? { 8: a.params, 9: a.grads, 10: a.m, 11: a.v, 5: a.decayMask, 6: a.hyper, 7: a.gradScale }
        : { 1: a.params, 2: a.grads, 3: a.m, 4: a.v, 5: a.decayMask, 6: a.hyper, 7: a.gradScale },
      params: [['u32', offset], ['u32', size], ['u32', scaleIndex]],
      workgroups: grid(ceilDiv(vec4 ? size / 4 : size, WG)),
    }),
  ];
}
