import { describe, expect, it } from 'vitest';
import { attentionScale, describePositions, UnsupportedConfigError, usablePositions, type HFConfig } from '../../src/models/config.ts';
import { initialize, tinyConfig } from '../../src/models/init.ts';
import { ropeScalingInvFreq } from '../../src/models/llama/config.ts';
import { architectures, parseConfig } from '../../src/models/registry.ts';
import { referenceParameterShapes } from '../reference/model/index.ts';

function rejects(hf: HFConfig, field: string, value: unknown): void {
  let err: unknown;
  try {
    parseConfig(hf);
  } catch (e) {
    err = e;
  }
  expect(err, `${field} = ${JSON.stringify(value)} should be rejected`).toBeInstanceOf(UnsupportedConfigError);
  const e = err as UnsupportedConfigError;
  expect(e.field).toBe(field);
  expect(e.message).toContain(field);
  expect(e.message).toContain(JSON.stringify(value));
}

describe('config.json parsing', () => {
  it('registry: one architecture per model_type, unknown types name what is supported', () => {
    expect(architectures().map((a) => a.name)).toEqual(['llama', 'qwen2', 'gpt2']);
    expect(() => parseConfig({ model_type: 'mamba' })).toThrow(/model_type = "mamba" is not supported: supported model types are llama, qwen2, gpt2/);
  });

  it('normalises tiny presets and real-model fields (defaults as transformers)', () => {
    const l = parseConfig(tinyConfig('llama')).config;
    expect(l).toMatchObject({ arch: 'llama', vocabSize: 260, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 128, maxPositions: 256, norm: 'rms', mlp: 'swiglu', positions: 'rope', attentionBias: false, tieWordEmbeddings: true });
    const q = parseConfig({ model_type: 'qwen2', vocab_size: 10, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16 }).config;
    expect(q).toMatchObject({ numKvHeads: 2, headDim: 4, maxPositions: 32768, attentionBias: true, tieWordEmbeddings: false, normEps: 1e-6, ropeTheta: 10000 });
    const g = parseConfig({ model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024, n_inner: null, activation_function: 'gelu_new', resid_pdrop: 0.1 }).config;
    expect(g).toMatchObject({ intermediateSize: 3072, headDim: 64, norm: 'layer', normEps: 1e-5, mlp: 'gelu', positions: 'learned', tieWordEmbeddings: true });
  });

  it('bad or unsupported fields are named with their value', () => {
    rejects(tinyConfig('llama', { hidden_act: 'gelu' }), 'hidden_act', 'gelu');
    rejects(tinyConfig('llama', { attention_bias: true }), 'attention_bias', true);
    rejects(tinyConfig('llama', { mlp_bias: true }), 'mlp_bias', true);
    rejects(tinyConfig('llama', { rope_scaling: { rope_type: 'yarn', factor: 4 } }), 'rope_scaling.rope_type', 'yarn');
    rejects(tinyConfig('llama', { rope_scaling: { rope_type: 'llama3', factor: 8 } }), 'rope_scaling.low_freq_factor', undefined);
    rejects(tinyConfig('llama', { num_key_value_heads: 3 }), 'num_key_value_heads', 3);
    rejects(tinyConfig('llama', { hidden_size: 66 }), 'num_attention_heads', 4);
    rejects(tinyConfig('llama', { head_dim: 256 }), 'head_dim', 256);
    rejects(tinyConfig('llama', { vocab_size: 0 }), 'vocab_size', 0);
    rejects(tinyConfig('llama', { intermediate_size: 'big' }), 'intermediate_size', 'big');
    rejects(tinyConfig('qwen2', { use_sliding_window: true, sliding_window: 0, max_window_layers: 0 }), 'sliding_window', 0);
    rejects(tinyConfig('qwen2', { use_sliding_window: true, max_window_layers: -1 }), 'max_window_layers', -1);
    rejects(tinyConfig('gpt2', { activation_function: 'relu' }), 'activation_function', 'relu');
    rejects(tinyConfig('gpt2', { n_head: 5 }), 'n_head', 5);
    rejects(tinyConfig('gpt2', { tie_word_embeddings: 'yes' }), 'tie_word_embeddings', 'yes');
  });

  // transformers windows layers max_window_layers .. to the last sliding_window keys. The kernels
  // have no window: where it never binds the config parses as without it, and where it binds
  // sequences stop at the window, up to which it changes nothing.
  it("qwen2's use_sliding_window: no change where it never binds, sequences up to the window where it does", () => {
    const base = { layers: 2, maxPositions: 256 };
    const off = parseConfig(tinyConfig('qwen2', base)).config;
    for (const raw of [
      { sliding_window: 64, max_window_layers: 2 },    // no layer windowed
      { sliding_window: 256, max_window_layers: 0 },   // the window covers every position
      { sliding_window: null, max_window_layers: 0 },  // no window
    ]) {
      const on = parseConfig(tinyConfig('qwen2', { ...base, use_sliding_window: true, ...raw })).config;
      expect({ ...on, hf: undefined }, JSON.stringify(raw)).toEqual({ ...off, hf: undefined });
    }
    expect(usablePositions(off)).toBe(256);
    const windowed = parseConfig(tinyConfig('qwen2', { ...base, use_sliding_window: true, sliding_window: 255, max_window_layers: 1 })).config;
    expect(windowed.slidingWindow).toEqual({ size: 255, firstLayer: 1 });
    expect({ ...windowed, hf: undefined, slidingWindow: undefined }).toEqual({ ...off, hf: undefined });
    expect(usablePositions(windowed)).toBe(255);
    expect(describePositions(windowed)).toBe('255 positions (layers 1 and on attend to the last 255 keys only, sliding_window, and sliding-window attention is not implemented)');
    // transformers' default max_window_layers (28) leaves this 2-layer model's layers unwindowed.
    expect(() => parseConfig(tinyConfig('qwen2', { ...base, use_sliding_window: true, sliding_window: 16 }))).not.toThrow();
  });

  it("gpt2's scale_attn_by_inverse_layer_idx divides layer l's scores by l + 1 as well", () => {
    const on = parseConfig(tinyConfig('gpt2', { heads: 4, hidden: 64, scale_attn_by_inverse_layer_idx: true })).config;
    expect(on.scaleAttnByLayer).toBe(true);
    expect([0, 1, 2].map((l) => attentionScale(on, l))).toEqual([1 / 4, 1 / 8, 1 / 12]);
    const off = parseConfig(tinyConfig('gpt2', { heads: 4, hidden: 64 })).config;
    expect([0, 1].map((l) => attentionScale(off, l))).toEqual([1 / 4, 1 / 4]);
  });

  it('parameters: Hugging Face names and shapes, decay on matrices only, for every preset', () => {
    for (const arch of ['llama', 'qwen2', 'gpt2'] as const) {
      for (const tie of [true, false]) {
        const hf = tinyConfig(arch, { tie });
        const { arch: a, config } = parseConfig(hf);
        const specs = a.parameters(config);
        expect(new Map(specs.map((s) => [s.name, s.shape]))).toEqual(referenceParameterShapes(hf));
        for (const s of specs) expect(s.decay, s.name).toBe(s.shape.length === 2);
        expect(specs.some((s) => s.name === a.lmHeadWeight(config))).toBe(true);
      }
    }
  });

  it('activation plan lists every buffer build() allocates, with their shapes', () => {
    const { arch, config } = parseConfig(tinyConfig('llama'));
    const plan = arch.activationShapes(config, 2, 8);
    expect(plan['layers.1.q']).toEqual([16, 64]);
    expect(plan['layers.1.k']).toEqual([16, 32]);
    expect(plan['layers.0.lse']).toEqual([2, 4, 8]);
    expect(plan['residual.2']).toEqual([16, 64]);
    expect(plan.ropeTable).toEqual([256, 8, 2]);
    expect(Object.keys(arch.activationShapes(config, 2, 8, { recompute: true })).some((k) => k.startsWith('layers.'))).toBe(false);
  });

  it('llama3 rope scaling: long wavelengths divided by factor, short kept, the band between interpolated', () => {
    const hf = { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } };
    const D = 64, theta = 500000;
    const inv = ropeScalingInvFreq(hf, D, theta);
    const base = ropeScalingInvFreq({}, D, theta);
    expect(inv[0]).toBe(base[0]); // wavelength 2π < 8192/4
    expect(inv[D / 2 - 1]).toBeCloseTo(base[D / 2 - 1] / 8, 20); // wavelength > 8192
    const mid = base.findIndex((x) => 2 * Math.PI / x > 2048 && 2 * Math.PI / x < 8192);
    expect(inv[mid]).toBeGreaterThan(base[mid] / 8);
    expect(inv[mid]).toBeLessThan(base[mid]);
  });
});

describe('from-scratch initialiser', () => {
  it('is seeded, deterministic, and follows the specs (std 0.02, residual 0.02/sqrt(2L), ones, zeros)', () => {
    const { arch, config } = parseConfig(tinyConfig('gpt2', { layers: 4 }));
    const specs = arch.parameters(config);
    const a = initialize(specs, 7), b = initialize(specs, 7), c = initialize(specs, 8);
    expect(a.get('transformer.h.0.attn.c_attn.weight')).toEqual(b.get('transformer.h.0.attn.c_attn.weight'));
    expect(a.get('transformer.h.0.attn.c_attn.weight')).not.toEqual(c.get('transformer.h.0.attn.c_attn.weight'));
    const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(a.get('transformer.wte.weight')!)).toBeCloseTo(0.02, 3);
    expect(std(a.get('transformer.h.1.mlp.c_proj.weight')!)).toBeCloseTo(0.02 / Math.sqrt(8), 3);
    expect(a.get('transformer.h.1.ln_1.weight')!.every((v) => v === 1)).toBe(true);
    expect(a.get('transformer.h.1.ln_1.bias')!.every((v) => v === 0)).toBe(true);
    expect(a.size).toBe(specs.length);
  });
});
