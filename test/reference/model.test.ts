import { describe, it, expect } from 'vitest';
import { referenceLogits, referenceLossAndGrads, referenceParameterShapes, type HFConfig, type RefBatch } from './model/index.ts';
import { llamaDims } from './model/llama.ts';
import { Tape } from './model/tape.ts';

// Tiny configs: 2 layers, C 32, V 64; llama has grouped-query heads and an explicit head_dim
// that differs from C/Hq, so a mix-up of the two shows.
const LLAMA: HFConfig = {
  model_type: 'llama', vocab_size: 64, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 12, rms_norm_eps: 1e-5, rope_theta: 10000,
  max_position_embeddings: 64, tie_word_embeddings: false,
};
const QWEN2: HFConfig = {
  model_type: 'qwen2', vocab_size: 64, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 1000000,
  max_position_embeddings: 64, tie_word_embeddings: true,
};
const GPT2: HFConfig = { model_type: 'gpt2', vocab_size: 64, n_embd: 32, n_layer: 2, n_head: 4, n_positions: 32 };
const ARCHS: [string, HFConfig][] = [['llama', LLAMA], ['qwen2', QWEN2], ['gpt2', GPT2]];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded weights: norm gains near 1, biases small, matrices ~ U(±1/√fan_in)·2 so every layer matters. */
function randomWeights(config: HFConfig, seed = 1): Map<string, Float64Array> {
  const r = rng(seed);
  const w = new Map<string, Float64Array>();
  for (const [name, shape] of referenceParameterShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const norm = /norm|ln_/.test(name);
    const scale = shape.length === 1 ? 0.2 : name.includes('wte') || name.includes('embed') || name.includes('wpe') ? 1 : 2 / Math.sqrt(shape[1]);
    w.set(name, Float64Array.from({ length: n }, () => (norm && name.endsWith('weight') ? 1 : 0) + scale * (2 * r() - 1)));
  }
  return w;
}

/**
 * Two rows of T = 12. Row 0 packs segment 1 (5 tokens), segment 2 (4) and 3 padding tokens;
 * row 1 is one sequence. Targets are the next token within a segment, -100 elsewhere and on the
 * first two "prompt" tokens of row 1.
 */
function packedBatch(V = 64, seed = 7): RefBatch {
  const B = 2, T = 12, r = rng(seed);
  const segmentIds = Int32Array.from([1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, ...Array(12).fill(1)]);
  const ids = Int32Array.from(segmentIds, (s) => (s === 0 ? 0 : Math.floor(r() * V)));
  const positions = new Int32Array(B * T);
  const targets = new Int32Array(B * T).fill(-100);
  for (let i = 0; i < B * T; i++) {
    const start = i % T === 0 || segmentIds[i - 1] !== segmentIds[i];
    positions[i] = start ? 0 : positions[i - 1] + 1;
    const last = (i + 1) % T === 0 || segmentIds[i + 1] !== segmentIds[i];
    if (segmentIds[i] !== 0 && !last) targets[i] = ids[i + 1];
  }
  targets[T] = targets[T + 1] = -100;
  return { ids, targets, positions, segmentIds, B, T };
}

const loss = (c: HFConfig, w: Map<string, Float64Array>, b: RefBatch) => referenceLossAndGrads(c, w, b).loss;
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/**
 * Worst relative error of the reference gradient against finite differences, on the largest
 * entry of each parameter tensor and `samples - 1` seeded random ones. Five-point stencil
 * (error O(h⁴) ≈ 1e-12 at h = 1e-3, rounding ≈ 1e-16·|loss|/h ≈ 1e-12), so 1e-6 is a real check.
 */
function gradError(config: HFConfig, weights: Map<string, Float64Array>, batch: RefBatch, samples = 3): { worst: number; where: string } {
  const { grads } = referenceLossAndGrads(config, weights, batch);
  const r = rng(3);
  let worst = 0, where = '';
  const h = 1e-3;
  for (const [name, x] of weights) {
    const g = grads.get(name)!;
    expect(g.length, name).toBe(x.length);
    let top = 0;
    for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[top])) top = i;
    expect(Math.abs(g[top]), `gradient of ${name} is all zero`).toBeGreaterThan(1e-6);
    const idx = [top, ...Array.from({ length: samples - 1 }, () => Math.floor(r() * x.length))];
    for (const i of idx) {
      const keep = x[i];
      const at = (d: number) => ((x[i] = keep + d), loss(config, weights, batch));
      const num = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
      x[i] = keep;
      const err = Math.abs(num - g[i]) / Math.max(Math.abs(num), Math.abs(g[i]), 1e-6);
      if (err > worst) (worst = err), (where = `${name}[${i}] numeric ${num} analytic ${g[i]}`);
    }
  }
  return { worst, where };
}

describe('reference model', () => {
  for (const [name, config] of ARCHS) {
    it(`${name}: every parameter gradient matches finite differences`, () => {
      const { worst, where } = gradError(config, randomWeights(config), packedBatch());
      expect(worst, where).toBeLessThan(1e-6);
    });

    it(`${name}: loss is ln V when the head outputs zeros, and finite otherwise`, () => {
      const w = randomWeights(config);
      const batch = packedBatch();
      const random = referenceLossAndGrads(config, w, batch);
      expect(random.logits.length).toBe(24 * 64);
      expect(Number.isFinite(random.loss) && Math.abs(random.loss - Math.log(64)) > 0.05).toBe(true);
      // Zeroing the final norm's gain (and bias) makes every logit 0, tied or not.
      for (const n of ['model.norm.weight', 'transformer.ln_f.weight', 'transformer.ln_f.bias']) w.get(n)?.fill(0);
      const zero = referenceLossAndGrads(config, w, batch);
      expect(Math.abs(zero.loss - Math.log(64))).toBeLessThan(1e-12);
      expect(maxAbsDiff(zero.logits, new Float64Array(zero.logits.length))).toBe(0);
    });

    it(`${name}: packed segments do not see each other, and a segment equals the same sequence alone`, () => {
      const w = randomWeights(config);
      const batch = packedBatch();
      const base = referenceLogits(config, w, batch);
      const V = 64;
      const changed = { ...batch, ids: batch.ids.slice() };
      changed.ids[2] = (changed.ids[2] + 1) % V; // a token of segment 1, row 0
      const after = referenceLogits(config, w, changed);
      const rows = (l: Float64Array, a: number, b: number) => l.subarray(a * V, b * V);
      expect(maxAbsDiff(rows(after, 5, 12), rows(base, 5, 12))).toBe(0); // segment 2 and padding
      expect(maxAbsDiff(rows(after, 12, 24), rows(base, 12, 24))).toBe(0); // row 1
      expect(maxAbsDiff(rows(after, 0, 2), rows(base, 0, 2))).toBe(0); // causal: earlier tokens
      expect(maxAbsDiff(rows(after, 2, 5), rows(base, 2, 5))).toBeGreaterThan(1e-3);
      // Segment 2 (tokens 5..8, positions 0..3) run alone as a batch of one row of 4 tokens.
      const alone = referenceLogits(config, w, {
        ids: batch.ids.slice(5, 9), positions: Int32Array.of(0, 1, 2, 3), segmentIds: Int32Array.of(1, 1, 1, 1), B: 1, T: 4,
      });
      expect(maxAbsDiff(alone, rows(base, 5, 9))).toBeLessThan(1e-12);
    });

    it(`${name}: untied lm_head equal to the embedding gives the tied model's loss and summed gradient`, () => {
      const tiedCfg = { ...config, tie_word_embeddings: true };
      const untiedCfg = { ...config, tie_word_embeddings: false };
      const emb = name === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
      const tiedW = randomWeights(tiedCfg);
      expect(referenceParameterShapes(tiedCfg).has('lm_head.weight')).toBe(false);
      expect(referenceParameterShapes(untiedCfg).get('lm_head.weight')).toEqual([64, 32]);
      const untiedW = new Map(tiedW).set('lm_head.weight', tiedW.get(emb)!.slice());
      const batch = packedBatch();
      const tied = referenceLossAndGrads(tiedCfg, tiedW, batch);
      const untied = referenceLossAndGrads(untiedCfg, untiedW, batch);
      expect(Math.abs(tied.loss - untied.loss)).toBeLessThan(1e-12);
      const sum = untied.grads.get(emb)!.map((g, i) => g + untied.grads.get('lm_head.weight')![i]);
      expect(maxAbsDiff(tied.grads.get(emb)!, sum)).toBeLessThan(1e-12);
      expect(() => referenceLossAndGrads(tiedCfg, untiedW, batch)).toThrow(/unexpected weights lm_head.weight/);
    });
  }

  it('parameter names and shapes are Hugging Face’s for 2-layer models', () => {
    const layer = (i: number, names: string[]) => names.map((n) => n.replace('{i}', String(i)));
    const llamaLayer = ['input_layernorm.weight', 'self_attn.q_proj.weight', 'self_attn.k_proj.weight', 'self_attn.v_proj.weight',
      'self_attn.o_proj.weight', 'post_attention_layernorm.weight', 'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'mlp.down_proj.weight'];
    const llama = (extra: string[]) => [0, 1].flatMap((i) => [...llamaLayer, ...extra].map((n) => `model.layers.${i}.${n}`));
    const sorted = (c: HFConfig) => [...referenceParameterShapes(c).keys()].sort();
    expect(sorted(LLAMA)).toEqual(['model.embed_tokens.weight', ...llama([]), 'model.norm.weight', 'lm_head.weight'].sort());
    expect(sorted({ ...LLAMA, attention_bias: true })).toEqual(
      ['model.embed_tokens.weight', ...llama(['self_attn.q_proj.bias', 'self_attn.k_proj.bias', 'self_attn.v_proj.bias', 'self_attn.o_proj.bias']), 'model.norm.weight', 'lm_head.weight'].sort(),
    );
    expect(sorted(QWEN2)).toEqual(['model.embed_tokens.weight', ...llama(['self_attn.q_proj.bias', 'self_attn.k_proj.bias', 'self_attn.v_proj.bias']), 'model.norm.weight'].sort());
    const gpt2Layer = ['ln_1.weight', 'ln_1.bias', 'attn.c_attn.weight', 'attn.c_attn.bias', 'attn.c_proj.weight', 'attn.c_proj.bias',
      'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias'];
    expect(sorted(GPT2)).toEqual(['transformer.wte.weight', 'transformer.wpe.weight', ...[0, 1].flatMap((i) => layer(i, gpt2Layer.map((n) => `transformer.h.{i}.${n}`))),
      'transformer.ln_f.weight', 'transformer.ln_f.bias'].sort());
    const l = referenceParameterShapes(LLAMA), q = referenceParameterShapes(QWEN2), g = referenceParameterShapes(GPT2);
    expect([l.get('model.layers.1.self_attn.q_proj.weight'), l.get('model.layers.1.self_attn.k_proj.weight'), l.get('model.layers.1.self_attn.o_proj.weight'), l.get('model.layers.0.mlp.down_proj.weight')])
      .toEqual([[48, 32], [24, 32], [32, 48], [32, 48]]);
    expect(q.get('model.layers.0.self_attn.k_proj.bias')).toEqual([16]);
    expect([g.get('transformer.h.0.attn.c_attn.weight'), g.get('transformer.h.0.mlp.c_fc.weight'), g.get('transformer.h.0.mlp.c_proj.weight'), g.get('transformer.wpe.weight')])
      .toEqual([[32, 96], [32, 128], [128, 32], [32, 32]]);
  });

  it('grouped-query attention equals full attention with each key/value head repeated (repeat_kv)', () => {
    const mha = { ...LLAMA, num_key_value_heads: 4 };
    const w = randomWeights(LLAMA);
    const wm = new Map(w);
    for (let i = 0; i < 2; i++)
      for (const p of ['k_proj', 'v_proj']) {
        const n = `model.layers.${i}.self_attn.${p}.weight`, src = w.get(n)!, rowLen = 32 * 12;
        const dst = new Float64Array(4 * rowLen); // kv head j serves query heads 2j, 2j+1
        for (let h = 0; h < 4; h++) dst.set(src.subarray((h >> 1) * rowLen, ((h >> 1) + 1) * rowLen), h * rowLen);
        wm.set(n, dst);
      }
    const batch = packedBatch();
    expect(maxAbsDiff(referenceLogits(LLAMA, w, batch), referenceLogits(mha, wm, batch))).toBeLessThan(1e-12);
  });

  it('qwen2 with zero q/k/v biases is llama; RoPE is relative, GPT-2 positions are absolute', () => {
    const untiedQwen = { ...QWEN2, tie_word_embeddings: false };
    const w = randomWeights(untiedQwen);
    const batch = packedBatch();
    const noBias = new Map([...w].map(([n, v]) => [n, n.endsWith('.bias') ? new Float64Array(v.length) : v] as [string, Float64Array]));
    const asLlama = new Map([...w].filter(([n]) => !n.endsWith('.bias')));
    const llamaCfg = { ...untiedQwen, model_type: 'llama' };
    expect(maxAbsDiff(referenceLogits(untiedQwen, noBias, batch), referenceLogits(llamaCfg, asLlama, batch))).toBeLessThan(1e-12);
    expect(maxAbsDiff(referenceLogits(untiedQwen, w, batch), referenceLogits(llamaCfg, asLlama, batch))).toBeGreaterThan(1e-3);
    const shifted = { ...batch, positions: batch.positions.map((p) => p + 5) };
    expect(maxAbsDiff(referenceLogits(LLAMA, randomWeights(LLAMA), batch), referenceLogits(LLAMA, randomWeights(LLAMA), shifted))).toBeLessThan(1e-10);
    expect(maxAbsDiff(referenceLogits(GPT2, randomWeights(GPT2), batch), referenceLogits(GPT2, randomWeights(GPT2), shifted))).toBeGreaterThan(1e-3);
  });

  it('one token through one block equals the block written out by hand (weight layouts, v split, GQA)', () => {
    // With a single token, attention returns v (of kv head floor(h / rep)) whatever q and k are.
    const lin = (x: Float64Array, w: Float64Array, b: Float64Array | undefined, I: number, O: number, conv: boolean) =>
      Float64Array.from({ length: O }, (_, o) => x.reduce((s, xi, i) => s + xi * w[conv ? i * O + o : o * I + i], b ? b[o] : 0));
    const add = (a: Float64Array, b: Float64Array) => a.map((v, i) => v + b[i]);
    const rms = (x: Float64Array, g: Float64Array, eps: number) => x.map((v, i) => (g[i] * v) / Math.sqrt(x.reduce((s, u) => s + u * u, 0) / x.length + eps));
    const ln = (x: Float64Array, g: Float64Array, b: Float64Array) => {
      const m = x.reduce((s, u) => s + u, 0) / x.length, va = x.reduce((s, u) => s + (u - m) ** 2, 0) / x.length;
      return x.map((v, i) => (g[i] * (v - m)) / Math.sqrt(va + 1e-5) + b[i]);
    };
    const gelu = (x: Float64Array) => x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
    const silu = (x: Float64Array) => x.map((v) => v / (1 + Math.exp(-v)));
    const one = (id: number, pos: number) => ({ ids: Int32Array.of(id), positions: Int32Array.of(pos), segmentIds: Int32Array.of(1), B: 1, T: 1 });
    const C = 32, V = 64;

    const gcfg = { ...GPT2, n_layer: 1 }, g = randomWeights(gcfg, 5), G = (n: string) => g.get('transformer.' + n)!;
    let x = add(G('wte.weight').slice(9 * C, 10 * C), G('wpe.weight').slice(3 * C, 4 * C));
    const qkv = lin(ln(x, G('h.0.ln_1.weight'), G('h.0.ln_1.bias')), G('h.0.attn.c_attn.weight'), G('h.0.attn.c_attn.bias'), C, 3 * C, true);
    x = add(x, lin(qkv.slice(2 * C), G('h.0.attn.c_proj.weight'), G('h.0.attn.c_proj.bias'), C, C, true));
    const hid = gelu(lin(ln(x, G('h.0.ln_2.weight'), G('h.0.ln_2.bias')), G('h.0.mlp.c_fc.weight'), G('h.0.mlp.c_fc.bias'), C, 4 * C, true));
    x = ln(add(x, lin(hid, G('h.0.mlp.c_proj.weight'), G('h.0.mlp.c_proj.bias'), 4 * C, C, true)), G('ln_f.weight'), G('ln_f.bias'));
    expect(maxAbsDiff(referenceLogits(gcfg, g, one(9, 3)), lin(x, G('wte.weight'), undefined, C, V, false))).toBeLessThan(1e-12);

    const lcfg = { ...LLAMA, num_hidden_layers: 1, attention_bias: true }, l = randomWeights(lcfg, 6), L = (n: string) => l.get(n)!;
    const P = (n: string) => L('model.layers.0.' + n), eps = 1e-5, D = 12;
    let y = L('model.embed_tokens.weight').slice(9 * C, 10 * C);
    const v = lin(rms(y, P('input_layernorm.weight'), eps), P('self_attn.v_proj.weight'), P('self_attn.v_proj.bias'), C, 2 * D, false);
    const heads = Float64Array.from({ length: 4 * D }, (_, i) => v[Math.floor(i / D / 2) * D + (i % D)]); // query head h reads kv head h >> 1
    y = add(y, lin(heads, P('self_attn.o_proj.weight'), P('self_attn.o_proj.bias'), 4 * D, C, false));
    const n2 = rms(y, P('post_attention_layernorm.weight'), eps);
    const inner = silu(lin(n2, P('mlp.gate_proj.weight'), undefined, C, 48, false)).map((a, i) => a * lin(n2, P('mlp.up_proj.weight'), undefined, C, 48, false)[i]);
    y = rms(add(y, lin(inner, P('mlp.down_proj.weight'), undefined, 48, C, false)), L('model.norm.weight'), eps);
    expect(maxAbsDiff(referenceLogits(lcfg, l, one(9, 5)), lin(y, L('lm_head.weight'), undefined, C, V, false))).toBeLessThan(1e-12);
  });

  it('ops match known values: gelu_new, silu, RMSNorm, LayerNorm, rotate-half RoPE, attention, llama3 rope scaling', () => {
    const t = new Tape();
    const v = (a: number[], shape = [1, a.length]) => t.leaf(Float64Array.from(a), shape);
    expect(t.geluNew(v([1, -1, 0])).data[0]).toBeCloseTo(0.8411919906082768, 14); // tanh-approximate GELU at 1
    expect(t.silu(v([1])).data[0]).toBeCloseTo(1 / (1 + Math.exp(-1)), 15);
    const x = [1, 2, 3, 4];
    expect(maxAbsDiff(t.rmsnorm(v(x), v([1, 1, 1, 2], [4]), 0).data, [1, 2, 3, 8].map((a) => a / Math.sqrt(7.5)))).toBeLessThan(1e-15);
    expect(maxAbsDiff(t.layernorm(v(x), v([1, 1, 1, 1], [4]), v([0, 0, 0, 1], [4]), 0).data, [-1.5, -0.5, 0.5, 1.5].map((a, i) => a / Math.sqrt(1.25) + (i === 3 ? 1 : 0)))).toBeLessThan(1e-15);
    // One head, D = 4: pairs (0, 2) and (1, 3) turn by pos·θ^0 and pos·θ^(-1/2).
    const r = t.rope(v([1, 0, 0, 1], [1, 4]), 1, 4, [2], Float64Array.of(1, 0.01)).data;
    expect(maxAbsDiff(r, [Math.cos(2), -Math.sin(0.02), Math.sin(2), Math.cos(0.02)])).toBeLessThan(1e-15);
    // Two tokens, one head, D = 2: token 1 attends to both with softmax(q1·k / √2).
    const att = t.attention(v([1, 0, 2, 1], [2, 2]), v([1, 0, 0, 1], [2, 2]), v([1, 2, 3, 5], [2, 2]), { B: 1, T: 2, Hq: 1, Hkv: 1, D: 2 }, [1, 1], 1 / Math.sqrt(2)).data;
    const p0 = Math.exp(2 / Math.SQRT2) / (Math.exp(2 / Math.SQRT2) + Math.exp(1 / Math.SQRT2));
    expect(maxAbsDiff(att, [1, 2, p0 * 1 + (1 - p0) * 3, p0 * 2 + (1 - p0) * 5])).toBeLessThan(1e-15);
    const scaled = llamaDims({ ...LLAMA, head_dim: 64, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }).invFreq;
    const plain = llamaDims({ ...LLAMA, head_dim: 64, rope_theta: 500000 }).invFreq;
    expect(scaled[0]).toBe(plain[0]); // wavelength 2π < 8192/4: kept
    expect(scaled[31]).toBeCloseTo(plain[31] / 32, 20); // wavelength > 8192: divided by factor
    expect(() => llamaDims({ ...LLAMA, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/rope_scaling/);
  });

  it('rejects bad inputs with a message naming them', () => {
    const w = randomWeights(GPT2);
    const batch = packedBatch();
    expect(() => referenceLogits({ model_type: 'bert' }, w, batch)).toThrow(/model_type "bert"/);
    const missing = new Map(w);
    missing.delete('transformer.h.1.ln_2.bias');
    expect(() => referenceLogits(GPT2, missing, batch)).toThrow(/missing weight transformer.h.1.ln_2.bias/);
    expect(() => referenceLogits(GPT2, new Map(w).set('transformer.wpe.weight', new Float64Array(5)), batch)).toThrow(/weight transformer.wpe.weight has 5 values, expected \[32,32\]/);
    expect(() => referenceLogits(GPT2, w, { ...batch, ids: batch.ids.slice(1) })).toThrow(/batch.ids has 23 entries/);
    expect(() => referenceLogits(GPT2, w, { ...batch, positions: batch.positions.map(() => 40) })).toThrow(/index 40 .* outside \[0, 32\)/);
    expect(() => referenceLossAndGrads(GPT2, w, { ...batch, targets: batch.targets.map(() => 64) })).toThrow(/target 64/);
    expect(() => referenceParameterShapes({ ...GPT2, activation_function: 'relu' })).toThrow(/activation_function/);
  });
});
