// Llama-family config.json → ModelConfig (also used by qwen2, which is llama plus q/k/v biases).
import { intField, numberField, UnsupportedConfigError, type HFConfig, type ModelConfig } from '../config.ts';

/** Fields whose only supported value is "off"; anything else would change the math silently. */
function expectOff(hf: HFConfig, field: string, reason: string): void {
  const v = hf[field];
  if (v !== undefined && v !== null && v !== false) throw new UnsupportedConfigError(field, v, reason);
}

function eosOf(hf: HFConfig): number | number[] | undefined {
  const v = hf.eos_token_id;
  if (typeof v === 'number' || (Array.isArray(v) && v.every((x) => typeof x === 'number'))) return v as number | number[];
  return undefined;
}

export interface LlamaLikeDefaults {
  arch: string;
  maxPositions: number;
  attentionBias: boolean;
}

/** The common part of llama and qwen2 parsing; `defaults` carries what differs. */
export function parseLlamaLike(hf: HFConfig, defaults: LlamaLikeDefaults): ModelConfig {
  const act = hf.hidden_act ?? 'silu';
  if (act !== 'silu' && act !== 'swish') throw new UnsupportedConfigError('hidden_act', act, 'only silu (SwiGLU MLP) is implemented for this architecture');
  const vocabSize = intField(hf, 'vocab_size');
  const hiddenSize = intField(hf, 'hidden_size');
  const numLayers = intField(hf, 'num_hidden_layers');
  const numHeads = intField(hf, 'num_attention_heads');
  const numKvHeads = intField(hf, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) throw new UnsupportedConfigError('num_key_value_heads', numKvHeads, `must divide num_attention_heads = ${numHeads}`);
  if (hf.head_dim == null && hiddenSize % numHeads !== 0) throw new UnsupportedConfigError('num_attention_heads', numHeads, `must divide hidden_size = ${hiddenSize} when head_dim is not given`);
  const headDim = intField(hf, 'head_dim', hiddenSize / numHeads);
  if (headDim % 2 !== 0) throw new UnsupportedConfigError('head_dim', headDim, 'rotary embeddings need an even head size');
  if (headDim > 128) throw new UnsupportedConfigError('head_dim', headDim, 'the attention kernel supports head sizes up to 128');
  const ropeTheta = numberField(hf, 'rope_theta', 10000);
  if (!(ropeTheta > 1)) throw new UnsupportedConfigError('rope_theta', ropeTheta, 'must be > 1');
  ropeScalingInvFreq(hf, headDim, ropeTheta); // validates rope_scaling now rather than at build time
  const normEps = numberField(hf, 'rms_norm_eps', 1e-6);
  if (!(normEps >= 0)) throw new UnsupportedConfigError('rms_norm_eps', normEps, 'must be >= 0');
  const tie = hf.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean') throw new UnsupportedConfigError('tie_word_embeddings', tie, 'expected true or false');
  return {
    arch: defaults.arch,
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: intField(hf, 'intermediate_size'),
    maxPositions: intField(hf, 'max_position_embeddings', defaults.maxPositions),
    norm: 'rms',
    normEps,
    mlp: 'swiglu',
    positions: 'rope',
    ropeTheta,
    attentionBias: defaults.attentionBias,
    tieWordEmbeddings: tie,
    bosTokenId: typeof hf.bos_token_id === 'number' ? hf.bos_token_id : undefined,
    eosTokenId: eosOf(hf),
    hf,
  };
}

export function parseLlamaConfig(hf: HFConfig): ModelConfig {
  // Llama's attention_bias also puts a bias on o_proj, and mlp_bias on the MLP: neither is planned.
  expectOff(hf, 'attention_bias', 'llama models with attention biases are not supported (qwen2 has q/k/v biases)');
  expectOff(hf, 'mlp_bias', 'MLP biases are not supported for llama');
  return parseLlamaLike(hf, { arch: 'llama', maxPositions: 2048, attentionBias: false });
}

/**
 * RoPE inverse frequencies as Hugging Face's ROPE_INIT_FUNCTIONS compute them: default,
 * 'linear' (positions divided by factor) and 'llama3' (Llama 3.1/3.2's band-wise scaling).
 * Other rope types throw naming the field.
 */
export function ropeScalingInvFreq(hf: HFConfig, D: number, theta: number): Float64Array {
  const base = Float64Array.from({ length: D / 2 }, (_, i) => Math.pow(theta, (-2 * i) / D));
  const rs = hf.rope_scaling;
  if (rs === undefined || rs === null) return base;
  if (typeof rs !== 'object') throw new UnsupportedConfigError('rope_scaling', rs, 'expected an object or null');
  const r = rs as Record<string, unknown>;
  const type = r.rope_type ?? r.type ?? 'default';
  const factor = r.factor;
  const num = (name: string, v: unknown): number => {
    if (typeof v !== 'number' || !(v > 0)) throw new UnsupportedConfigError(`rope_scaling.${name}`, v, 'expected a positive number');
    return v;
  };
  switch (type) {
    case 'default':
      return base;
    case 'linear': {
      const f = num('factor', factor);
      return base.map((x) => x / f);
    }
    case 'llama3': {
      const f = num('factor', factor);
      const lo = num('low_freq_factor', r.low_freq_factor);
      const hi = num('high_freq_factor', r.high_freq_factor);
      const old = num('original_max_position_embeddings', r.original_max_position_embeddings);
      const loWave = old / lo;
      const hiWave = old / hi;
      return base.map((x) => {
        const wave = (2 * Math.PI) / x;
        if (wave < hiWave) return x;
        if (wave > loWave) return x / f;
        const smooth = (old / wave - lo) / (hi - lo);
        return (1 - smooth) * (x / f) + smooth * x;
      });
    }
    default:
      throw new UnsupportedConfigError('rope_scaling.rope_type', type, "supported RoPE types are default, linear and llama3");
  }
}
