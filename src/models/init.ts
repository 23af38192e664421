// From-scratch initialisation for tiny students (GPT-2 style: normal(0, 0.02) matrices and
// embeddings, residual projections scaled by 1/sqrt(2L) in the specs, norms ones, biases zeros),
// seeded and deterministic; and tiny config.json presets for each architecture.
import type { HFConfig } from './config.ts';
import type { ParamSpec } from './params.ts';

/** A seeded generator of standard normal numbers (mulberry32 + Box-Muller), the same on every platform. */
export function normalGenerator(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - uniform(); // (0, 1]: log is finite
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/**
 * A state dict for `specs`, following each spec's init. Each parameter draws from its own stream
 * (seed mixed with its name), so adding or freezing one parameter leaves the others unchanged.
 */
export function initialize(specs: readonly ParamSpec[], seed = 0): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const w = new Float32Array(n);
    if (s.init.kind === 'ones') w.fill(1);
    else if (s.init.kind === 'normal') {
      const next = normalGenerator(hash(`${seed}:${s.name}`));
      const std = s.init.std;
      for (let i = 0; i < n; i++) w[i] = std * next();
    }
    out.set(s.name, w);
  }
  return out;
}

/** FNV-1a, 32 bits. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export type TinyArch = 'llama' | 'qwen2' | 'gpt2';

/** Shared knobs of the tiny presets, in our letters. */
export interface TinyOptions {
  vocab?: number;
  hidden?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  intermediate?: number;
  maxPositions?: number;
  tie?: boolean;
}

/**
 * A Hugging Face-shaped config.json for a tiny student: byte-level vocabulary 260, C 64, L 2,
 * Hq 4 (D 16), Hkv 2 (llama, qwen2), F 128 (gpt2: 4C unless given), 256 positions. `overrides`
 * takes our short knobs and raw config.json fields (which win).
 */
export function tinyConfig(arch: TinyArch, overrides: TinyOptions & HFConfig = {}): HFConfig {
  const { vocab = 260, hidden = 64, layers = 2, heads = 4, kvHeads = 2, intermediate, maxPositions = 256, tie = true, ...raw } = overrides;
  if (arch === 'gpt2') {
    return {
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      vocab_size: vocab,
      n_embd: hidden,
      n_layer: layers,
      n_head: heads,
      n_inner: intermediate ?? null,
      n_positions: maxPositions,
      n_ctx: maxPositions,
      activation_function: 'gelu_new',
      layer_norm_epsilon: 1e-5,
      initializer_range: 0.02,
      tie_word_embeddings: tie,
      bos_token_id: 256,
      eos_token_id: 257,
      ...raw,
    };
  }
  return {
    model_type: arch,
    architectures: [arch === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM'],
    vocab_size: vocab,
    hidden_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    intermediate_size: intermediate ?? 2 * hidden,
    max_position_embeddings: maxPositions,
    hidden_act: 'silu',
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: null,
    tie_word_embeddings: tie,
    initializer_range: 0.02,
    bos_token_id: 256,
    eos_token_id: 257,
    ...(arch === 'llama' ? { attention_bias: false, mlp_bias: false } : { use_sliding_window: false }),
    ...raw,
  };
}
