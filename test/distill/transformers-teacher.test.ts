// TransformersTeacher in Node: transformers.js (onnxruntime-node, device 'cpu') loads our ONNX
// export of a tiny llama from the local Hub stand-in and generates exactly what our own engine
// generates greedily from the same weights, token for token; log-probabilities, stop strings,
// streaming and abort behave as the Teacher interface says.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransformersTeacher } from '../../src/distill/teachers/transformers.ts';
import { resolveRenderer } from '../../src/data/template.ts';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { GpuCausalLM } from '../../src/generate/gpu-model.ts';
import { ParamLayout, ParamStore } from '../../src/models/params.ts';
import { architectures } from '../../src/models/registry.ts';
import { chat, promptIds } from '../../src/train/evaluate.ts';
import { startHubServer, type HubServer } from '../fixtures/hub/server.ts';
import { writeRepo } from '../fixtures/hub/make-fixtures.ts';
import { makeOnnxFixture } from '../fixtures/hub/make-onnx-fixture.ts';
import { expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';

const REPO = 'tiny/llama-onnx';
const MESSAGES = [{ role: 'user' as const, content: 'Hello world, say something.' }];
const N = 24;

let root: string;
let server: HubServer;
let teacher: TransformersTeacher;
const fx = makeOnnxFixture();
const progress: { file: string; loaded: number; total: number }[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pupil-tjs-'));
  await writeRepo(root, REPO, fx.files);
  server = await startHubServer(root);
  teacher = await TransformersTeacher.load({ model: REPO, device: 'cpu', remoteHost: server.url, cacheDir: join(root, 'cache'), onProgress: (p) => progress.push(p) });
});
afterAll(async () => {
  await teacher?.dispose();
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

/** Our engine's greedy reply: the GPU model with the KV cache through evaluate.ts chat(). */
async function ours(maxNewTokens: number) {
  const rt = await getRuntime();
  const arch = architectures().find((a) => a.name === 'llama')!;
  const store = new ParamStore(rt, new ParamLayout(arch.parameters(fx.config)));
  store.load(fx.weights);
  const model = new GpuCausalLM(rt, fx.config, store, { maxLength: 160 });
  const tokenizer = loadTokenizer(fx.tokenizerFiles);
  const renderer = resolveRenderer('model', tokenizer);
  const gen = chat({ model, renderer, tokenizer }, MESSAGES, { maxNewTokens, sampling: { temperature: 0 } });
  for await (const _ of gen);
  const result = await gen.result;
  model.destroy();
  store.destroy();
  await expectNoGpuErrors(rt);
  return { result, tokenizer, prompt: promptIds(renderer, tokenizer, MESSAGES) };
}

describe('TransformersTeacher on our exported ONNX llama', () => {
  it('loads from the local Hub by repo id, with progress and provenance', () => {
    expect(teacher.name).toBe(`transformers:${REPO} (cpu)`);
    const paths = server.requests.map((r) => r.path);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) expect(paths).toContain(`/${REPO}/resolve/main/${f}`);
    const last = progress.filter((p) => p.file === 'onnx/model.onnx').at(-1);
    expect(last).toEqual({ file: 'onnx/model.onnx', loaded: fx.files.get('onnx/model.onnx')!.length, total: fx.files.get('onnx/model.onnx')!.length });
  });

  it('greedy generation equals our own greedy decode token for token, with top-k log-probabilities', async () => {
    const { result, tokenizer, prompt } = await ours(N);
    expect(teacher.promptIds(MESSAGES)).toEqual(prompt);
    const streamed: string[] = [];
    const reply = await teacher.generate(MESSAGES, { maxTokens: N, topLogprobs: 3, onText: (t) => streamed.push(t) });
    const eosEnded = result.finishReason === 'eos';
    const tokens = eosEnded ? result.tokens.slice(0, -1) : result.tokens;
    expect(reply.logprobs!.map((l) => l.token)).toEqual(tokens.map((id) => tokenizer.decode([id], { skipSpecial: false })));
    expect(reply.text).toBe(result.text);
    expect(streamed.join('')).toBe(reply.text);
    expect(reply.finishReason).toBe(eosEnded ? 'stop' : 'length');
    expect(reply.usage).toEqual({ promptTokens: prompt.length, completionTokens: result.tokens.length });
    for (const lp of reply.logprobs!) {
      expect(lp.top).toHaveLength(3);
      // Greedy: the chosen token is the most likely one.
      expect(lp.top[0]).toEqual({ token: lp.token, logprob: lp.logprob });
      expect(lp.top[0].logprob).toBeGreaterThanOrEqual(lp.top[1].logprob);
      expect(lp.top[1].logprob).toBeGreaterThanOrEqual(lp.top[2].logprob);
      expect(lp.top.reduce((a, t) => a + Math.exp(t.logprob), 0)).toBeLessThanOrEqual(1 + 1e-6);
      expect(lp.logprob).toBeLessThan(0);
    }
    console.log(`greedy reply (${result.tokens.length} tokens): ${JSON.stringify(reply.text)}`);
  });

  it('stops at a stop string, streams only the text before it', async () => {
    const full = await teacher.generate(MESSAGES, { maxTokens: N });
    const stop = full.text.slice(6, 9);
    const at = full.text.indexOf(stop);
    const streamed: string[] = [];
    const reply = await teacher.generate(MESSAGES, { maxTokens: N, stop: [stop], onText: (t) => streamed.push(t) });
    expect(reply.text).toBe(full.text.slice(0, at));
    expect(reply.finishReason).toBe('stop');
    expect(streamed.join('')).toBe(reply.text);
    expect(reply.usage!.completionTokens).toBeLessThan(N);
  });

  it('abort: before the call rejects, during generation ends it as cancelled', async () => {
    const before = new AbortController();
    before.abort(new Error('stopped by the test'));
    await expect(teacher.generate(MESSAGES, { signal: before.signal })).rejects.toThrow('stopped by the test');
    const during = new AbortController();
    const reply = await teacher.generate(MESSAGES, { maxTokens: N, signal: during.signal, onText: () => during.abort() });
    expect(reply.finishReason).toBe('cancelled');
    expect(reply.usage!.completionTokens).toBeLessThan(N);
  });

  it('sampling with a seed repeats; another seed differs', async () => {
    const opts = { maxTokens: 12, temperature: 1.5, topP: 0.95 };
    const a = await teacher.generate(MESSAGES, { ...opts, seed: 3 });
    const b = await teacher.generate(MESSAGES, { ...opts, seed: 3 });
    const c = await teacher.generate(MESSAGES, { ...opts, seed: 4 });
    expect(b.text).toBe(a.text);
    expect(c.text).not.toBe(a.text);
  });

  it('a missing repo is an error naming it', async () => {
    await expect(TransformersTeacher.load({ model: 'tiny/absent', device: 'cpu', remoteHost: server.url, cacheDir: join(root, 'cache') })).rejects.toThrow(/TransformersTeacher: could not load tiny\/absent from http:\/\/127\.0\.0\.1:\d+\/ on cpu/);
    await expect(TransformersTeacher.load({ model: 'not a repo', device: 'cpu' })).rejects.toThrow('neither a Hub repo id');
  });
});
