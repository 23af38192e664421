// LM head fused with the masked cross-entropy, chunked over rows so the (N, V) logits never exist:
// per chunk of R rows,
//   logits = h·Wᵀ (NT);  crossEntropy in place → dlogits;  dh = dlogits·W (NN);  dW += dlogitsᵀ·h (TN)
// Letters: N = B·T rows, C hidden, V vocabulary, R rows per chunk.
import { OpError } from '../gpu/errors.ts';
import type { Dispatch, Runtime, Step } from '../gpu/runtime.ts';
import { numel, reshape, type Tensor } from '../gpu/tensor.ts';
import { crossEntropy } from '../ops/cross_entropy.ts';
import { MATMUL_ROW_TILE, matmul } from '../ops/matmul.ts';

/** Default logits scratch budget: 32 MiB keeps big vocabularies (49152) at 160 rows per chunk. */
export const LM_HEAD_BUDGET_BYTES = 32 * 1024 * 1024;

function gcd(a: number, b: number): number {
  return b ? gcd(b, a % b) : a;
}

/**
 * Rows per chunk for a logits scratch of at most `budgetBytes` (at least one aligned unit): a
 * multiple of the rows whose (·, C) f32 views start on `alignBytes` boundaries, so each chunk of
 * hidden and dhidden can be bound at its offset, and where the budget allows a multiple of the
 * matmul's row tile too, so no chunk ends in a nearly empty tile (V 49152 on lavapipe: 170-row
 * chunks ran 8 tiles of 24 rows for 7 tiles' worth; now 160 rows, 5 tiles of 32). All N rows
 * when they fit.
 */
export function lmHeadChunkRows(N: number, C: number, V: number, budgetBytes = LM_HEAD_BUDGET_BYTES, alignBytes = 256): number {
  const alignElems = alignBytes / 4;
  const unit = alignElems / gcd(C, alignElems);
  const tiled = (unit * MATMUL_ROW_TILE) / gcd(unit, MATMUL_ROW_TILE);
  const rows = budgetBytes / (4 * V);
  const fitUnit = Math.floor(rows / unit) * unit, fitTiled = Math.floor(rows / tiled) * tiled;
  // Units and tile are powers of two (offset alignments are), so rounding to the tile loses less
  // than a tile of rows.
  const fit = fitTiled > 0 ? fitTiled : fitUnit;
  return Math.min(N, Math.max(unit, fit));
}

/** Shape of the logits scratch lmHeadLoss needs: (R, V). */
export function lmHeadScratchShape(N: number, C: number, V: number, budgetBytes = LM_HEAD_BUDGET_BYTES, alignBytes = 256): [number, number] {
  return [lmHeadChunkRows(N, C, V, budgetBytes, alignBytes), V];
}

export interface LmHeadLossArgs {
  hidden: Tensor; // (B, T, C) or (N, C): the trunk's final hidden states
  /** (B, T, C) or (N, C): overwritten with the loss gradient (not needed with `evaluate`). */
  dhidden?: Tensor;
  weight: Tensor; // (V, C): lm_head.weight, or the embedding table when tied
  /** (V, C): accumulated (+=); omitted when the head is frozen. */
  dweight?: Tensor;
  targets: Tensor; // (B, T) or (N) i32, -100 where no loss
  /** (N) f32: −log p(target) per row, 0 where ignored (only read by the default cross-entropy). */
  losses?: Tensor;
  correct?: Tensor; // (N) f32: 1 where argmax == target
  gradScale?: Tensor; // (1) f32: 1 / (unmasked targets of the whole accumulated batch)
  logits: Tensor; // (R, V) f32 scratch: lmHeadScratchShape(...)
  evaluate?: boolean;
  /** dhidden += instead of =, when another head (a value head, a distillation loss) also feeds it. */
  accumulateHidden?: boolean;
  /**
   * Another loss over each chunk instead of the cross-entropy (a distillation loss): writes rows
   * rowOffset.. of `losses` (and `correct`) and, unless `evaluate`, the gradient in place over the chunk.
   */
  chunkLoss?: (logits: Tensor, rowOffset: number) => Dispatch[];
}

/** The chunked LM head and cross-entropy (forward and, unless `evaluate`, backward). */
export function lmHeadLoss(rt: Runtime, a: LmHeadLossArgs): Step[] {
  const op = 'lmHeadLoss';
  const C = a.hidden.shape[a.hidden.shape.length - 1];
  const N = numel(a.hidden.shape) / C;
  const [V, Cw] = a.weight.shape;
  if (a.weight.shape.length !== 2 || Cw !== C) throw new OpError(op, `weight (${a.weight.label}) has shape (${a.weight.shape.join(', ')}), expected (V, ${C})`);
  const [R, Vl] = a.logits.shape;
  if (a.logits.shape.length !== 2 || Vl !== V) throw new OpError(op, `logits (${a.logits.label}) has shape (${a.logits.shape.join(', ')}), expected (R, ${V})`);
  if (numel(a.targets.shape) !== N) throw new OpError(op, `targets (${a.targets.label}) has ${numel(a.targets.shape)} elements for ${N} rows of hidden`);
  const align = rt.limits.minStorageBufferOffsetAlignment;
  if (R < N && (R * C * 4) % align !== 0) {
    throw new OpError(op, `chunks of R = ${R} rows of C = ${C} floats do not start on ${align}-byte boundaries; size logits with lmHeadScratchShape`);
  }
  if (!a.evaluate && !a.dhidden) throw new OpError(op, 'dhidden is required unless evaluate is set');
  if (!a.chunkLoss && !a.losses) throw new OpError(op, 'losses is required unless a chunkLoss is given');
  const h2 = reshape(a.hidden, [N, C]);
  const dh2 = a.dhidden ? reshape(a.dhidden, [N, C]) : undefined;
  const targets = reshape(a.targets, [N]);
  const rows = (t: Tensor, r0: number, n: number): Tensor => ({ ...t, byteOffset: t.byteOffset + r0 * C * 4, shape: [n, C], label: `${t.label}[${r0}:${r0 + n}]` });

  const steps: Step[] = [];
  for (let r0 = 0; r0 < N; r0 += R) {
    const n = Math.min(R, N - r0);
    const logits = n === R ? a.logits : { ...a.logits, shape: [n, V] };
    const h = rows(h2, r0, n);
    steps.push(...matmul(rt, { out: logits, a: h, b: a.weight, transB: true }));
    steps.push(...(a.chunkLoss ? a.chunkLoss(logits, r0) : crossEntropy(rt, { logits, targets, rowOffset: r0, losses: a.losses!, correct: a.correct, gradScale: a.gradScale, evaluate: a.evaluate })));
    if (a.evaluate) continue;
    steps.push(...matmul(rt, { out: rows(dh2!, r0, n), a: logits, b: a.weight, accumulate: a.accumulateHidden }));
    if (a.dweight) steps.push(...matmul(rt, { out: a.dweight, a: logits, b: h, transA: true, accumulate: true }));
  }
  return steps;
}
