// float64 reference of the three student architectures (transformers' LlamaForCausalLM,
// Qwen2ForCausalLM, GPT2LMHeadModel) with exact gradients from a tiny tape autograd. The GPU
// engine's loss and every parameter gradient are checked against this. It imports nothing from
// src/: it is written from Hugging Face's semantics so that it cannot share a bug with our layers.
import { Tape, type Var } from './tape.ts';
import type { HFConfig, Inputs } from './common.ts';
import { llamaLogits, llamaShapes } from './llama.ts';
import { gpt2Logits, gpt2Shapes } from './gpt2.ts';

export type { HFConfig } from './common.ts';

/** One batch, each array (B·T) row-major; targets already shifted (ids[t+1] or -100). */
export interface RefBatch {
  ids: Int32Array;
  targets: Int32Array;
  positions: Int32Array;
  segmentIds: Int32Array;
  B: number;
  T: number;
}

interface RefArch {
  shapes(hf: HFConfig): Map<string, number[]>;
  logits(tape: Tape, hf: HFConfig, w: (name: string) => Var, inp: Inputs): Var;
}

const ARCHS: Record<string, RefArch> = {
  llama: { shapes: llamaShapes, logits: llamaLogits },
  qwen2: { shapes: llamaShapes, logits: llamaLogits },
  gpt2: { shapes: gpt2Shapes, logits: gpt2Logits },
};

function arch(config: HFConfig): RefArch {
  const a = ARCHS[config.model_type as string];
  if (!a) throw new Error(`reference model: model_type ${JSON.stringify(config.model_type)} is not one of ${Object.keys(ARCHS).join(', ')}`);
  return a;
}

/** Hugging Face parameter names → shapes; lm_head.weight omitted when tied, as HF's state dict. */
export function referenceParameterShapes(config: HFConfig): Map<string, number[]> {
  return arch(config).shapes(config);
}

/** Builds the forward on a fresh tape after checking that weights and batch fit the config. */
function forward(config: HFConfig, weights: Map<string, Float64Array>, batch: Inputs): { tape: Tape; leaves: Map<string, Var>; logits: Var } {
  const a = arch(config);
  const shapes = a.shapes(config);
  const extra = [...weights.keys()].filter((n) => !shapes.has(n));
  if (extra.length) throw new Error(`reference model: unexpected weights ${extra.join(', ')} (tied lm_head must be omitted)`);
  const n = batch.B * batch.T;
  for (const key of ['ids', 'positions', 'segmentIds'] as const)
    if (batch[key].length !== n) throw new Error(`reference model: batch.${key} has ${batch[key].length} entries, expected B·T = ${n}`);
  const tape = new Tape();
  const leaves = new Map<string, Var>();
  for (const [name, shape] of shapes) {
    const data = weights.get(name);
    if (!data) throw new Error(`reference model: missing weight ${name} [${shape}]`);
    if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`reference model: weight ${name} has ${data.length} values, expected [${shape}]`);
    leaves.set(name, tape.leaf(data, shape));
  }
  const w = (name: string) => leaves.get(name)!;
  return { tape, leaves, logits: a.logits(tape, config, w, batch) };
}

/** Mean cross-entropy over targets ≠ -100, d(loss)/d(every weight), and the logits (B·T, V). */
export function referenceLossAndGrads(
  config: HFConfig,
  weights: Map<string, Float64Array>,
  batch: RefBatch,
): { loss: number; grads: Map<string, Float64Array>; logits: Float64Array } {
  if (batch.targets.length !== batch.B * batch.T) throw new Error(`reference model: batch.targets has ${batch.targets.length} entries, expected B·T = ${batch.B * batch.T}`);
  const { tape, leaves, logits } = forward(config, weights, batch);
  const loss = tape.crossEntropy(logits, batch.targets);
  tape.backward(loss);
  const grads = new Map([...leaves].map(([name, v]) => [name, v.grad] as [string, Float64Array]));
  return { loss: loss.data[0], grads, logits: logits.data };
}

/** Logits (B·T, V) only. */
export function referenceLogits(config: HFConfig, weights: Map<string, Float64Array>, batch: Omit<RefBatch, 'targets'>): Float64Array {
  return forward(config, weights, batch).logits.data;
}
