import { describe, it, expect, afterAll } from 'vitest';
import { generateText, type GenerateOptions } from '../../src/generate/generate.ts';
import { GpuCausalLM } from '../../src/generate/gpu-model.ts';
import type { CausalLM } from '../../src/generate/types.ts';
import type { Runtime } from '../../src/gpu/runtime.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import type { BatchInputs } from '../../src/models/architecture.ts';
import type { HFConfig, ModelConfig } from '../../src/models/config.ts';
import { tinyConfig } from '../../src/models/init.ts';
import { ParamLayout, ParamStore } from '../../src/models/params.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { embeddingBackwardIndex, embeddingIndexShape } from '../../src/ops/embedding.ts';
import { randomWeights } from '../models/harness.ts';
import { expectClose, expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';

/**
 * Decoding by full recompute: every call runs the training graph's forward over the whole sequence
 * so far (one graph of T = maxLength, the tail marked as padding segment 0, which causal attention
 * keeps away from the real tokens) and takes the logits of the last real row on the CPU.
 */
class RecomputeLM implements CausalLM {
  readonly vocabSize: number;
  private tokens: number[] = [];
  private readonly run: () => Promise<Float32Array>;
  private readonly inputs: BatchInputs & Record<string, Tensor>;
  readonly free: () => void;

  constructor(private readonly rt: Runtime, hf: HFConfig, weights: Map<string, Float32Array>, readonly maxLength: number) {
    const { arch, config: cfg } = parseConfig(hf);
    this.vocabSize = cfg.vocabSize;
    const store = new ParamStore(rt, new ParamLayout(arch.parameters(cfg)));
    store.load(weights);
    const T = maxLength;
    const zeros = new Int32Array(T);
    const positions = Int32Array.from({ length: T }, (_, i) => i);
    this.inputs = {
      ids: rt.tensor([1, T], 'i32', 'ids'),
      targets: rt.upload(new Int32Array(T).fill(-100), [1, T], 'i32', 'targets'),
      positions: rt.upload(positions, [1, T], 'i32', 'positions'),
      segmentIds: rt.tensor([1, T], 'i32', 'segmentIds'),
      embeddingIndex: rt.upload(embeddingBackwardIndex(zeros, cfg.vocabSize), embeddingIndexShape(T), 'i32', 'embeddingIndex'),
      positionIndex: rt.upload(embeddingBackwardIndex(positions, cfg.maxPositions), embeddingIndexShape(T), 'i32', 'positionIndex'),
    };
    const graph = arch.build(rt, cfg, store, this.inputs);
    const head = weights.get(arch.lmHeadWeight(cfg))!; // (V, C)
    const C = cfg.hiddenSize;
    this.run = async () => {
      const n = this.tokens.length;
      const ids = new Int32Array(T);
      ids.set(this.tokens);
      rt.write(this.inputs.ids, ids);
      rt.write(this.inputs.segmentIds, Int32Array.from({ length: T }, (_, i) => (i < n ? 1 : 0)));
      rt.run(graph.forward);
      const h = (await rt.read(graph.hidden)) as Float32Array; // (1, T, C)
      const logits = new Float32Array(cfg.vocabSize);
      for (let vi = 0; vi < cfg.vocabSize; vi++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += h[(n - 1) * C + c] * head[vi * C + c];
        logits[vi] = s;
      }
      return logits;
    };
    this.free = () => {
      graph.destroy();
      rt.free(...Object.values(this.inputs));
      store.destroy();
    };
  }

  get length(): number {
    return this.tokens.length;
  }

  reset(): void {
    this.tokens = [];
  }

  async prefill(ids: Int32Array): Promise<Float32Array> {
    this.tokens.push(...ids);
    return this.run();
  }

  async decode(id: number): Promise<Float32Array> {
    this.tokens.push(id);
    return this.run();
  }
}

/** Wraps a model to keep a copy of every logits vector it returns. */
function recording(m: CausalLM): { model: CausalLM; logits: Float32Array[] } {
  const logits: Float32Array[] = [];
  const keep = async (p: Promise<Float32Array>) => { const l = await p; logits.push(l.slice()); return l; };
  const model: CausalLM = {
    get vocabSize() { return m.vocabSize; },
    get maxLength() { return m.maxLength; },
    get length() { return m.length; },
    reset: () => m.reset(),
    prefill: (ids) => keep(m.prefill(ids)),
    decode: (id) => keep(m.decode(id)),
  };
  return { model, logits };
}

const MAX = 40;
const rates: string[] = [];
afterAll(() => console.log(`decode with the KV cache on this adapter:\n  ${rates.join('\n  ')}`));

async function compare(name: string, hf: HFConfig): Promise<void> {
  const rt = await getRuntime();
  const { arch, config: cfg } = parseConfig(hf);
  const weights = randomWeights(arch.parameters(cfg), 7);
  const store = new ParamStore(rt, new ParamLayout(arch.parameters(cfg)));
  store.load(weights);
  // Prefill chunks of 4: an 11-token prompt takes two full chunks and a padded one.
  const gpu = new GpuCausalLM(rt, cfg as ModelConfig, store, { maxLength: MAX, prefillChunk: 4 });
  const full = new RecomputeLM(rt, hf, weights, MAX);
  const prompt = Array.from({ length: 11 }, (_, i) => (i * 37 + 5) % cfg.vocabSize);
  const runs: [string, number[], GenerateOptions][] = [
    ['greedy', prompt, { maxNewTokens: 20, eos: [], sampling: { temperature: 0 } }],
    // A sampled run after a reset, with a prompt that fits in one chunk.
    ['sampled', prompt.slice(0, 3), { maxNewTokens: 12, eos: [], seed: 3, sampling: { temperature: 0.8, topK: 20, repetitionPenalty: 1.1 } }],
  ];
  for (const [what, ids, opts] of runs) {
    const a = recording(gpu);
    const b = recording(full);
    const got = await generateText(a.model, ids, opts);
    const want = await generateText(b.model, ids, opts);
    expect(got.tokens, `${name} ${what}: tokens`).toEqual(want.tokens);
    expect(got.tokens).toHaveLength(opts.maxNewTokens!);
    expect(a.logits).toHaveLength(b.logits.length);
    // Logits of a few units from f32 GPU math in different kernels and orders (flash attention
    // over the whole sequence vs. the cache kernel; GPU LM head vs. f64 CPU): agree to ~1e-5.
    a.logits.forEach((l, i) => expectClose(l, b.logits[i], { atol: 2e-4, rtol: 1e-4 }, `${name} ${what}: logits of step ${i}`));
    if (what === 'greedy') rates.push(`${name} (C ${cfg.hiddenSize}, L ${cfg.numLayers}, V ${cfg.vocabSize}): ${got.tokensPerSecond.toFixed(0)} tokens/s, prefill of 11 tokens ${got.prefillMs.toFixed(1)} ms`);
  }
  await expect(gpu.decode(cfg.vocabSize)).rejects.toThrow(/token \d+ is outside the vocabulary/);
  gpu.reset();
  await gpu.prefill(Int32Array.from({ length: MAX }, (_, i) => i % cfg.vocabSize));
  await expect(gpu.decode(1)).rejects.toThrow(/40 cached \+ 1 new tokens exceed maxLength 40/);
  gpu.destroy();
  full.free();
  store.destroy();
  await expectNoGpuErrors(rt);
}

describe('GPU CausalLM: decoding with the KV cache equals decoding by full recompute, token for token', () => {
  const base = { vocab: 96, hidden: 32, layers: 2, heads: 4, maxPositions: 64 };
  it('llama (GQA, RoPE, SwiGLU, tied head)', async () => compare('llama', tinyConfig('llama', { ...base, kvHeads: 2 })));
  it('qwen2 (q/k/v biases, untied head)', async () => compare('qwen2', tinyConfig('qwen2', { ...base, kvHeads: 1, tie: false })));
  it('gpt2 (learned positions, LayerNorm, fused c_attn, Conv1D)', async () => compare('gpt2', tinyConfig('gpt2', base)));
  it('gpt2 with scale_attn_by_inverse_layer_idx', async () => compare('gpt2', tinyConfig('gpt2', { ...base, scale_attn_by_inverse_layer_idx: true })));
});

describe('GPU CausalLM: a binding sliding window', () => {
  it('holds at most the window (the default) and names it when asked for more', async () => {
    const rt = await getRuntime();
    const hf = tinyConfig('qwen2', { vocab: 96, hidden: 32, layers: 2, heads: 4, kvHeads: 1, maxPositions: 64, use_sliding_window: true, sliding_window: 48, max_window_layers: 1 });
    const { arch, config: cfg } = parseConfig(hf);
    const store = new ParamStore(rt, new ParamLayout(arch.parameters(cfg)));
    const gpu = new GpuCausalLM(rt, cfg, store);
    expect(gpu.maxLength).toBe(48);
    gpu.destroy();
    expect(() => new GpuCausalLM(rt, cfg, store, { maxLength: 49 })).toThrow(/maxLength 49 must be an integer in 2 \.\. 48: the model takes 48 positions \(layers 1 and on attend to the last 48 keys only/);
    store.destroy();
    await expectNoGpuErrors(rt);
  });
});
