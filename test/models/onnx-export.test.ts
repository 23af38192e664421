// ONNX export: the exported graph, run by onnxruntime-node (the runtime transformers.js uses in
// Node), gives the logits of our GPU forward on the same weights; its KV cache in transformers.js's
// layout continues a prefill exactly; left padding through attention_mask changes nothing for the
// real tokens; external data (chunked) loads the same; unsupported input is refused by name.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { byteLevelTokenizerFiles } from '../../src/data/byte-tokenizer.ts';
import { GpuCausalLM } from '../../src/generate/gpu-model.ts';
import { main as exportCommand } from '../../src/cli/commands/export.ts';
import { exportHuggingFaceToFolder, writeFolder } from '../../src/models/export-node.ts';
import type { HFConfig } from '../../src/models/config.ts';
import { tinyConfig } from '../../src/models/init.ts';
import { exportOnnx } from '../../src/models/onnx/export.ts';
import { ParamLayout, ParamStore } from '../../src/models/params.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { expectClose, expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';
import { randomWeights } from './harness.ts';

let dir: string;
beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'pupil-onnx-'))));
afterAll(async () => rm(dir, { recursive: true, force: true }));

// The shapes of test/generate/gpu-model.test.ts, so the GPU kernels are ones Mesa already knows.
const base = { vocab: 96, hidden: 32, layers: 2, heads: 4, maxPositions: 64 };
const MAX = 40;
const TOKENS = [5, 42, 79, 21, 58, 95];

type Feeds = Record<string, ort.Tensor>;
const i64 = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat(), (x) => BigInt(x)), [rows.length, rows[0].length]);

function emptyPast(cfg: { numLayers: number; numKvHeads: number; headDim: number }, B: number): Feeds {
  const feeds: Feeds = {};
  for (let l = 0; l < cfg.numLayers; l++) {
    for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [B, cfg.numKvHeads, 0, cfg.headDim]);
  }
  return feeds;
}

function presentAsPast(out: ort.InferenceSession.OnnxValueMapType, L: number): Feeds {
  const feeds: Feeds = {};
  for (let l = 0; l < L; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = out[`present.${l}.${kv}`] as ort.Tensor;
  return feeds;
}

/** Row `t` of (1, S, V) logits. */
const row = (logits: ort.Tensor, t: number, V: number) => (logits.data as Float32Array).slice(t * V, (t + 1) * V);

async function parity(hf: HFConfig) {
  const { arch, config: cfg } = parseConfig(hf);
  const weights = randomWeights(arch.parameters(cfg), 11);
  const files = exportOnnx({ config: cfg, weights, tokenizerFiles: byteLevelTokenizerFiles() });
  expect([...files.keys()].sort()).toEqual(['config.json', 'generation_config.json', 'onnx/model.onnx', 'tokenizer.json', 'tokenizer_config.json']);
  const session = await ort.InferenceSession.create(files.get('onnx/model.onnx')!);
  const L = cfg.numLayers;
  const V = cfg.vocabSize;
  expect(session.inputNames).toEqual(['input_ids', 'attention_mask', 'position_ids', ...Array.from({ length: L }, (_, l) => [`past_key_values.${l}.key`, `past_key_values.${l}.value`]).flat()]);
  expect(session.outputNames).toEqual(['logits', ...Array.from({ length: L }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat()]);

  // Our GPU forward, one position at a time through the KV cache (its own test proves that equals
  // the training graph's forward).
  const rt = await getRuntime();
  const store = new ParamStore(rt, new ParamLayout(arch.parameters(cfg)));
  store.load(weights);
  const gpu = new GpuCausalLM(rt, cfg, store, { maxLength: MAX, prefillChunk: 4 });
  const want: Float32Array[] = [(await gpu.prefill(Int32Array.of(TOKENS[0]))).slice()];
  for (const t of TOKENS.slice(1)) want.push((await gpu.decode(t)).slice());
  gpu.destroy();
  store.destroy();
  await expectNoGpuErrors(rt);

  const S = TOKENS.length;
  const pos = (from: number, n: number) => [Array.from({ length: n }, (_, i) => from + i)];
  const full = await session.run({ input_ids: i64([TOKENS]), attention_mask: i64([TOKENS.map(() => 1)]), position_ids: i64(pos(0, S)), ...emptyPast(cfg, 1) });
  expect((full.logits as ort.Tensor).dims).toEqual([1, S, V]);
  expect((full['present.0.key'] as ort.Tensor).dims).toEqual([1, cfg.numKvHeads, S, cfg.headDim]);
  // f32 on both sides, different kernels and summation orders: logits of a few units agreed to
  // 4e-6 at most when measured (llama and gpt2 3.8e-6 on logits up to 12; qwen2 8e-7); the bound
  // leaves ten times that.
  for (let t = 0; t < S; t++) expectClose(row(full.logits as ort.Tensor, t, V), want[t], { atol: 5e-5, rtol: 1e-5 }, `logits at position ${t}`);

  // Prefill 5 then 1 token with the cache = the full run's last position.
  const pre = await session.run({ input_ids: i64([TOKENS.slice(0, 5)]), attention_mask: i64([[1, 1, 1, 1, 1]]), position_ids: i64(pos(0, 5)), ...emptyPast(cfg, 1) });
  const step = await session.run({ input_ids: i64([[TOKENS[5]]]), attention_mask: i64([[1, 1, 1, 1, 1, 1]]), position_ids: i64(pos(5, 1)), ...presentAsPast(pre, L) });
  expect((step.logits as ort.Tensor).dims).toEqual([1, 1, V]);
  expectClose(row(step.logits as ort.Tensor, 0, V), row(full.logits as ort.Tensor, 5, V), { atol: 1e-5, rtol: 1e-5 }, 'cached step vs full run');
  expect((step['present.1.value'] as ort.Tensor).dims).toEqual([1, cfg.numKvHeads, 6, cfg.headDim]);

  // A batch of two: the second row left-padded by two (what transformers.js does for batches),
  // positions counted from its first real token. Its real positions match the unpadded run.
  const padded = await session.run({
    input_ids: i64([TOKENS, [0, 0, ...TOKENS.slice(0, 4)]]),
    attention_mask: i64([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]]),
    position_ids: i64([[0, 1, 2, 3, 4, 5], [1, 1, 0, 1, 2, 3]]),
    ...emptyPast(cfg, 2),
  });
  for (let t = 0; t < 4; t++) expectClose(row(padded.logits as ort.Tensor, S + 2 + t, V), row(full.logits as ort.Tensor, t, V), { atol: 1e-5, rtol: 1e-5 }, `padded row, position ${t}`);
  for (let t = 0; t < S; t++) expectClose(row(padded.logits as ort.Tensor, t, V), row(full.logits as ort.Tensor, t, V), { atol: 1e-5, rtol: 1e-5 }, `unpadded row, position ${t}`);
  await session.release();
  return { cfg, weights, full: full.logits as ort.Tensor };
}

describe('ONNX export runs in onnxruntime and matches our GPU forward', () => {
  it('llama (GQA 4/2, RoPE, SwiGLU, tied head)', async () => {
    await parity(tinyConfig('llama', { ...base, kvHeads: 2 }));
  });

  it('qwen2 (q/k/v biases, untied head, GQA 4/1)', async () => {
    const { cfg, weights, full } = await parity(tinyConfig('qwen2', { ...base, kvHeads: 1, tie: false }));
    // External data in chunks (forced small here): same logits, loaded from a folder by path.
    const files = exportOnnx({ config: cfg, weights, externalData: true, maxChunkBytes: 40_000 });
    const chunks = [...files.keys()].filter((f) => f.startsWith('onnx/model.onnx_data')).sort();
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks[0]).toBe('onnx/model.onnx_data');
    const tjs = JSON.parse(new TextDecoder().decode(files.get('config.json')!))['transformers.js_config'];
    expect(tjs).toEqual({ dtype: 'fp32', use_external_data_format: { 'model.onnx': chunks.length } });
    expect(files.get('onnx/model.onnx')!.length).toBeLessThan(40_000);
    const out = join(dir, 'qwen2-external');
    await writeFolder(out, files);
    const session = await ort.InferenceSession.create(join(out, 'onnx', 'model.onnx'));
    const S = TOKENS.length;
    const got = await session.run({ input_ids: i64([TOKENS]), attention_mask: i64([TOKENS.map(() => 1)]), position_ids: i64([TOKENS.map((_, i) => i)]), ...emptyPast(cfg, 1) });
    expect(got.logits.data).toEqual(full.data);
    expect((got.logits as ort.Tensor).dims).toEqual([1, S, cfg.vocabSize]);
    await session.release();
  });

  it('gpt2 (learned positions, LayerNorm, fused c_attn, tanh GELU, tied head)', async () => {
    await parity(tinyConfig('gpt2', base));
  });

  it('gpt2 with scale_attn_by_inverse_layer_idx (a per-layer scale in each attention)', async () => {
    await parity(tinyConfig('gpt2', { ...base, scale_attn_by_inverse_layer_idx: true }));
  });

  it('qwen2 with a binding sliding window: positions up to the window, refused from it on', async () => {
    const { arch, config: cfg } = parseConfig(tinyConfig('qwen2', { ...base, kvHeads: 1, use_sliding_window: true, sliding_window: 8, max_window_layers: 0 }));
    const files = exportOnnx({ config: cfg, weights: randomWeights(arch.parameters(cfg), 1) });
    const session = await ort.InferenceSession.create(files.get('onnx/model.onnx')!);
    const from = (p0: number) => session.run({ input_ids: i64([TOKENS]), attention_mask: i64([TOKENS.map(() => 1)]), position_ids: i64([TOKENS.map((_, i) => p0 + i)]), ...emptyPast(cfg, 1) });
    expect((await from(2)).logits.dims).toEqual([1, TOKENS.length, cfg.vocabSize]); // positions 2 .. 7
    await expect(from(3)).rejects.toThrow(/out of (data )?bounds/); // position 8
    await session.release();
  });
});

describe('bad input', () => {
  it('names what it cannot export', () => {
    // Every registered architecture has a graph now; one added later without one is refused by name.
    const { arch, config } = parseConfig(tinyConfig('gpt2', base));
    expect(() => exportOnnx({ config: { ...config, arch: 'mamba' }, weights: randomWeights(arch.parameters(config), 1) })).toThrow('onnx export: no ONNX graph for architecture mamba (supported: llama, qwen2, gpt2); export it with --format safetensors');
    const llama = parseConfig(tinyConfig('llama', base));
    const weights = randomWeights(llama.arch.parameters(llama.config), 1);
    weights.delete('model.norm.weight');
    expect(() => exportOnnx({ config: llama.config, weights })).toThrow('export: the weights do not match the llama config: missing model.norm.weight');
  });
});

describe('pupil export --format onnx', () => {
  it('writes a transformers.js folder from a Hugging Face folder; bad flags are named', async () => {
    const { arch, config } = parseConfig(tinyConfig('llama', base));
    const src = join(dir, 'cli-src');
    await exportHuggingFaceToFolder(src, { config, weights: randomWeights(arch.parameters(config), 3), tokenizerFiles: byteLevelTokenizerFiles() });
    const out = join(dir, 'cli-out');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await exportCommand([src, '--out', out, '--format', 'onnx'])).toBe(0);
      expect((await readdir(out)).sort()).toEqual(['config.json', 'generation_config.json', 'onnx', 'tokenizer.json', 'tokenizer_config.json']);
      expect(await readdir(join(out, 'onnx'))).toEqual(['model.onnx']);
      const session = await ort.InferenceSession.create(join(out, 'onnx', 'model.onnx'));
      expect(session.outputNames[0]).toBe('logits');
      await session.release();
      expect(log.mock.calls.at(-1)![0]).toMatch(/^exported llama \(.*M parameters, onnx f32\)/);
      expect(await exportCommand([src, '--out', out, '--format', 'tflite'])).toBe(2);
      expect(err.mock.calls.at(-1)![0]).toBe('pupil export: --format must be safetensors or onnx, got tflite');
      expect(await exportCommand([src, '--out', out, '--format', 'onnx', '--dtype', 'f16'])).toBe(2);
      expect(err.mock.calls.at(-1)![0]).toBe('pupil export: --format onnx writes f32 weights only, got --dtype f16');
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  });
});
