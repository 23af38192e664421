// GPT-2 (gpt2, distilgpt2): learned positions, LayerNorm, fused c_attn, gelu_new MLP, LM head
// tied to wte; Conv1D weights stored (in, out). Hugging Face's GPT2LMHeadModel names.
import { intField, numberField, UnsupportedConfigError, type HFConfig, type ModelConfig } from '../config.ts';
import type { Architecture } from '../architecture.ts';
import type { ParamSpec } from '../params.ts';
import { buildDecoder, decoderPlan, type DecoderSpec } from '../../nn/decoder.ts';
import type { LayerNames, ModelNames } from '../../nn/types.ts';

const INIT_STD = 0.02;

export function parseGpt2Config(hf: HFConfig): ModelConfig {
  const act = hf.activation_function ?? 'gelu_new';
  // gelu_pytorch_tanh is the same tanh approximation; exact erf GELU ('gelu') is another function.
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') throw new UnsupportedConfigError('activation_function', act, 'only gelu_new (tanh approximation) is implemented');
  if (hf.scale_attn_weights === false) throw new UnsupportedConfigError('scale_attn_weights', false, 'attention is always scaled by 1/sqrt(head size)');
  if (hf.add_cross_attention === true) throw new UnsupportedConfigError('add_cross_attention', true, 'cross-attention is not supported');
  const C = intField(hf, ['n_embd', 'hidden_size']);
  const H = intField(hf, ['n_head', 'num_attention_heads']);
  if (C % H !== 0) throw new UnsupportedConfigError('n_head', H, `must divide n_embd = ${C}`);
  if (C / H > 128) throw new UnsupportedConfigError('n_head', H, `head size n_embd / n_head = ${C / H} is over the supported 128`);
  const eps = numberField(hf, 'layer_norm_epsilon', 1e-5);
  if (!(eps >= 0)) throw new UnsupportedConfigError('layer_norm_epsilon', eps, 'must be >= 0');
  const tie = hf.tie_word_embeddings ?? true;
  if (typeof tie !== 'boolean') throw new UnsupportedConfigError('tie_word_embeddings', tie, 'expected true or false');
  const eos = hf.eos_token_id;
  return {
    arch: 'gpt2',
    vocabSize: intField(hf, 'vocab_size'),
    hiddenSize: C,
    numLayers: intField(hf, ['n_layer', 'num_hidden_layers']),
    numHeads: H,
    numKvHeads: H,
    headDim: C / H,
    intermediateSize: intField(hf, 'n_inner', 4 * C),
    maxPositions: intField(hf, ['n_positions', 'max_position_embeddings']),
    norm: 'layer',
    normEps: eps,
    mlp: 'gelu',
    positions: 'learned',
    ropeTheta: 10000,
    attentionBias: true,
    tieWordEmbeddings: tie,
    scaleAttnByLayer: hf.scale_attn_by_inverse_layer_idx === true,
    bosTokenId: typeof hf.bos_token_id === 'number' ? hf.bos_token_id : undefined,
    eosTokenId: typeof eos === 'number' || Array.isArray(eos) ? (eos as number | number[]) : undefined,
    hf,
  };
}

export function gpt2Names(cfg: ModelConfig): ModelNames {
  const lin = (n: string) => ({ weight: `${n}.weight`, bias: `${n}.bias` });
  const layers: LayerNames[] = Array.from({ length: cfg.numLayers }, (_, i) => {
    const p = `transformer.h.${i}`;
    return {
      norm1: lin(`${p}.ln_1`),
      qkv: { fused: lin(`${p}.attn.c_attn`) },
      o: lin(`${p}.attn.c_proj`),
      norm2: lin(`${p}.ln_2`),
      mlp: { fc: lin(`${p}.mlp.c_fc`), proj: lin(`${p}.mlp.c_proj`) },
    };
  });
  return {
    embed: 'transformer.wte.weight',
    positions: 'transformer.wpe.weight',
    layers,
    finalNorm: lin('transformer.ln_f'),
    lmHead: cfg.tieWordEmbeddings ? 'transformer.wte.weight' : 'lm_head.weight',
  };
}

/** HF names and Conv1D (in, out) shapes; GPT-2 init (c_proj weights scaled by 1/sqrt(2L)). */
export function gpt2Parameters(cfg: ModelConfig): ParamSpec[] {
  const { vocabSize: V, hiddenSize: C, intermediateSize: F, numLayers: L, maxPositions: P } = cfg;
  const w = (name: string, shape: number[], std = INIT_STD): ParamSpec => ({ name, shape, decay: true, init: { kind: 'normal', std } });
  const ones = (name: string, n: number): ParamSpec => ({ name, shape: [n], decay: false, init: { kind: 'ones' } });
  const zeros = (name: string, n: number): ParamSpec => ({ name, shape: [n], decay: false, init: { kind: 'zeros' } });
  const resid = INIT_STD / Math.sqrt(2 * L);
  const specs: ParamSpec[] = [w('transformer.wte.weight', [V, C]), w('transformer.wpe.weight', [P, C])];
  for (let i = 0; i < L; i++) {
    const p = `transformer.h.${i}`;
    specs.push(ones(`${p}.ln_1.weight`, C), zeros(`${p}.ln_1.bias`, C));
    specs.push(w(`${p}.attn.c_attn.weight`, [C, 3 * C]), zeros(`${p}.attn.c_attn.bias`, 3 * C));
    specs.push(w(`${p}.attn.c_proj.weight`, [C, C], resid), zeros(`${p}.attn.c_proj.bias`, C));
    specs.push(ones(`${p}.ln_2.weight`, C), zeros(`${p}.ln_2.bias`, C));
    specs.push(w(`${p}.mlp.c_fc.weight`, [C, F]), zeros(`${p}.mlp.c_fc.bias`, F));
    specs.push(w(`${p}.mlp.c_proj.weight`, [F, C], resid), zeros(`${p}.mlp.c_proj.bias`, C));
  }
  specs.push(ones('transformer.ln_f.weight', C), zeros('transformer.ln_f.bias', C));
  if (!cfg.tieWordEmbeddings) specs.push(w('lm_head.weight', [V, C]));
  return specs;
}

function spec(cfg: ModelConfig): DecoderSpec {
  return { names: gpt2Names(cfg), layout: 'conv1d' };
}

export const gpt2: Architecture = {
  name: 'gpt2',
  modelTypes: ['gpt2'],
  parseConfig: parseGpt2Config,
  parameters: gpt2Parameters,
  activationShapes: (cfg, B, T, opts) => decoderPlan(cfg, spec(cfg), B, T, opts),
  build: (rt, cfg, store, inputs, opts) => buildDecoder(rt, cfg, spec(cfg), store, inputs, opts),
  lmHeadWeight: (cfg) => gpt2Names(cfg).lmHead,
};
