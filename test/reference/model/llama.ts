// float64 reference of transformers' LlamaForCausalLM and Qwen2ForCausalLM (Qwen2 = Llama with
// q/k/v biases). Written from the modeling code's semantics, not from our GPU layers:
//   x = embed_tokens[ids]
//   per layer: x += o_proj(attn(rope(q_proj(n)), rope(k_proj(n)), v_proj(n))), n = input_layernorm(x)
//              x += down_proj(silu(gate_proj(n)) · up_proj(n)),               n = post_attention_layernorm(x)
//   logits = lm_head(norm(x)), lm_head = embed_tokens when tie_word_embeddings.
// Letters: N = B·T rows, C hidden, V vocabulary, Hq/Hkv heads, D head size, F MLP inner size.
import type { Tape, Var } from './tape.ts';
import { bool, configError, int, num, type HFConfig, type Inputs } from './common.ts';

export interface LlamaDims {
  V: number; C: number; L: number; Hq: number; Hkv: number; D: number; F: number;
  eps: number;
  invFreq: Float64Array; // (D/2) RoPE frequencies, after any rope_scaling
  tie: boolean;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
}

/** Dimensions with transformers' LlamaConfig / Qwen2Config defaults for missing fields. */
export function llamaDims(hf: HFConfig): LlamaDims {
  const qwen = hf.model_type === 'qwen2';
  const C = int(hf, 'hidden_size', 4096);
  const Hq = int(hf, 'num_attention_heads', 32);
  const Hkv = int(hf, 'num_key_value_heads', Hq);
  const D = int(hf, 'head_dim', Math.floor(C / Hq));
  if (Hq % Hkv !== 0) configError('num_key_value_heads', Hkv, `must divide num_attention_heads = ${Hq}`);
  if (D % 2 !== 0) configError('head_dim', D, 'rotate-half RoPE needs an even head size');
  const act = hf.hidden_act ?? 'silu';
  if (act !== 'silu') configError('hidden_act', act, "only 'silu' is modelled");
  if (qwen && bool(hf, 'use_sliding_window', false)) configError('use_sliding_window', true, 'sliding-window attention is not modelled');
  const attentionBias = bool(hf, 'attention_bias', false);
  return {
    V: int(hf, 'vocab_size', qwen ? 151936 : 32000),
    C, L: int(hf, 'num_hidden_layers', 32), Hq, Hkv, D,
    F: int(hf, 'intermediate_size', qwen ? 22016 : 11008),
    eps: num(hf, 'rms_norm_eps', 1e-6),
    invFreq: ropeInvFreq(hf, D),
    tie: bool(hf, 'tie_word_embeddings', false),
    qkvBias: qwen || attentionBias,
    oBias: !qwen && attentionBias,
    mlpBias: !qwen && bool(hf, 'mlp_bias', false),
  };
}

/**
 * inv_freq[i] = rope_theta^(-2i/D), then the 'llama3' rope_scaling of Llama 3.x when the config
 * asks for it (transformers' _compute_llama3_parameters: long wavelengths divided by `factor`,
 * short ones kept, the band between interpolated).
 */
function ropeInvFreq(hf: HFConfig, D: number): Float64Array {
  const theta = num(hf, 'rope_theta', 10000);
  const inv = Float64Array.from({ length: D / 2 }, (_, i) => Math.pow(theta, (-2 * i) / D));
  const rs = hf.rope_scaling as Record<string, unknown> | null | undefined;
  if (rs == null) return inv;
  const type = rs.rope_type ?? rs.type;
  if (type === 'default') return inv;
  if (type !== 'llama3') configError('rope_scaling', rs, "only 'default' and 'llama3' are modelled");
  const factor = rs.factor as number, lo = rs.low_freq_factor as number, hi = rs.high_freq_factor as number;
  const old = rs.original_max_position_embeddings as number;
  const loWave = old / lo, hiWave = old / hi;
  return inv.map((f) => {
    const wave = (2 * Math.PI) / f;
    if (wave < hiWave) return f;
    if (wave > loWave) return f / factor;
    const smooth = (old / wave - lo) / (hi - lo);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

export function llamaShapes(hf: HFConfig): Map<string, number[]> {
  const d = llamaDims(hf);
  const s = new Map<string, number[]>([['model.embed_tokens.weight', [d.V, d.C]]]);
  for (let i = 0; i < d.L; i++) {
    const p = `model.layers.${i}.`;
    s.set(p + 'input_layernorm.weight', [d.C]);
    const proj: [string, number, number, boolean][] = [
      ['self_attn.q_proj', d.Hq * d.D, d.C, d.qkvBias],
      ['self_attn.k_proj', d.Hkv * d.D, d.C, d.qkvBias],
      ['self_attn.v_proj', d.Hkv * d.D, d.C, d.qkvBias],
      ['self_attn.o_proj', d.C, d.Hq * d.D, d.oBias],
    ];
    for (const [name, out, inp, bias] of proj) {
      s.set(`${p}${name}.weight`, [out, inp]);
      if (bias) s.set(`${p}${name}.bias`, [out]);
    }
    s.set(p + 'post_attention_layernorm.weight', [d.C]);
    const mlp: [string, number, number][] = [['gate_proj', d.F, d.C], ['up_proj', d.F, d.C], ['down_proj', d.C, d.F]];
    for (const [name, out, inp] of mlp) {
      s.set(`${p}mlp.${name}.weight`, [out, inp]);
      if (d.mlpBias) s.set(`${p}mlp.${name}.bias`, [out]);
    }
  }
  s.set('model.norm.weight', [d.C]);
  if (!d.tie) s.set('lm_head.weight', [d.V, d.C]);
  return s;
}

/** logits (B·T, V) of LlamaForCausalLM / Qwen2ForCausalLM. */
export function llamaLogits(tape: Tape, hf: HFConfig, w: (name: string) => Var, inp: Inputs): Var {
  const d = llamaDims(hf);
  const lin = (x: Var, name: string, bias: boolean) => tape.linear(x, w(name + '.weight'), bias ? w(name + '.bias') : null, 'out_in');
  const dims = { B: inp.B, T: inp.T, Hq: d.Hq, Hkv: d.Hkv, D: d.D };
  let x = tape.gather(w('model.embed_tokens.weight'), inp.ids); // (N, C)
  for (let i = 0; i < d.L; i++) {
    const p = `model.layers.${i}.`;
    let n = tape.rmsnorm(x, w(p + 'input_layernorm.weight'), d.eps);
    const q = tape.rope(lin(n, p + 'self_attn.q_proj', d.qkvBias), d.Hq, d.D, inp.positions, d.invFreq); // (N, Hq·D)
    const k = tape.rope(lin(n, p + 'self_attn.k_proj', d.qkvBias), d.Hkv, d.D, inp.positions, d.invFreq); // (N, Hkv·D)
    const v = lin(n, p + 'self_attn.v_proj', d.qkvBias); // (N, Hkv·D)
    const a = tape.attention(q, k, v, dims, inp.segmentIds, 1 / Math.sqrt(d.D)); // (N, Hq·D)
    x = tape.add(x, lin(a, p + 'self_attn.o_proj', d.oBias));
    n = tape.rmsnorm(x, w(p + 'post_attention_layernorm.weight'), d.eps);
    const gate = tape.silu(lin(n, p + 'mlp.gate_proj', d.mlpBias)); // (N, F)
    const up = lin(n, p + 'mlp.up_proj', d.mlpBias); // (N, F)
    x = tape.add(x, lin(tape.mul(gate, up), p + 'mlp.down_proj', d.mlpBias));
  }
  x = tape.rmsnorm(x, w('model.norm.weight'), d.eps);
  return tape.linear(x, w(d.tie ? 'model.embed_tokens.weight' : 'lm_head.weight'), null, 'out_in'); // (N, V)
}
