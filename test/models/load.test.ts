// Loading generated Hub-shaped fixtures: every architecture, one file and sharded, f32 / f16 / bf16,
// from the local server, a folder and picked files; wrong checkpoints are rejected naming every
// bad tensor; and a loaded model's logits equal those of the same weights built in memory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuCausalLM } from '../../src/generate/gpu-model.ts';
import type { Runtime } from '../../src/gpu/runtime.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import type { TinyArch } from '../../src/models/init.ts';
import { loadPretrained, WeightsMismatchError } from '../../src/models/load.ts';
import { loadPretrainedNode } from '../../src/models/load-node.ts';
import { ParamLayout, ParamStore } from '../../src/models/params.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { writeSafetensors } from '../../src/models/safetensors.ts';
import { expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';
import { makeFixture, repoId, writeRepo, type Fixture, type FixtureDtype } from '../fixtures/hub/make-fixtures.ts';
import { startHubServer, type HubServer } from '../fixtures/hub/server.ts';

const ARCHS: TinyArch[] = ['llama', 'qwen2', 'gpt2'];
const DTYPES: FixtureDtype[] = ['f32', 'f16', 'bf16'];
const MATRIX = ARCHS.flatMap((arch) => DTYPES.flatMap((dtype) => [1, 2].map((shards) => ({ arch, dtype, shards, fx: makeFixture(arch, { dtype, shards, seed: 3 + shards }) }))));

let root: string;
let server: HubServer;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pupil-load-'));
  for (const m of MATRIX) await writeRepo(root, repoId(m.arch, m.dtype, m.shards), m.fx.files);
  server = await startHubServer(root);
});
afterAll(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

const opts = () => ({ endpoint: server.url, cache: null, retries: 0 });
const asFiles = (files: ReadonlyMap<string, Uint8Array>, dir = 'my-model') =>
  [...files].map(([name, bytes]) => Object.assign(new File([bytes as Uint8Array<ArrayBuffer>], name), { webkitRelativePath: `${dir}/${name}` }));

describe('the fixture matrix loads bit for bit from the Hub server', () => {
  it.each(MATRIX.map((m) => [`${m.arch} ${m.dtype} ${m.shards > 1 ? 'sharded' : 'one file'}`, m] as const))('%s', async (_, m) => {
    const got = await loadPretrained(repoId(m.arch, m.dtype, m.shards), opts());
    expect(got.arch.name).toBe(m.arch);
    expect(got.config.hf).toEqual(m.fx.hf);
    expect(got.dtype).toBe({ f32: 'F32', f16: 'F16', bf16: 'BF16' }[m.dtype]);
    expect([...got.weights.keys()]).toEqual(got.arch.parameters(got.config).map((s) => s.name));
    for (const [name, w] of m.fx.weights) expect(new Uint32Array(got.weights.get(name)!.buffer), name).toEqual(new Uint32Array(w.buffer));
    expect(got.weightFiles).toHaveLength(m.shards);
    expect(got.tokenizerFiles?.['tokenizer.json']).toBe(new TextDecoder().decode(m.fx.files.get('tokenizer.json')));
    expect(got.generationConfig).toEqual({ eos_token_id: [258, 256], pad_token_id: 259 });
  });
});

describe('other sources', () => {
  it('files picked from a browser folder (matched by name, shallowest first) and a folder on disk', async () => {
    const fx = MATRIX.find((m) => m.arch === 'gpt2' && m.dtype === 'bf16' && m.shards === 2)!.fx;
    const decoy = Object.assign(new File(['{"model_type":"bert"}'], 'config.json'), { webkitRelativePath: 'my-model/old/config.json' });
    const picked = await loadPretrained({ files: [decoy, ...asFiles(fx.files)] });
    expect(picked.weights).toEqual(fx.weights);
    const disk = await loadPretrainedNode(join(root, repoId('gpt2', 'bf16', 2), 'main'));
    expect(disk.weights).toEqual(fx.weights);
    expect(disk.source).toContain('gpt2-bf16-sharded');
  });

  it('a URL base serves the same tree', async () => {
    const got = await loadPretrained({ url: `${server.url}/${repoId('llama', 'f16', 1)}/resolve/main` }, { cache: null });
    expect(got.weights).toEqual(MATRIX.find((m) => m.arch === 'llama' && m.dtype === 'f16' && m.shards === 1)!.fx.weights);
  });

  it('checkpoints of the bare model (no prefix), GPT-2 mask buffers and a tied lm_head copy load as in transformers', async () => {
    const fx = makeFixture('gpt2', { bare: true, extraLmHead: true });
    const got = await loadPretrained({ files: asFiles(fx.files) });
    expect(got.weights).toEqual(fx.weights);
    expect(got.ignored.sort()).toEqual(['h.0.attn.bias', 'h.1.attn.bias', 'lm_head.weight']);
    const llama = makeFixture('llama', { bare: true, tie: false });
    expect((await loadPretrained({ files: asFiles(llama.files) })).weights).toEqual(llama.weights);
  });
});

describe('wrong checkpoints', () => {
  function withWeights(fx: Fixture, edit: (t: Map<string, { dtype: 'F32' | 'I64'; shape: number[]; data: Float32Array | BigInt64Array }>) => void) {
    const t = new Map([...fx.weights].map(([n, w]) => [n, { dtype: 'F32' as 'F32' | 'I64', shape: parseShape(fx, n), data: w as Float32Array | BigInt64Array }]));
    edit(t);
    return new Map([...fx.files].filter(([n]) => !n.startsWith('model')).concat([['model.safetensors', writeSafetensors(t)]]));
  }
  const parseShape = (fx: Fixture, name: string) => {
    const { arch, config } = parseConfig(fx.hf);
    return arch.parameters(config).find((s) => s.name === name)!.shape;
  };

  it('names every missing, unexpected, mis-shaped and non-float tensor at once', async () => {
    const fx = makeFixture('qwen2', { tie: false });
    const files = withWeights(fx, (t) => {
      t.delete('lm_head.weight');
      t.set('model.layers.0.self_attn.q_proj.extra', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
      t.set('model.layers.1.mlp.up_proj.weight', { dtype: 'F32', shape: [32, 48], data: fx.weights.get('model.layers.1.mlp.up_proj.weight')! });
      t.set('model.norm.weight', { dtype: 'I64', shape: [32], data: new BigInt64Array(32) });
    });
    const p = loadPretrained({ files: asFiles(files) });
    await expect(p).rejects.toBeInstanceOf(WeightsMismatchError);
    await expect(p).rejects.toThrow(
      /missing \(1\): lm_head\.weight; unexpected \(1\): model\.layers\.0\.self_attn\.q_proj\.extra \(model\.safetensors\); wrong shape \(1\): model\.layers\.1\.mlp\.up_proj\.weight is \[32, 48\], expected \[48, 32\]; unsupported dtype \(1\): model\.norm\.weight is I64/,
    );
  });

  it('a truncated weights file, a missing weights file, an unsupported config field', async () => {
    const fx = makeFixture('llama');
    const cut = new Map(fx.files);
    cut.set('model.safetensors', fx.files.get('model.safetensors')!.slice(0, -10));
    await expect(loadPretrained({ files: asFiles(cut) })).rejects.toThrow(/model\.safetensors: tensor "model\.norm\.weight": tensors need \d+ bytes of data but the file has \d+ after the header \(truncated\?\)/);
    cut.delete('model.safetensors');
    await expect(loadPretrained({ files: asFiles(cut) })).rejects.toThrow(/neither model\.safetensors nor model\.safetensors\.index\.json/);
    const yarn = new Map(fx.files);
    yarn.set('config.json', new TextEncoder().encode(JSON.stringify({ ...fx.hf, rope_scaling: { rope_type: 'yarn', factor: 4 } })));
    await expect(loadPretrained({ files: asFiles(yarn) })).rejects.toThrow(/rope_scaling.*yarn/);
  });

  it('a hostile index cannot name files outside the repository', async () => {
    const fx = makeFixture('llama', { shards: 2 });
    const files = new Map(fx.files);
    files.set('model.safetensors.index.json', new TextEncoder().encode(JSON.stringify({ weight_map: { 'model.norm.weight': '../../secret.safetensors' } })));
    await expect(loadPretrained({ files: asFiles(files) })).rejects.toThrow(/"\.\.\/\.\.\/secret\.safetensors" is not an acceptable file name/);
  });
});

describe('a loaded model computes what the same weights built in memory compute', () => {
  async function logits(rt: Runtime, config: ModelConfig, weights: Map<string, Float32Array>, ids: Int32Array): Promise<Float32Array> {
    const { arch } = parseConfig(config.hf);
    const store = new ParamStore(rt, new ParamLayout(arch.parameters(config)));
    store.load(weights);
    const lm = new GpuCausalLM(rt, config, store, { maxLength: 16, prefillChunk: 8 });
    const out = Float32Array.from(await lm.prefill(ids));
    lm.destroy();
    store.destroy();
    return out;
  }

  it.each(ARCHS)('%s (bf16, sharded): bit-identical logits; a one-ulp change is visible', async (archName) => {
    const rt = await getRuntime();
    const m = MATRIX.find((x) => x.arch === archName && x.dtype === 'bf16' && x.shards === 2)!;
    const ids = Int32Array.from([256, 72, 105, 33, 10, 200, 7, 99, 3, 258]);
    const loaded = await loadPretrained(repoId(m.arch, m.dtype, m.shards), opts());
    const memory = parseConfig(m.fx.hf).config;
    const a = await logits(rt, loaded.config, loaded.weights, ids);
    const b = await logits(rt, memory, m.fx.weights, ids);
    expect(a.length).toBe(memory.vocabSize);
    expect(new Uint32Array(a.buffer)).toEqual(new Uint32Array(b.buffer));
    // The comparison can fail: one embedding row of a prompt token, nudged by one f32 ulp.
    const nudged = new Map(m.fx.weights);
    const embed = loaded.arch.parameters(memory)[0].name;
    const e = nudged.get(embed)!.slice();
    for (let i = 0; i < memory.hiddenSize; i++) e[72 * memory.hiddenSize + i] *= 1 + 2 ** -20;
    nudged.set(embed, e);
    expect(await logits(rt, memory, nudged, ids)).not.toEqual(b);
    await expectNoGpuErrors(rt);
  });
});
