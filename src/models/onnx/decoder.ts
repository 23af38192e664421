// What every decoder graph shares: the inputs and outputs transformers.js (and Optimum's exports)
// expect, so `AutoModelForCausalLM` + `generate()` run it unchanged,
//   inputs  input_ids (B, S) i64, attention_mask (B, T) i64, position_ids (B, S) i64,
//           past_key_values.{l}.key / .value (B, Hkv, P, D) f32  (P = 0 on the first call)
//   outputs logits (B, S, V) f32, present.{l}.key / .value (B, Hkv, T, D) f32
// with T = P + S; the attention mask built from attention_mask and the past length; softmax
// attention; the LM head. Standard opset-17 ops only. One graph builder per architecture family
// (llama.ts, gpt2.ts) composes these.
//
// Letters: B batch, S new tokens, P cached tokens, T = P + S, C hidden, V vocabulary, Hq / Hkv
// heads, D head size, F MLP inner size.
import type { ModelConfig } from '../config.ts';
import type { GraphBuilder } from './graph.ts';
import { DataType } from './proto.ts';

/** float32's lowest finite value, the masked score transformers uses: a fully masked row stays finite. */
const MASKED = -3.4028234663852886e38;

export class OnnxExportError extends Error {
  constructor(message: string) {
    super(`onnx export: ${message}`);
    this.name = 'OnnxExportError';
  }
}

export type Weights = ReadonlyMap<string, Float32Array>;

/** (rows, cols) row-major → (cols, rows): HF Linear weights are (out, in), MatMul wants (in, out). */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

export function get(w: Weights, name: string): Float32Array {
  const t = w.get(name);
  if (!t) throw new OnnxExportError(`weight ${name} is missing`);
  return t;
}

/** A weight added under its Hugging Face name, as stored. */
export function param(g: GraphBuilder, w: Weights, name: string, dims: number[]): string {
  return g.weight(name, dims, get(w, name));
}

/**
 * Declares the inputs and outputs; returns the input names. Cache dims other than batch and
 * length are numbers: transformers.js 4.3 sizes the first call's empty cache from these dims.
 */
export function io(g: GraphBuilder, cfg: ModelConfig) {
  const { numLayers: L, numKvHeads: Hkv, headDim: D, vocabSize: V } = cfg;
  const ids = g.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']);
  const positions = g.input('position_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const past: { key: string; value: string }[] = [];
  for (let l = 0; l < L; l++) {
    const kv = ['batch_size', Hkv, 'past_sequence_length', D];
    past.push({ key: g.input(`past_key_values.${l}.key`, DataType.FLOAT, kv), value: g.input(`past_key_values.${l}.value`, DataType.FLOAT, kv) });
  }
  g.output('logits', DataType.FLOAT, ['batch_size', 'sequence_length', V]);
  for (let l = 0; l < L; l++) {
    const kv = ['batch_size', Hkv, 'total_sequence_length', D];
    g.output(`present.${l}.key`, DataType.FLOAT, kv);
    g.output(`present.${l}.value`, DataType.FLOAT, kv);
  }
  return { ids, mask, positions, past };
}

/**
 * The additive attention bias (B, 1, S, T): 0 where allowed, float32's minimum elsewhere. Query i
 * (absolute position P + i) sees key j when j <= P + i and attention_mask[b, j] = 1, so left
 * padding works as in transformers.
 */
export function attentionBias(g: GraphBuilder, ids: string, mask: string): string {
  const S = g.op('Gather', [g.op('Shape', [ids]), g.ints([1], true)], { axis: 0 }); // scalar
  const T = g.op('Gather', [g.op('Shape', [mask]), g.ints([1], true)], { axis: 0 }); // scalar
  const P = g.op('Sub', [T, S]);
  const one = g.ints([1], true);
  const keys = g.op('Range', [g.ints([0], true), T, one]); // (T)
  const queries = g.op('Range', [P, T, one]); // (S) absolute positions of the new tokens
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [keys, g.ints([0])]), g.op('Unsqueeze', [queries, g.ints([1])])]); // (S, T)
  const pad = g.op('Unsqueeze', [g.op('Cast', [mask], { to: DataType.BOOL }), g.ints([1, 2])]); // (B, 1, 1, T)
  const allowed = g.op('And', [causal, pad]); // (B, 1, S, T)
  return g.op('Where', [allowed, g.scalar(0), g.scalar(MASKED)]);
}

/** (B, S, H·D) → (B, H, S, D) */
export function heads(g: GraphBuilder, x: string, H: number, D: number): string {
  return g.op('Transpose', [g.op('Reshape', [x, g.ints([0, 0, H, D])])], { perm: [0, 2, 1, 3] });
}

/** Appends this step's keys or values (B, Hkv, S, D) to the cache: the `present` output (B, Hkv, T, D). */
export function present(g: GraphBuilder, past: string, now: string, name: string): string {
  return g.op('Concat', [past, now], { axis: 2 }, name);
}

/** Softmax attention of q (B, Hq, S, D) over k, v (B, Hq, T, D) with bias (B, 1, S, T), scores times `scale` (attentionScale) → (B, S, Hq·D). */
export function attend(g: GraphBuilder, q: string, k: string, v: string, bias: string, Hq: number, D: number, scale: number): string {
  const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.scalar(scale)]);
  const probs = g.op('Softmax', [g.op('Add', [scores, bias])], { axis: -1 });
  const out = g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] }); // (B, S, Hq, D)
  return g.op('Reshape', [out, g.ints([0, 0, Hq * D])]);
}

/** The LM head: `headName` (V, C), or the embedding table through a Transpose node when tied (stored once). */
export function lmHead(g: GraphBuilder, w: Weights, cfg: ModelConfig, x: string, embed: string, headName: string): void {
  const { vocabSize: V, hiddenSize: C } = cfg;
  const W = cfg.tieWordEmbeddings ? g.op('Transpose', [embed], { perm: [1, 0] }) : g.weight(`${headName}.T`, [C, V], transpose(get(w, headName), V, C));
  g.op('MatMul', [x, W], undefined, 'logits');
}
