// Softmax cross-entropy over a chunk of rows, forward and backward in one pass (see
// shaders/cross_entropy.wgsl). The (N, V) logits of a whole batch never exist at once: the model
// computes R rows of logits, calls `crossEntropy` on them with `rowOffset`, and reuses the buffer.
//
// Letters: N = rows of the whole batch (B·T tokens), R = rows in this chunk, V = vocabulary.

import { OpError } from '../gpu/errors.ts';
import { grid, type Dispatch, type Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/cross_entropy.wgsl?raw';
import { expectBindable, expectLossChunk } from './check.ts';

const OP = 'crossEntropy';
// Workgroup size: on GPUs 256 lanes share a row; on CPU adapters the barrier tree of 256
// invocations dominated. Lavapipe, train_acc: V 512 × 1024 rows 7.7 ms at 256, 2.5 at 64, 1.4 at
// 16, 1.6 at 8; V 49152 × 170 rows 17.1, 16.3, 14.5, 14.5 ms. train_acc4: 8 lanes best (V 512:
// 0.8 ms at 8, 1.0 at 16; V 49152: 7.7 and 8.0 ms).
const workgroupSize = (rt: Runtime, vec4: boolean) => (rt.isCpuAdapter ? (vec4 ? 8 : 16) : 256);

/** Targets equal to this contribute no loss, no gradient and no accuracy (as in PyTorch). */
export const IGNORE_INDEX = -100;

export interface CrossEntropyArgs {
  /** (R, V) f32: the chunk's logits; overwritten in place with dlogits unless `evaluate`. */
  logits: Tensor;
  /** (N) i32: targets of all rows; the chunk reads targets[rowOffset + r]. */
  targets: Tensor;
  /** First row of the chunk within the N rows. */
  rowOffset: number;
  /** (N) f32: receives −log p(target) at rowOffset + r (0 for ignored rows, NaN for targets outside [0, V)). */
  losses: Tensor;
  /** (N) f32, optional: receives 1 where argmax == target, else 0 (0 for ignored rows). */
  correct?: Tensor;
  /**
   * (1) f32: multiplies the gradient. The trainer writes 1 / countTargets(whole accumulated batch)
   * there, so the loss is a mean over the accumulated batch rather than per micro-batch.
   * Required unless `evaluate`.
   */
  gradScale?: Tensor;
  /** Loss (and accuracy) only: the logits are left untouched and gradScale is not needed. */
  evaluate?: boolean;
}

/** dlogits = (softmax(logits) − onehot(target)) · gradScale, in place; per-row loss and accuracy. */
export function crossEntropy(rt: Runtime, a: CrossEntropyArgs): Dispatch[] {
  const { R, V } = expectLossChunk(OP, a);
  if (R * V >= 2 ** 32) throw new OpError(OP, `logits (${a.logits.label}) has ${R * V} elements: indices must fit in 32 bits; use smaller chunks`);
  expectBindable(OP, rt.limits, ['logits', 'targets', 'losses'], a.logits, a.targets, a.losses);
  if (a.correct) expectBindable(OP, rt.limits, ['correct'], a.correct);

  const vec4 = V % 4 === 0;
  const variant = `${a.evaluate ? 'eval' : 'train'}${a.correct ? '_acc' : ''}${vec4 ? '4' : ''}`;
  const bindings: Record<number, Tensor> = { [vec4 ? 6 : 1]: a.logits, 2: a.targets, 3: a.losses };
  if (a.correct) bindings[4] = a.correct;
  if (!a.evaluate) bindings[5] = a.gradScale!;
  return [
    rt.kernel({
      key: { kernel: 'cross_entropy', variant, dtype: 'f32', constants: { WG: workgroupSize(rt, vec4) } },
      code,
      entryPoint: variant,
      bindings,
      params: [['u32', R], ['u32', V], ['u32', a.rowOffset]],
      workgroups: grid(R),
    }),
  ];
}

/** Rows that count towards the loss (target ≠ −100): the trainer's gradScale is 1 / this. */
export function countTargets(targets: Int32Array): number {
  let n = 0;
  for (let i = 0; i < targets.length; i++) if (targets[i] !== IGNORE_INDEX) n++;
  return n;
}
