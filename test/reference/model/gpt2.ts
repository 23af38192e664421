// float64 reference of transformers' GPT2LMHeadModel, written from the modeling code's semantics:
//   x = wte[ids] + wpe[positions]
//   per block: x += attn.c_proj(attn(q, k, v)), q|k|v = attn.c_attn(ln_1(x)) split in three
//              x += mlp.c_proj(gelu_new(mlp.c_fc(ln_2(x))))
//   logits = ln_f(x)·wteᵀ (lm_head tied to wte unless tie_word_embeddings is false).
// Conv1D weights are stored (in, out): y = x·W + b. Letters: N = B·T rows, C n_embd, V vocabulary,
// H heads, D = C/H head size, F MLP inner size (n_inner, default 4C), P n_positions.
import type { Tape, Var } from './tape.ts';
import { bool, configError, int, num, type HFConfig, type Inputs } from './common.ts';

export interface Gpt2Dims {
  V: number; C: number; L: number; H: number; D: number; F: number; P: number;
  eps: number;
  tie: boolean;
  scaleWeights: boolean; // scale_attn_weights: scores / sqrt(D)
  scaleByLayer: boolean; // scale_attn_by_inverse_layer_idx: scores / (layer + 1)
}

/** Dimensions with transformers' GPT2Config defaults for missing fields. */
export function gpt2Dims(hf: HFConfig): Gpt2Dims {
  const C = int(hf, 'n_embd', 768);
  const H = int(hf, 'n_head', 12);
  if (C % H !== 0) configError('n_head', H, `must divide n_embd = ${C}`);
  const act = hf.activation_function ?? 'gelu_new';
  // gelu_pytorch_tanh is the same tanh approximation as gelu_new.
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') configError('activation_function', act, "only 'gelu_new' is modelled");
  return {
    V: int(hf, 'vocab_size', 50257), C, L: int(hf, 'n_layer', 12), H, D: C / H,
    F: int(hf, 'n_inner', 4 * C), P: int(hf, 'n_positions', 1024),
    eps: num(hf, 'layer_norm_epsilon', 1e-5),
    tie: bool(hf, 'tie_word_embeddings', true),
    scaleWeights: bool(hf, 'scale_attn_weights', true),
    scaleByLayer: bool(hf, 'scale_attn_by_inverse_layer_idx', false),
  };
}

export function gpt2Shapes(hf: HFConfig): Map<string, number[]> {
  const d = gpt2Dims(hf);
  const s = new Map<string, number[]>([
    ['transformer.wte.weight', [d.V, d.C]],
    ['transformer.wpe.weight', [d.P, d.C]],
  ]);
  for (let i = 0; i < d.L; i++) {
    const p = `transformer.h.${i}.`;
    const conv: [string, number, number][] = [['attn.c_attn', d.C, 3 * d.C], ['attn.c_proj', d.C, d.C], ['mlp.c_fc', d.C, d.F], ['mlp.c_proj', d.F, d.C]];
    s.set(p + 'ln_1.weight', [d.C]).set(p + 'ln_1.bias', [d.C]);
    for (const [name, inp, out] of conv.slice(0, 2)) s.set(`${p}${name}.weight`, [inp, out]).set(`${p}${name}.bias`, [out]);
    s.set(p + 'ln_2.weight', [d.C]).set(p + 'ln_2.bias', [d.C]);
    for (const [name, inp, out] of conv.slice(2)) s.set(`${p}${name}.weight`, [inp, out]).set(`${p}${name}.bias`, [out]);
  }
  s.set('transformer.ln_f.weight', [d.C]).set('transformer.ln_f.bias', [d.C]);
  if (!d.tie) s.set('lm_head.weight', [d.V, d.C]);
  return s;
}

/** logits (B·T, V) of GPT2LMHeadModel. */
export function gpt2Logits(tape: Tape, hf: HFConfig, w: (name: string) => Var, inp: Inputs): Var {
  const d = gpt2Dims(hf);
  const conv = (x: Var, name: string) => tape.linear(x, w(name + '.weight'), w(name + '.bias'), 'in_out');
  const ln = (x: Var, name: string) => tape.layernorm(x, w(name + '.weight'), w(name + '.bias'), d.eps);
  const dims = { B: inp.B, T: inp.T, Hq: d.H, Hkv: d.H, D: d.D };
  let x = tape.add(tape.gather(w('transformer.wte.weight'), inp.ids), tape.gather(w('transformer.wpe.weight'), inp.positions)); // (N, C)
  for (let i = 0; i < d.L; i++) {
    const p = `transformer.h.${i}.`;
    const qkv = conv(ln(x, p + 'ln_1'), p + 'attn.c_attn'); // (N, 3C)
    const [q, k, v] = [0, 1, 2].map((j) => tape.columns(qkv, j * d.C, d.C)); // (N, C) each
    const scale = (d.scaleWeights ? 1 / Math.sqrt(d.D) : 1) / (d.scaleByLayer ? i + 1 : 1);
    x = tape.add(x, conv(tape.attention(q, k, v, dims, inp.segmentIds, scale), p + 'attn.c_proj'));
    x = tape.add(x, conv(tape.geluNew(conv(ln(x, p + 'ln_2'), p + 'mlp.c_fc')), p + 'mlp.c_proj'));
  }
  x = ln(x, 'transformer.ln_f');
  return tape.linear(x, w(d.tie ? 'transformer.wte.weight' : 'lm_head.weight'), null, 'out_in'); // (N, V)
}
