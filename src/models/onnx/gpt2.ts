// GPT-2 (gpt2, distilgpt2) as an ONNX graph, the semantics of src/models/gpt2 (what it rejects
// never reaches here): learned positions (wpe gathered by position_ids, which transformers.js
// feeds because the graph declares them, left padding included), LayerNorm with bias, the fused
// c_attn split into q/k/v, tanh-GELU, biases everywhere, LM head tied to wte unless the config
// unties it. Conv1D weights are (in, out), already what MatMul wants: stored as they are.
import { attentionScale, type ModelConfig } from '../config.ts';
import { attend, attentionBias, heads, io, lmHead, param, present, type Weights } from './decoder.ts';
import { GraphBuilder } from './graph.ts';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** LayerNormalization over the last axis (opset 17), `${name}.weight` and `.bias` (C). */
function layerNorm(g: GraphBuilder, w: Weights, x: string, name: string, C: number, eps: number): string {
  return g.op('LayerNormalization', [x, param(g, w, `${name}.weight`, [C]), param(g, w, `${name}.bias`, [C])], { axis: -1, epsilon: { float: eps } });
}

/** Conv1D: x (…, in) · W (in, out) + b. */
function conv1d(g: GraphBuilder, w: Weights, x: string, name: string, inDim: number, outDim: number): string {
  return g.op('Add', [g.op('MatMul', [x, param(g, w, `${name}.weight`, [inDim, outDim])]), param(g, w, `${name}.bias`, [outDim])]);
}

/**
 * gelu_new: 0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³))). Opset 17 has no Gelu (it came in 20);
 * x³ as x·x·x rather than Pow, which some runtimes compute through exp/log.
 */
function gelu(g: GraphBuilder, x: string): string {
  const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
  const u = g.op('Mul', [g.op('Add', [x, g.op('Mul', [cube, g.scalar(0.044715)])]), g.scalar(SQRT_2_OVER_PI)]);
  const t = g.op('Add', [g.op('Tanh', [u]), g.scalar(1)]);
  return g.op('Mul', [g.op('Mul', [x, g.scalar(0.5)]), t]);
}

export function gpt2Graph(cfg: ModelConfig, w: Weights): GraphBuilder {
  const g = new GraphBuilder();
  const { hiddenSize: C, numLayers: L, numHeads: H, headDim: D, intermediateSize: F, vocabSize: V, maxPositions: Pmax, normEps: eps } = cfg;
  const { ids, mask, positions, past } = io(g, cfg);
  const wte = param(g, w, 'transformer.wte.weight', [V, C]);
  const wpe = param(g, w, 'transformer.wpe.weight', [Pmax, C]);
  const bias = attentionBias(g, ids, mask);

  let x = g.op('Add', [g.op('Gather', [wte, ids]), g.op('Gather', [wpe, positions])]); // (B, S, C)
  const split = g.ints([C, C, C]);
  for (let l = 0; l < L; l++) {
    const p = `transformer.h.${l}`;
    const h = layerNorm(g, w, x, `${p}.ln_1`, C, eps);
    const [q, k, v] = g.many('Split', [conv1d(g, w, h, `${p}.attn.c_attn`, C, 3 * C), split], 3, { axis: -1 }).map((t) => heads(g, t, H, D)); // (B, H, S, D) each
    const kAll = present(g, past[l].key, k, `present.${l}.key`); // (B, H, T, D)
    const vAll = present(g, past[l].value, v, `present.${l}.value`);
    x = g.op('Add', [x, conv1d(g, w, attend(g, q, kAll, vAll, bias, H, D, attentionScale(cfg, l)), `${p}.attn.c_proj`, C, C)]);

    const h2 = layerNorm(g, w, x, `${p}.ln_2`, C, eps);
    x = g.op('Add', [x, conv1d(g, w, gelu(g, conv1d(g, w, h2, `${p}.mlp.c_fc`, C, F)), `${p}.mlp.c_proj`, F, C)]); // MLP through (B, S, F)
  }
  const out = layerNorm(g, w, x, 'transformer.ln_f', C, eps);
  lmHead(g, w, cfg, out, wte, 'lm_head.weight');
  return g;
}
