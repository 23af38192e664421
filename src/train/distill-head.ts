// Token-level distillation as a training head: loss = alpha·CE + (1 − alpha)·D(teacher top-K ‖
// student) at a temperature (src/ops/distill.ts). The teacher's top-K per row comes either from a
// frozen Pupil teacher run on the same batch (online: its forward and top-K steps run first in
// each micro-batch) or from a sidecar file computed beforehand (offline: uploaded by `write`).
// The LM head's chunk loop (lmHeadLoss) with the distillation loss per chunk, so the (N, V)
// logits never exist:
//   logits = h·Wᵀ;  distillLoss in place → dlogits (and token accuracy);
//   dh = dlogits·W;  dW += dlogitsᵀ·h
// Evaluation is the plain LM head's cross-entropy, so validation losses of distilled and plain
// runs (and of different alphas or teachers) compare; the training loss reported is the combined one.
// Letters: B batch, T sequence, N = B·T rows, C hidden, V vocabulary, K top-k, R chunk rows.
import type { Batch } from '../data/batch.ts';
import type { ModelConfig } from '../models/config.ts';
import { buildTeacherTopK, teacherShapes, type TeacherModel } from '../distill/teacher-topk.ts';
import { lmHeadLoss, lmHeadScratchShape } from '../nn/lm_head.ts';
import { distillLoss, MAX_TOP_K, type DistillKind } from '../ops/distill.ts';
import type { HeadSpec } from './head.ts';
import { padRows, trainedRows } from './inputs.ts';

export interface DistillHeadOptions {
  kind: DistillKind;
  /** JSD interpolation (TRL's meaning: 0 forward KL, 1 reverse KL); 'jsd' only. */
  beta?: number;
  /** Weight of the hard-label cross-entropy, in [0, 1]. */
  alpha: number;
  temperature: number;
  /** Teacher entries per row (online); offline, the sidecar's K. */
  topK: number;
  /** Online: a frozen teacher with the student's vocabulary. Absent: offline (batches carry the top-k). */
  teacher?: TeacherModel;
  budgetBytes?: number;
}

/** Throws naming the option when the settings cannot work. */
export function checkDistillOptions(o: DistillHeadOptions): void {
  if (!['forward', 'reverse', 'jsd'].includes(o.kind)) throw new Error(`distillation loss must be forward, reverse or jsd, got ${JSON.stringify(o.kind)}`);
  if (!(o.alpha >= 0 && o.alpha <= 1)) throw new Error(`distillation alpha must be in [0, 1], got ${o.alpha}`);
  if (o.kind === 'jsd' && !(o.beta !== undefined && o.beta >= 0 && o.beta <= 1)) throw new Error(`distillation beta must be in [0, 1] for jsd, got ${o.beta}`);
  if (!(o.temperature > 0 && Number.isFinite(o.temperature))) throw new Error(`distillation temperature must be a positive number, got ${o.temperature}`);
  if (!(Number.isInteger(o.topK) && o.topK >= 1 && o.topK <= MAX_TOP_K)) throw new Error(`distillation top-k must be an integer from 1 to ${MAX_TOP_K}, got ${o.topK}`);
}

export function distillHead(opts: DistillHeadOptions): HeadSpec {
  checkDistillOptions(opts);
  const K = opts.topK;
  const shapes = (cfg: ModelConfig, B: number, T: number): Record<string, number[]> => {
    if (K > cfg.vocabSize) throw new Error(`distillation top-k ${K} exceeds the vocabulary (${cfg.vocabSize})`);
    return {
      'head.logits': lmHeadScratchShape(B * T, cfg.hiddenSize, cfg.vocabSize, opts.budgetBytes),
      'head.losses': [B * T],
      'head.correct': [B * T],
      'head.teacherIds': [B * T, K],
      'head.teacherLogprobs': [B * T, K],
      ...(opts.teacher ? teacherShapes(opts.teacher, B, T, opts.budgetBytes) : {}),
    };
  };
  return {
    name: 'distill',
    shapes,
    count: trainedRows,
    build(rt, ctx) {
      const [B, T] = ctx.inputs.ids.shape;
      const N = B * T;
      const s = shapes(ctx.cfg, B, T);
      const logits = rt.tensor(s['head.logits'], 'f32', 'head.logits'); // (R, V)
      const losses = rt.tensor([N], 'f32', 'head.losses', true); // (N)
      const correct = rt.tensor([N], 'f32', 'head.correct', true); // (N)
      const teacherIds = rt.tensor([N, K], 'i32', 'head.teacherIds', true); // (N, K)
      const teacherLogprobs = rt.tensor([N, K], 'f32', 'head.teacherLogprobs', true); // (N, K)
      const teacher = opts.teacher ? buildTeacherTopK(rt, opts.teacher, { inputs: ctx.inputs, ids: teacherIds, logprobs: teacherLogprobs, budgetBytes: opts.budgetBytes }) : undefined;

      const w = ctx.lmHeadWeight;
      const weight = ctx.store.param(w); // (V, C)
      const dweight = ctx.store.layout.get(w).trainable ? ctx.store.grad(w) : undefined;
      const targets = { ...ctx.inputs.targets, shape: [N] };
      const own = lmHeadLoss(rt, {
        hidden: ctx.hidden, dhidden: ctx.dhidden, weight, dweight, targets, logits,
        chunkLoss: (chunk, r0) => distillLoss(rt, {
          logits: chunk, targets, teacherIds, teacherLogprobs, rowOffset: r0, losses, correct, gradScale: ctx.gradScale,
          kind: opts.kind, beta: opts.beta, alpha: opts.alpha, temperature: opts.temperature,
        }),
      });
      const evaluate = lmHeadLoss(rt, { hidden: ctx.hidden, weight, targets: ctx.inputs.targets, losses, correct, logits, evaluate: true });

      // Offline: the batch's (B', T', K) top-k padded into the planned (B, T, K).
      // Padding a smaller batch: rows past it keep distinct valid ids (0..K-1 at first, a
      // previous batch's later); their target is -100, so the loss never uses them.
      const hostIds = Int32Array.from({ length: N * K }, (_, i) => i % K), hostLps = new Float32Array(N * K);
      const write = (batch: Batch, mode: 'train' | 'evaluate'): void => {
        if (teacher || mode !== 'train') return;
        if (!batch.teacherIds || !batch.teacherLogprobs) throw new Error('offline distillation: this batch carries no teacher top-k (every training example needs one from the --distill-topk file)');
        if (batch.teacherK !== K) throw new Error(`offline distillation: the batch's teacher top-k has K = ${batch.teacherK}, the head was planned for ${K}`);
        const padded = batch.B !== B || batch.T !== T;
        rt.write(teacherIds, padded ? padRows(hostIds, batch.teacherIds, batch.B, batch.T, T, K) : batch.teacherIds);
        rt.write(teacherLogprobs, padded ? padRows(hostLps, batch.teacherLogprobs, batch.B, batch.T, T, K) : batch.teacherLogprobs);
      };
      return {
        train: [...(teacher?.steps ?? []), ...own],
        evaluate,
        losses,
        correct,
        write,
        destroy() {
          rt.release([...own, ...evaluate]);
          teacher?.destroy();
          rt.free(logits, losses, correct, teacherIds, teacherLogprobs);
        },
      };
    },
  };
}
