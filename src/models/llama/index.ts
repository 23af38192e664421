// Llama (SmolLM2, TinyLlama, Llama 3.2): RMSNorm, RoPE, grouped-query attention, SwiGLU, optional
// tied LM head; Hugging Face's LlamaForCausalLM names and (out, in) Linear weights. Qwen2 reuses
// all of it with q/k/v biases (src/models/qwen2).
import type { HFConfig, ModelConfig } from '../config.ts';
import type { Architecture } from '../architecture.ts';
import type { ParamSpec } from '../params.ts';
import { buildDecoder, decoderPlan, type DecoderSpec } from '../../nn/decoder.ts';
import type { LayerNames, LinearNames, ModelNames } from '../../nn/types.ts';
import { parseLlamaConfig, ropeScalingInvFreq } from './config.ts';

const INIT_STD = 0.02;

export function llamaNames(cfg: ModelConfig): ModelNames {
  const lin = (n: string, bias: boolean): LinearNames => ({ weight: `${n}.weight`, bias: bias ? `${n}.bias` : undefined });
  const layers: LayerNames[] = Array.from({ length: cfg.numLayers }, (_, i) => {
    const p = `model.layers.${i}`;
    return {
      norm1: { weight: `${p}.input_layernorm.weight` },
      qkv: { q: lin(`${p}.self_attn.q_proj`, cfg.attentionBias), k: lin(`${p}.self_attn.k_proj`, cfg.attentionBias), v: lin(`${p}.self_attn.v_proj`, cfg.attentionBias) },
      o: lin(`${p}.self_attn.o_proj`, false),
      norm2: { weight: `${p}.post_attention_layernorm.weight` },
      mlp: { gate: lin(`${p}.mlp.gate_proj`, false), up: lin(`${p}.mlp.up_proj`, false), down: lin(`${p}.mlp.down_proj`, false) },
    };
  });
  return {
    embed: 'model.embed_tokens.weight',
    layers,
    finalNorm: { weight: 'model.norm.weight' },
    lmHead: cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight',
  };
}

/** HF names and shapes; GPT-2-style init with residual projections (o, down) scaled by 1/sqrt(2L). */
export function llamaParameters(cfg: ModelConfig): ParamSpec[] {
  const { vocabSize: V, hiddenSize: C, numHeads: Hq, numKvHeads: Hkv, headDim: D, intermediateSize: F, numLayers: L } = cfg;
  const w = (name: string, shape: number[], std = INIT_STD): ParamSpec => ({ name, shape, decay: true, init: { kind: 'normal', std } });
  const ones = (name: string, n: number): ParamSpec => ({ name, shape: [n], decay: false, init: { kind: 'ones' } });
  const zeros = (name: string, n: number): ParamSpec => ({ name, shape: [n], decay: false, init: { kind: 'zeros' } });
  const resid = INIT_STD / Math.sqrt(2 * L);
  const specs: ParamSpec[] = [w('model.embed_tokens.weight', [V, C])];
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}`;
    specs.push(ones(`${p}.input_layernorm.weight`, C));
    specs.push(w(`${p}.self_attn.q_proj.weight`, [Hq * D, C]));
    if (cfg.attentionBias) specs.push(zeros(`${p}.self_attn.q_proj.bias`, Hq * D));
    specs.push(w(`${p}.self_attn.k_proj.weight`, [Hkv * D, C]));
    if (cfg.attentionBias) specs.push(zeros(`${p}.self_attn.k_proj.bias`, Hkv * D));
    specs.push(w(`${p}.self_attn.v_proj.weight`, [Hkv * D, C]));
    if (cfg.attentionBias) specs.push(zeros(`${p}.self_attn.v_proj.bias`, Hkv * D));
    specs.push(w(`${p}.self_attn.o_proj.weight`, [C, Hq * D], resid));
    specs.push(ones(`${p}.post_attention_layernorm.weight`, C));
    specs.push(w(`${p}.mlp.gate_proj.weight`, [F, C]));
    specs.push(w(`${p}.mlp.up_proj.weight`, [F, C]));
    specs.push(w(`${p}.mlp.down_proj.weight`, [C, F], resid));
  }
  specs.push(ones('model.norm.weight', C));
  if (!cfg.tieWordEmbeddings) specs.push(w('lm_head.weight', [V, C]));
  return specs;
}

export function llamaSpec(cfg: ModelConfig): DecoderSpec {
  return { names: llamaNames(cfg), layout: 'hf', ropeInvFreq: (c) => ropeScalingInvFreq(c.hf, c.headDim, c.ropeTheta) };
}

/** An Architecture for a llama-like family: `parse` decides the config details. */
export function llamaLike(name: string, modelTypes: string[], parse: (hf: HFConfig) => ModelConfig): Architecture {
  return {
    name,
    modelTypes,
    parseConfig: parse,
    parameters: llamaParameters,
    activationShapes: (cfg, B, T, opts) => decoderPlan(cfg, llamaSpec(cfg), B, T, opts),
    build: (rt, cfg, store, inputs, opts) => buildDecoder(rt, cfg, llamaSpec(cfg), store, inputs, opts),
    lmHeadWeight: (cfg) => llamaNames(cfg).lmHead,
  };
}

export const llama: Architecture = llamaLike('llama', ['llama'], parseLlamaConfig);
