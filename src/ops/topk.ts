// The teacher's top-K token ids and log-probabilities per row, for token-level distillation
// (shaders/topk.wgsl: radix select, so the cost hardly depends on K). Chunked like the losses: the
// teacher computes R rows of logits, calls `topkLogSoftmax` with `rowOffset`, and reuses the buffer;
// the (N, K) outputs are what `distillLoss` takes as teacherIds / teacherLogprobs.
//
// Letters: N = rows of the whole batch (B·T tokens), R = rows in this chunk, V = vocabulary,
// K = entries kept per row (K ≤ MAX_TOP_K).

import { OpError } from '../gpu/errors.ts';
import { grid, type Dispatch, type Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/topk.wgsl?raw';
import { expectBindable, expectChunkRows, expectDType, expectLogitsChunk, expectNoAlias, expectShape, expectTopK } from './check.ts';
import { MAX_TOP_K } from './distill.ts';

export { MAX_TOP_K };

const OP = 'topkLogSoftmax';
/** One histogram bin per invocation (8-bit digits): the shader needs exactly 256. */
const WG = 256;
/** The shader packs V − 1 − id into at most three 8-bit digits. */
const MAX_V = 2 ** 24;

export interface TopkLogSoftmaxArgs {
  /** (N, K) i32, out: per row the K ids with the largest logits, descending (ties: lower id first). */
  ids: Tensor;
  /** (N, K) f32, out: log-softmax over the whole row at `temperature` of those ids (NaN if the row has NaN/Inf). */
  logprobs: Tensor;
  /** (R, V) f32, in: the chunk's logits (not modified). */
  logits: Tensor;
  /** First row of the chunk within the N rows; rows outside the chunk are left untouched. */
  rowOffset: number;
  /** Softmax temperature, > 0 (default 1); it does not change which ids are chosen. */
  temperature?: number;
}

/**
 * For each row r of a logits chunk (R, V): the K largest logits' ids, in descending order of logit
 * (ties: lower id first), and their log-softmax at temperature τ over the WHOLE row
 * (logit/τ − logsumexp_v(logit_v/τ)), written at rows rowOffset + r of ids/logprobs.
 */
export function topkLogSoftmax(rt: Runtime, a: TopkLogSoftmaxArgs): Dispatch[] {
  const { R, V } = expectLogitsChunk(OP, a.logits);
  const N = a.ids.shape[0];
  const K = expectTopK(OP, 'ids', a.ids, N, V, MAX_TOP_K, `logits ${a.logits.label}`);
  expectDType(OP, 'logprobs', a.logprobs, 'f32');
  expectShape(OP, 'logprobs', a.logprobs, [N, K]);
  expectChunkRows(OP, a.logits, a.rowOffset, N, `rows of ids (${a.ids.label})`);
  const temperature = a.temperature ?? 1;
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new OpError(OP, `temperature must be a positive number, got ${a.temperature}`);
  if (V > MAX_V) throw new OpError(OP, `logits (${a.logits.label}) has V = ${V}, at most ${MAX_V} are supported`);
  if (R * V >= 2 ** 32 || N * K >= 2 ** 32) throw new OpError(OP, `logits (${a.logits.label}, ${R * V} elements) or ids (${N * K}) do not fit 32-bit indices; use smaller chunks`);
  expectNoAlias(OP, 2, ['ids', 'logprobs', 'logits'], a.ids, a.logprobs, a.logits);
  expectBindable(OP, rt.limits, ['ids', 'logprobs', 'logits'], a.ids, a.logprobs, a.logits);

  let idDigits = 1;
  while (V - 1 >= 2 ** (8 * idDigits)) idDigits++;
  return [
    rt.kernel({
      key: { kernel: 'topk', variant: 'logsoftmax', dtype: 'f32', constants: { WG } },
      code,
      entryPoint: 'main',
      bindings: { 1: a.logits, 2: a.ids, 3: a.logprobs },
      params: [['u32', R], ['u32', V], ['u32', K], ['u32', a.rowOffset], ['f32', 1 / temperature], ['u32', idDigits]],
      workgroups: grid(R),
    }),
  ];
}
