// What sits on the trunk's final hidden states and turns them into a loss: the LM head with masked
// cross-entropy by default; a reward model's value head, DPO's per-sequence log-prob sums or a
// distillation loss plug in through the same small interface, and the training step stays the same.
// Letters: B batch, T sequence, N = B·T rows, C hidden, V vocabulary, R rows of a logits chunk.
import type { Runtime, Step } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Batch } from '../data/batch.ts';
import type { BatchInputs } from '../models/architecture.ts';
import type { ModelConfig } from '../models/config.ts';
import type { ParamStore } from '../models/params.ts';
import { lmHeadLoss, lmHeadScratchShape } from '../nn/lm_head.ts';
import { trainedRows } from './inputs.ts';

/** What a head is built from: the planned graph's tensors and the step's shared gradScale. */
export interface HeadContext {
  cfg: ModelConfig;
  store: ParamStore;
  inputs: BatchInputs;
  hidden: Tensor; // (B, T, C)
  dhidden: Tensor; // (B, T, C), the head overwrites it
  /** (1) f32 = 1 / Σ count(batch) over the accumulated batches; multiply the loss gradient by it. */
  gradScale: Tensor;
  /** The LM head weight's name (Architecture.lmHeadWeight). */
  lmHeadWeight: string;
}

/** A built head: step lists and its per-row outputs. */
export interface Head {
  /** Forward, loss and backward: writes losses (and correct), overwrites dhidden, accumulates (+=) parameter gradients. */
  train: Step[];
  /** Forward and loss only, for evaluation (dhidden and gradients untouched). */
  evaluate: Step[];
  losses: Tensor; // (n) f32: per-row loss, unnormalised; the step sums it
  correct?: Tensor; // (n) f32: 1 where the row is predicted right (token accuracy)
  /**
   * Uploads what the head itself reads from a batch (offline distillation's teacher top-k), after
   * the step has written the batch inputs and before the micro-batch's steps run.
   */
  write?(batch: Batch, mode: 'train' | 'evaluate'): void;
  destroy(): void;
}

export interface HeadSpec {
  name: string;
  /** Tensors build() allocates for (B, T), by name: for the memory plan. */
  shapes(cfg: ModelConfig, B: number, T: number): Record<string, number[]>;
  build(rt: Runtime, ctx: HeadContext): Head;
  /** The batch's share of the loss normaliser (default: rows whose target is not -100). */
  count?(batch: Batch): number;
}

/** The chunked LM head with masked cross-entropy (src/nn/lm_head.ts) and token accuracy. */
export function lmHead(opts: { budgetBytes?: number } = {}): HeadSpec {
  const shapes = (cfg: ModelConfig, B: number, T: number): Record<string, number[]> => ({
    'head.logits': lmHeadScratchShape(B * T, cfg.hiddenSize, cfg.vocabSize, opts.budgetBytes),
    'head.losses': [B * T],
    'head.correct': [B * T],
  });
  return {
    name: 'lm',
    shapes,
    count: trainedRows,
    build(rt, ctx) {
      const [B, T] = ctx.inputs.ids.shape;
      const s = shapes(ctx.cfg, B, T);
      const logits = rt.tensor(s['head.logits'], 'f32', 'head.logits'); // (R, V)
      const losses = rt.tensor(s['head.losses'], 'f32', 'head.losses', true); // (N)
      const correct = rt.tensor(s['head.correct'], 'f32', 'head.correct', true); // (N)
      const w = ctx.lmHeadWeight;
      const trainable = ctx.store.layout.get(w).trainable;
      const common = { hidden: ctx.hidden, weight: ctx.store.param(w), targets: ctx.inputs.targets, losses, correct, logits };
      const train = lmHeadLoss(rt, { ...common, dhidden: ctx.dhidden, dweight: trainable ? ctx.store.grad(w) : undefined, gradScale: ctx.gradScale });
      const evaluate = lmHeadLoss(rt, { ...common, evaluate: true });
      return {
        train,
        evaluate,
        losses,
        correct,
        destroy() {
          rt.release([...train, ...evaluate]);
          rt.free(logits, losses, correct);
        },
      };
    },
  };
}
