// Llama and Qwen2 (llama with q/k/v biases) as an ONNX graph: RMSNorm, RoPE from float64 cos/sin
// tables gathered by position_ids, grouped-query heads by Expand, SwiGLU MLP.
import { attentionScale, usablePositions, type ModelConfig } from '../config.ts';
import { ropeScalingInvFreq } from '../llama/config.ts';
import { attend, attentionBias, get, heads, io, lmHead, param, present, transpose, type Weights } from './decoder.ts';
import { GraphBuilder } from './graph.ts';

function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number): string {
  const variance = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
  const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps)])])]);
  return g.op('Mul', [g.op('Mul', [x, inv]), weight]);
}

/** x (…, in) @ W^T (+ b): the (out, in) weight stored transposed once, at export. */
function linear(g: GraphBuilder, w: Weights, x: string, name: string, outDim: number, inDim: number, bias = false): string {
  const W = g.weight(`${name}.weight`, [inDim, outDim], transpose(get(w, `${name}.weight`), outDim, inDim));
  const y = g.op('MatMul', [x, W]);
  return bias ? g.op('Add', [y, param(g, w, `${name}.bias`, [outDim])]) : y;
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

export function llamaGraph(cfg: ModelConfig, w: Weights): GraphBuilder {
  const g = new GraphBuilder();
  const { hiddenSize: C, numLayers: L, numHeads: Hq, numKvHeads: Hkv, headDim: D, intermediateSize: F, vocabSize: V, normEps: eps } = cfg;
  const { ids, mask, positions, past } = io(g, cfg);
  const embed = param(g, w, 'model.embed_tokens.weight', [V, C]);

  // cos/sin (usablePositions, D) in float64 rounded once, as src/ops/rope's table: rotate-half
  // repeats each frequency in both halves. A binding sliding window ends the table at the window,
  // so onnxruntime refuses the positions this graph (which has no window) would get wrong.
  const inv = ropeScalingInvFreq(cfg.hf, D, cfg.ropeTheta);
  const Pmax = usablePositions(cfg);
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
    const h = rmsNorm(g, x, param(g, w, `${p}.input_layernorm.weight`, [C]), eps);
    const q = rope(g, heads(g, linear(g, w, h, `${p}.self_attn.q_proj`, Hq * D, C, cfg.attentionBias), Hq, D), cos, sin, D); // (B, Hq, S, D)
    const k = rope(g, heads(g, linear(g, w, h, `${p}.self_attn.k_proj`, Hkv * D, C, cfg.attentionBias), Hkv, D), cos, sin, D); // (B, Hkv, S, D)
    const v = heads(g, linear(g, w, h, `${p}.self_attn.v_proj`, Hkv * D, C, cfg.attentionBias), Hkv, D); // (B, Hkv, S, D)
    const kAll = present(g, past[l].key, k, `present.${l}.key`); // (B, Hkv, T, D)
    const vAll = present(g, past[l].value, v, `present.${l}.value`);
    const a = attend(g, q, repeatKv(g, kAll, Hq, Hkv, D), repeatKv(g, vAll, Hq, Hkv, D), bias, Hq, D, attentionScale(cfg, l));
    x = g.op('Add', [x, linear(g, w, a, `${p}.self_attn.o_proj`, C, Hq * D)]);

    const h2 = rmsNorm(g, x, param(g, w, `${p}.post_attention_layernorm.weight`, [C]), eps);
    const gate = linear(g, w, h2, `${p}.mlp.gate_proj`, F, C);
    const up = linear(g, w, h2, `${p}.mlp.up_proj`, F, C);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]); // SiLU(gate) · up, (B, S, F)
    x = g.op('Add', [x, linear(g, w, act, `${p}.mlp.down_proj`, C, F)]);
  }
  const out = rmsNorm(g, x, param(g, w, 'model.norm.weight', [C]), eps);
  lmHead(g, w, cfg, out, embed, 'lm_head.weight');
  return g;
}
