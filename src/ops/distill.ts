// Token-level distillation loss over a chunk of rows, forward and backward in one pass (see
// shaders/distill.wgsl for the maths and TRL correspondence). Like `crossEntropy`, the (N, V)
// student logits never exist at once: the model computes R rows, calls `distillLoss` with
// `rowOffset`, and reuses the buffer; dlogits overwrite the chunk in place.
//
// Letters: N = rows of the whole batch (B·T tokens), R = rows in this chunk, V = vocabulary,
// K = teacher top-k entries kept per row (K ≤ 256).

import { OpError } from '../gpu/errors.ts';
import { grid, type Dispatch, type Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/distill.wgsl?raw';
import { expectBindable, expectDType, expectLossChunk, expectShape, expectTopK } from './check.ts';

const OP = 'distillLoss';
const WG = 256;

/** Largest teacher top-k: one invocation of the row's workgroup per support entry. */
export const MAX_TOP_K = WG;

/** forward = KL(teacher ‖ student), reverse = KL(student ‖ teacher), jsd = generalized JSD(beta). */
export type DistillKind = 'forward' | 'reverse' | 'jsd';

export interface DistillArgs {
  /** (R, V) f32: the chunk's student logits; overwritten in place with dlogits unless `evaluate`. */
  logits: Tensor;
  /** (N) i32: hard-label targets; −100 ignores the row entirely (CE and distillation). */
  targets: Tensor;
  /** (N, K) i32: the teacher's top-K token ids per row, distinct, in [0, V). */
  teacherIds: Tensor;
  /** (N, K) f32: the teacher's natural-log probabilities of those ids (renormalised over the K). */
  teacherLogprobs: Tensor;
  /** First row of the chunk within the N rows. */
  rowOffset: number;
  /** (N) f32: receives alpha·CE + (1 − alpha)·D at rowOffset + r (0 if ignored, NaN on bad ids/targets). */
  losses: Tensor;
  /** (N) f32: receives 1 where argmax(logits) == target (first index wins ties), else 0: token accuracy from the same pass. */
  correct?: Tensor;
  /** (1) f32: multiplies the gradient (1 / countTargets for a mean). Required unless `evaluate`. */
  gradScale?: Tensor;
  kind: DistillKind;
  /** JSD interpolation in [0, 1], TRL GKD meaning: 0 = forward KL, 1 = reverse KL. Required for 'jsd'. */
  beta?: number;
  /** Weight of the hard-label cross-entropy (at temperature 1), in [0, 1]. */
  alpha: number;
  /** Softmax temperature of both distributions in D, > 0. */
  temperature: number;
  /** Loss only: the logits are left untouched and gradScale is not needed. */
  evaluate?: boolean;
}

/** Per-row alpha·CE(student, target) + (1 − alpha)·D(teacher top-K, student); dlogits in place. */
export function distillLoss(rt: Runtime, a: DistillArgs): Dispatch[] {
  const { R, V, N } = expectLossChunk(OP, a);
  const K = expectTopK(OP, 'teacherIds', a.teacherIds, N, V, MAX_TOP_K, `logits ${a.logits.label}`);
  expectDType(OP, 'teacherLogprobs', a.teacherLogprobs, 'f32');
  expectShape(OP, 'teacherLogprobs', a.teacherLogprobs, [N, K]);
  if (!(a.alpha >= 0 && a.alpha <= 1)) throw new OpError(OP, `alpha must be in [0, 1], got ${a.alpha}`);
  if (!(a.temperature > 0 && Number.isFinite(a.temperature))) throw new OpError(OP, `temperature must be a positive number, got ${a.temperature}`);
  let kind = ({ forward: 0, reverse: 1, jsd: 2 } as Record<string, number>)[a.kind];
  if (kind === undefined) throw new OpError(OP, `kind must be 'forward', 'reverse' or 'jsd', got ${String(a.kind)}`);
  const beta = a.beta ?? 0;
  if (a.kind === 'jsd') {
    if (a.beta === undefined || !(beta >= 0 && beta <= 1)) throw new OpError(OP, `kind 'jsd' needs beta in [0, 1], got ${a.beta}`);
    // TRL's generalized_jsd_loss special-cases the endpoints (the general formula would give 0).
    if (beta === 0) kind = 0;
    if (beta === 1) kind = 1;
  }
  if (R * V >= 2 ** 32 || N * K >= 2 ** 32) throw new OpError(OP, `logits (${a.logits.label}, ${R * V} elements) or teacher top-k (${N * K}) do not fit 32-bit indices; use smaller chunks`);
  expectBindable(OP, rt.limits, ['logits', 'targets', 'teacherIds', 'teacherLogprobs', 'losses'], a.logits, a.targets, a.teacherIds, a.teacherLogprobs, a.losses);
  if (a.correct) expectBindable(OP, rt.limits, ['correct'], a.correct);
  const variant = (a.evaluate ? 'eval' : 'train') + (a.correct ? '_acc' : '');
  const bindings: Record<number, Tensor> = { 1: a.logits, 2: a.targets, 3: a.teacherIds, 4: a.teacherLogprobs, 5: a.losses };
  if (!a.evaluate) bindings[6] = a.gradScale!;
  if (a.correct) bindings[7] = a.correct;
  return [
    rt.kernel({
      key: { kernel: 'distill', variant, dtype: 'f32', constants: { WG } },
      code,
      entryPoint: variant,
      bindings,
      params: [['u32', R], ['u32', V], ['u32', K], ['u32', a.rowOffset], ['u32', kind], ['f32', a.alpha], ['f32', 1 / a.temperature], ['f32', beta]],
      workgroups: grid(R),
    }),
  ];
}
