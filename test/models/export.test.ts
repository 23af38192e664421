// Export to a Hugging Face folder: it loads back bit for bit (f32), within the dtype's rounding
// (f16, bf16); names and shapes are transformers' (checked against the independent reference
// model's list), config fields and tie_word_embeddings are consistent, metadata is {format: 'pt'}.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byteLevelTokenizerFiles } from '../../src/data/byte-tokenizer.ts';
import { modelChatTemplate } from '../../src/data/template.ts';
import { exportHuggingFace, type ExportDtype } from '../../src/models/export.ts';
import { exportHuggingFaceToFolder } from '../../src/models/export-node.ts';
import type { TinyArch } from '../../src/models/init.ts';
import { loadPretrainedNode } from '../../src/models/load-node.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { readSafetensorsHeader } from '../../src/models/safetensors.ts';
import { referenceParameterShapes } from '../reference/model/index.ts';
import { makeFixture, roundTo } from '../fixtures/hub/make-fixtures.ts';

let dir: string;
beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'pupil-export-'))));
afterAll(async () => rm(dir, { recursive: true, force: true }));

const bits = (w: Float32Array) => new Uint32Array(w.buffer, w.byteOffset, w.length);
const json = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;

function model(arch: TinyArch, tie: boolean) {
  const fx = makeFixture(arch, { tie, seed: 21 });
  return { fx, config: parseConfig(fx.hf).config, tokenizerFiles: byteLevelTokenizerFiles() };
}

const CASES = (['llama', 'qwen2', 'gpt2'] as TinyArch[]).flatMap((arch) => [true, false].map((tie) => [`${arch} ${tie ? 'tied' : 'untied'}`, arch, tie] as const));

describe('export to a folder and load it back', () => {
  it.each(CASES)('%s: bit for bit in f32, and what transformers expects', async (label, arch, tie) => {
    const { fx, config, tokenizerFiles } = model(arch, tie);
    const out = join(dir, label.replace(' ', '-'));
    const template = '{% for m in messages %}{{ m.content }}{% endfor %}';
    await exportHuggingFaceToFolder(out, { config, weights: fx.weights, tokenizerFiles, chatTemplate: template });
    expect((await readdir(out)).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);

    const back = await loadPretrainedNode(out);
    expect([...back.weights.keys()]).toEqual([...fx.weights.keys()]);
    for (const [name, w] of fx.weights) expect(bits(back.weights.get(name)!), name).toEqual(bits(w));
    expect({ ...back.config, hf: undefined }).toEqual({ ...config, hf: undefined });
    expect(back.tokenizerFiles?.['tokenizer.json']).toBe(tokenizerFiles['tokenizer.json']);
    expect(modelChatTemplate(back.tokenizerFiles!)).toBe(template);
    expect(back.generationConfig).toEqual({ eos_token_id: [258, 256], pad_token_id: 259, bos_token_id: 256 });

    // transformers' view: names and shapes from the independent reference model, tied head absent
    const files = exportHuggingFace({ config, weights: fx.weights });
    const cfg = json(files.get('config.json')!);
    expect(cfg).toMatchObject({
      architectures: [{ llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', gpt2: 'GPT2LMHeadModel' }[arch]],
      model_type: arch, torch_dtype: 'float32', tie_word_embeddings: tie, vocab_size: 260, bos_token_id: 256, eos_token_id: 257,
    });
    const header = readSafetensorsHeader(files.get('model.safetensors')!);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(new Map([...header.tensors].map(([n, t]) => [n, t.shape]))).toEqual(referenceParameterShapes(cfg));
    expect(header.tensors.has('lm_head.weight')).toBe(!tie);
    for (const t of header.tensors.values()) expect(t.dtype).toBe('F32');
  });
});

describe('f16 and bf16 exports', () => {
  it.each([['f16', 'F16', 'float16'], ['bf16', 'BF16', 'bfloat16']] as const)('%s: every value is the nearest %s, and re-exporting is byte-identical', async (dtype, st, torch) => {
    const { fx, config } = model('llama', false);
    const out = join(dir, `llama-${dtype}`);
    await exportHuggingFaceToFolder(out, { config, weights: fx.weights, dtype: dtype as ExportDtype });
    const back = await loadPretrainedNode(out);
    expect(back.dtype).toBe(st);
    expect(back.config.hf.torch_dtype).toBe(torch);
    for (const [name, w] of fx.weights) {
      // Round to nearest even, computed independently (the fixture's rounding), then a
      // relative bound as a sanity check on that rounding: half an ulp, 2^-11 (f16), 2^-8 (bf16).
      expect(bits(back.weights.get(name)!), name).toEqual(bits(roundTo(dtype, w)));
      const rel = dtype === 'f16' ? 2 ** -11 : 2 ** -8;
      w.forEach((x, i) => expect(Math.abs(back.weights.get(name)![i] - x)).toBeLessThanOrEqual(Math.abs(x) * rel + 2 ** -25));
    }
    const again = exportHuggingFace({ config: back.config, weights: back.weights, dtype: dtype as ExportDtype });
    expect(again.get('model.safetensors')).toEqual(exportHuggingFace({ config, weights: fx.weights, dtype: dtype as ExportDtype }).get('model.safetensors'));
  });

  it('f16 refuses values it cannot hold', () => {
    const { fx, config } = model('gpt2', true);
    const weights = new Map(fx.weights);
    weights.set('transformer.ln_f.bias', weights.get('transformer.ln_f.bias')!.map((x, i) => (i === 3 ? 70000 : x)));
    expect(() => exportHuggingFace({ config, weights, dtype: 'f16' })).toThrow('transformer.ln_f.bias[3] = 70000 overflows float16 (largest 65504): export as bf16 or f32');
    expect(() => exportHuggingFace({ config, weights, dtype: 'bf16' })).not.toThrow();
  });
});

describe('sharding and bad input', () => {
  it('shards with an index when over maxShardBytes, and loads back bit for bit', async () => {
    const { fx, config, tokenizerFiles } = model('qwen2', true);
    const out = join(dir, 'qwen2-sharded');
    const files = exportHuggingFace({ config, weights: fx.weights, tokenizerFiles, maxShardBytes: 40_000 });
    const shards = [...files.keys()].filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    expect(shards.length).toBeGreaterThan(1);
    expect(files.has('model.safetensors')).toBe(false);
    const index = json(files.get('model.safetensors.index.json')!) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    expect(Object.keys(index.weight_map).sort()).toEqual([...fx.weights.keys()].sort());
    expect(index.metadata.total_size).toBe([...fx.weights.values()].reduce((a, w) => a + 4 * w.length, 0));
    for (const s of shards) expect(files.get(s)!.length).toBeLessThanOrEqual(40_000 + 4096);
    await exportHuggingFaceToFolder(out, { config, weights: fx.weights, tokenizerFiles, maxShardBytes: 40_000 });
    const back = await loadPretrainedNode(out);
    expect(back.weightFiles).toEqual(shards);
    for (const [name, w] of fx.weights) expect(bits(back.weights.get(name)!), name).toEqual(bits(w));
  });

  it('weights that do not match the config are named', () => {
    const { fx, config } = model('llama', true);
    const weights = new Map(fx.weights);
    weights.delete('model.norm.weight');
    weights.set('lm_head.weight', new Float32Array(260 * 32));
    weights.set('model.layers.0.mlp.up_proj.weight', new Float32Array(5));
    expect(() => exportHuggingFace({ config, weights })).toThrow(
      'export: the weights do not match the llama config: unexpected lm_head.weight; model.layers.0.mlp.up_proj.weight has 5 values, expected 1536 for [48, 32]; missing model.norm.weight',
    );
  });
});
