// The decoder as an ONNX graph with a KV cache, laid out the way transformers.js (and Optimum's
// exports) expect, so `AutoModelForCausalLM` + `generate()` run it unchanged:
//   inputs  input_ids (B, S) i64, attention_mask (B, T) i64, position_ids (B, S) i64,
//           past_key_values.{l}.key / .value (B, Hkv, P, D) f32  (P = 0 on the first call)
//   outputs logits (B, S, V) f32, present.{l}.key / .value (B, Hkv, T, D) f32
// with T = P + S. Standard opset-17 ops only. The mask is built in the graph from attention_mask
// and the past length: query i (absolute position P + i) sees key j when j <= P + i and
// attention_mask[b, j] = 1, so left padding works as in transformers.
//
// Letters: B batch, S new tokens, P cached tokens, T = P + S, C hidden, V vocabulary, Hq / Hkv
// heads, D head size, F MLP inner size.
import type { ModelConfig } from '../config.ts';
import { ropeScalingInvFreq } from '../llama/config.ts';
import { GraphBuilder } from './graph.ts';
import { DataType } from './proto.ts';

/** float32's lowest finite value, the masked score transformers uses: a fully masked row stays finite. */
const MASKED = -3.4028234663852886e38;

export class OnnxExportError extends Error {
  constructor(message: string) {
    super(`onnx export: ${message}`);
    this.name = 'OnnxExportError';
  }
}

/** (rows, cols) row-major → (cols, rows): HF Linear weights are (out, in), MatMul wants (in, out). */
function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

type Weights = ReadonlyMap<string, Float32Array>;

/** Declares the common inputs and outputs; returns names the decoders use. */
function io(g: GraphBuilder, cfg: ModelConfig) {
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

/** The additive attention bias (B, 1, S, T): 0 where allowed, float32's minimum elsewhere. */
function attentionBias(g: GraphBuilder, ids: string, mask: string): string {
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

function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number): string {
  const variance = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
  const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps)])])]);
  return g.op('Mul', [g.op('Mul', [x, inv]), weight]);
}

/** x (…, in) @ W^T (+ b): the weight stored transposed once, at export. */
function linear(g: GraphBuilder, w: Weights, x: string, name: string, outDim: number, inDim: number, bias = false): string {
  const W = g.weight(`${name}.weight`, [inDim, outDim], transpose(get(w, `${name}.weight`), outDim, inDim));
  const y = g.op('MatMul', [x, W]);
  return bias ? g.op('Add', [y, g.weight(`${name}.bias`, [outDim], get(w, `${name}.bias`))]) : y;
}

function get(w: Weights, name: string): Float32Array {
  const t = w.get(name);
  if (!t) throw new OnnxExportError(`weight ${name} is missing`);
  return t;
}

/** (B, S, H·D) → (B, H, S, D) */
function heads(g: GraphBuilder, x: string, H: number, D: number): string {
  return g.op('Transpose', [g.op('Reshape', [x, g.ints([0, 0, H, D])])], { perm: [0, 2, 1, 3] });
}

/** x · cos + rotate_half(x) · sin on (B, H, S, D), with cos/sin (B, 1, S, D). */
function rope(g: GraphBuilder, x: string, cos: string, sin: string, D: number): string {
  const half = D / 2;
  const x1 = g.op('Slice', [x, g.ints([0]), g.ints([half]), g.ints([-1])]);
  const x2 = g.op('Slice', [x, g.ints([half]), g.ints([D]), g.ints([-1])]);
  const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
  return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
}

/** Grouped-query heads: (B, Hkv, T, D) → (B, Hq, T, D), each kv head repeated Hq/Hkv times in place. */
function repeatKv(g: GraphBuilder, x: string, Hq: number, Hkv: number, D: number): string {
  if (Hq === Hkv) return x;
  const rep = Hq / Hkv;
  const wide = g.op('Expand', [g.op('Unsqueeze', [x, g.ints([2])]), g.ints([1, 1, rep, 1, 1])]); // (B, Hkv, rep, T, D)
  return g.op('Reshape', [wide, g.ints([0, Hq, -1, D])]);
}

/** Softmax attention of q (B, Hq, S, D) over k, v (B, Hq, T, D) with bias (B, 1, S, T) → (B, S, Hq·D). */
function attend(g: GraphBuilder, q: string, k: string, v: string, bias: string, Hq: number, D: number): string {
  const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.scalar(1 / Math.sqrt(D))]);
  const probs = g.op('Softmax', [g.op('Add', [scores, bias])], { axis: -1 });
  const out = g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] }); // (B, S, Hq, D)
  return g.op('Reshape', [out, g.ints([0, 0, Hq * D])]);
}

/** The LM head: lm_head.weight, or the embedding table through a Transpose node when tied (stored once). */
function lmHead(g: GraphBuilder, w: Weights, cfg: ModelConfig, x: string, embed: string, headName: string): void {
  const { vocabSize: V, hiddenSize: C } = cfg;
  const W = cfg.tieWordEmbeddings ? g.op('Transpose', [embed], { perm: [1, 0] }) : g.weight(`${headName}.T`, [C, V], transpose(get(w, headName), V, C));
  g.op('MatMul', [x, W], undefined, 'logits');
}

/** Llama and Qwen2 (llama with q/k/v biases). */
export function llamaGraph(cfg: ModelConfig, w: Weights): GraphBuilder {
  const g = new GraphBuilder();
  const { hiddenSize: C, numLayers: L, numHeads: Hq, numKvHeads: Hkv, headDim: D, intermediateSize: F, vocabSize: V, normEps: eps } = cfg;
  const { ids, mask, positions, past } = io(g, cfg);
  const embed = g.weight('model.embed_tokens.weight', [V, C], get(w, 'model.embed_tokens.weight'));

  // cos/sin (maxPositions, D) in float64 rounded once, as src/ops/rope's table: rotate-half
  // repeats each frequency in both halves.
  const inv = ropeScalingInvFreq(cfg.hf, D, cfg.ropeTheta);
  const Pmax = cfg.maxPositions;
  const cosT = new Float32Array(Pmax * D);
  const sinT = new Float32Array(Pmax * D);
  for (let p = 0; p < Pmax; p++) {
    for (let i = 0; i < D / 2; i++) {
      const th = p * inv[i];
      cosT[p * D + i] = cosT[p * D + i + D / 2] = Math.cos(th);
      sinT[p * D + i] = sinT[p * D + i + D / 2] = Math.sin(th);
    }
  }
  const cos = g.op('Unsqueeze', [g.op('Gather', [g.weight('rope.cos', [Pmax, D], cosT), positions]), g.ints([1])]); // (B, 1, S, D)
  const sin = g.op('Unsqueeze', [g.op('Gather', [g.weight('rope.sin', [Pmax, D], sinT), positions]), g.ints([1])]); // (B, 1, S, D)
  const bias = attentionBias(g, ids, mask);

  let x = g.op('Gather', [embed, ids]); // (B, S, C)
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    const h = rmsNorm(g, x, g.weight(`${p}.input_layernorm.weight`, [C], get(w, `${p}.input_layernorm.weight`)), eps);
    const q = rope(g, heads(g, linear(g, w, h, `${p}.self_attn.q_proj`, Hq * D, C, cfg.attentionBias), Hq, D), cos, sin, D); // (B, Hq, S, D)
    const k = rope(g, heads(g, linear(g, w, h, `${p}.self_attn.k_proj`, Hkv * D, C, cfg.attentionBias), Hkv, D), cos, sin, D); // (B, Hkv, S, D)
    const v = heads(g, linear(g, w, h, `${p}.self_attn.v_proj`, Hkv * D, C, cfg.attentionBias), Hkv, D); // (B, Hkv, S, D)
    const kAll = g.op('Concat', [past[l].key, k], { axis: 2 }, `present.${l}.key`); // (B, Hkv, T, D)
    const vAll = g.op('Concat', [past[l].value, v], { axis: 2 }, `present.${l}.value`);
    const a = attend(g, q, repeatKv(g, kAll, Hq, Hkv, D), repeatKv(g, vAll, Hq, Hkv, D), bias, Hq, D);
    x = g.op('Add', [x, linear(g, w, a, `${p}.self_attn.o_proj`, C, Hq * D)]);

    const h2 = rmsNorm(g, x, g.weight(`${p}.post_attention_layernorm.weight`, [C], get(w, `${p}.post_attention_layernorm.weight`)), eps);
    const gate = linear(g, w, h2, `${p}.mlp.gate_proj`, F, C);
    const up = linear(g, w, h2, `${p}.mlp.up_proj`, F, C);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]); // SiLU(gate) · up, (B, S, F)
    x = g.op('Add', [x, linear(g, w, act, `${p}.mlp.down_proj`, C, F)]);
  }
  const out = rmsNorm(g, x, g.weight('model.norm.weight', [C], get(w, 'model.norm.weight')), eps);
  lmHead(g, w, cfg, out, embed, 'lm_head.weight');
  return g;
}
