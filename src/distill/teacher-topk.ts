// A frozen Pupil teacher on the GPU: its trunk forward over the student's own batch inputs, then
// the LM head's chunk loop with a top-K chunk loss: its logits and their top-K log-probabilities
// into (N, K) tensors that the distillation loss reads. Forward only: no gradients, no optimizer
// state, one shared set of block activations. The teacher must share the student's vocabulary and
// tokenizer (the ids are the student's), which `checkSameVocabulary` verifies with a message
// naming both.
// Letters: B batch, T sequence, N = B·T rows, C the teacher's hidden size, V vocabulary, K top-k,
// R rows of a logits chunk.
import type { Runtime, Step } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Architecture, BatchInputs, ModelGraph } from '../models/architecture.ts';
import type { ModelConfig } from '../models/config.ts';
import { ParamLayout, type ParamStore } from '../models/params.ts';
import { lmHeadLoss, lmHeadScratchShape } from '../nn/lm_head.ts';
import { topkLogSoftmax } from '../ops/topk.ts';

/** A loaded teacher. `store` is created (all parameters frozen) once the memory plan has passed. */
export interface TeacherModel {
  arch: Architecture;
  cfg: ModelConfig;
  store?: ParamStore;
  /** For messages: the checkpoint folder or model id. */
  label: string;
}

/** Every parameter frozen: one flat buffer, no gradient, no AdamW moments. */
export function frozenLayout(arch: Architecture, cfg: ModelConfig): ParamLayout {
  return new ParamLayout(arch.parameters(cfg).map((p) => ({ ...p, trainable: false })));
}

/** A short, stable fingerprint of a tokenizer's files (FNV-1a over tokenizer.json, or all of them). */
export function tokenizerFingerprint(files: Readonly<Record<string, string | undefined>>): string {
  const text = files['tokenizer.json'] ?? Object.keys(files).sort().map((k) => `${k}\n${files[k] ?? ''}`).join('\n');
  return hashString(text);
}

/** Two 32-bit FNV-1a lanes over UTF-16 code units, as 16 hex digits. */
export function hashString(s: string): string {
  let a = 0x811c9dc5, b = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c ^ (a >>> 7), 0x5bd1e995);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** Throws unless teacher and student share the vocabulary size and (when known) the tokenizer. */
export function checkSameVocabulary(
  teacher: { label: string; vocabSize: number; tokenizer?: string },
  student: { label: string; vocabSize: number; tokenizer?: string },
): void {
  if (teacher.vocabSize !== student.vocabSize) {
    throw new Error(`distillation teacher ${teacher.label} has a vocabulary of ${teacher.vocabSize} tokens but the student ${student.label} has ${student.vocabSize}: token-level distillation needs the same tokenizer and vocabulary`);
  }
  if (teacher.tokenizer && student.tokenizer && teacher.tokenizer !== student.tokenizer) {
    throw new Error(`distillation teacher ${teacher.label} uses a different tokenizer (fingerprint ${teacher.tokenizer}) from the student ${student.label} (${student.tokenizer}): their token ids would not mean the same thing`);
  }
}

/** Everything the teacher's forward and top-k allocate for (B, T), by name, for the memory plan. */
export function teacherShapes(t: Pick<TeacherModel, 'arch' | 'cfg'>, B: number, T: number, budgetBytes?: number): Record<string, number[]> {
  const out: Record<string, number[]> = { 'teacher.params': [Math.max(1, frozenLayout(t.arch, t.cfg).frozenSize)] };
  for (const [k, s] of Object.entries(t.arch.activationShapes(t.cfg, B, T, { forwardOnly: true }))) out[`teacher.${k}`] = s;
  out['teacher.logits'] = lmHeadScratchShape(B * T, t.cfg.hiddenSize, t.cfg.vocabSize, budgetBytes);
  return out;
}

export interface TeacherTopK {
  /** Trunk forward, then per chunk: logits = h·Wᵀ, top-K log-softmax into ids/logprobs. */
  steps: Step[];
  destroy(): void;
}

/**
 * Plans the teacher over the student's inputs, writing its top-K ids (N, K) i32 and log-probs
 * (N, K) f32 (log-softmax over the whole row at temperature 1: the loss applies its own).
 */
export function buildTeacherTopK(rt: Runtime, t: TeacherModel, a: { inputs: BatchInputs; ids: Tensor; logprobs: Tensor; budgetBytes?: number }): TeacherTopK {
  const { cfg, arch } = t;
  if (!t.store) throw new Error(`distillation teacher ${t.label}: its parameters are not loaded`);
  const [B, T] = a.inputs.ids.shape;
  if (T > cfg.maxPositions) throw new Error(`distillation teacher ${t.label} handles ${cfg.maxPositions} positions, fewer than the sequence length ${T}`);
  const N = B * T, C = cfg.hiddenSize, V = cfg.vocabSize;
  const graph: ModelGraph = arch.build(rt, cfg, t.store, a.inputs, { forwardOnly: true });
  const [R] = lmHeadScratchShape(N, C, V, a.budgetBytes);
  const logits = rt.tensor([R, V], 'f32', 'teacher.logits'); // (R, V)
  const own = lmHeadLoss(rt, {
    hidden: graph.hidden, weight: t.store.param(arch.lmHeadWeight(cfg)), targets: a.inputs.targets, logits, evaluate: true,
    chunkLoss: (chunk, r0) => topkLogSoftmax(rt, { ids: a.ids, logprobs: a.logprobs, logits: chunk, rowOffset: r0 }),
  });
  const steps: Step[] = [...graph.forward, ...own];
  return {
    steps,
    destroy() {
      rt.release(own);
      graph.destroy();
      rt.free(logits);
    },
  };
}
