// TransformersTeacher in Chromium, offline: transformers.js (onnxruntime-web) loads our ONNX export
// of a tiny llama from the local Hub stand-in (another port: CORS) in the page and in a Worker, on
// 'wasm' and on 'webgpu' (SwiftShader), and greedy-generates exactly what the same teacher on
// onnxruntime-node generates in this process: the same tokens, log-probabilities within float
// noise. onnxruntime-web's runtime comes from our own server: every request stays on 127.0.0.1.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TeacherReply } from '../../src/distill/teacher.ts';
import { TransformersTeacher, type TransformersDevice } from '../../src/distill/teachers/transformers.ts';
import { writeRepo } from '../fixtures/hub/make-fixtures.ts';
import { makeOnnxFixture } from '../fixtures/hub/make-onnx-fixture.ts';
import { startHubServer, type HubServer } from '../fixtures/hub/server.ts';
import type { RunResult } from './pages/transformers-teacher-run.ts';
import { startHarness, type Harness } from './harness.ts';

const REPO = 'tiny/llama-onnx';
const PROMPT = 'Hello world, say something.';
const MESSAGES = [{ role: 'user' as const, content: PROMPT }];
const N = 24;

let root: string;
let hub: HubServer;
let h: Harness;
/** The browser profile of the page tests; the Worker test gets a fresh one (an empty Cache API). */
let context: BrowserContext;
let expected: TeacherReply;
let expectedPrompt: number[];
const fx = makeOnnxFixture();
/** Every URL the browser asked for (pages and their Workers). */
const requests: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pupil-tjs-browser-'));
  await writeRepo(root, REPO, fx.files);
  hub = await startHubServer(root, { cors: true });
  // The reference: the same teacher on onnxruntime-node (test/distill/transformers-teacher.test.ts
  // shows it equals our own engine's greedy decode).
  const node = await TransformersTeacher.load({ model: REPO, device: 'cpu', remoteHost: hub.url, cacheDir: join(root, 'cache') });
  expected = await node.generate(MESSAGES, { maxTokens: N, topLogprobs: 3 });
  expectedPrompt = node.promptIds(MESSAGES);
  await node.dispose();
  hub.requests.length = 0;
  h = await startHarness();
  context = await newContext();
});
afterAll(async () => {
  await context?.close();
  await h?.close();
  await hub?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

async function newContext(): Promise<BrowserContext> {
  const c = await h.browser.newContext();
  c.on('request', (r) => requests.push(r.url()));
  return c;
}

async function runIn(where: 'page' | 'worker', device: TransformersDevice, ctx = context, cache = true) {
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const from = requests.length;
  const q = new URLSearchParams({ hub: hub.url, model: REPO, device, where, n: String(N), prompt: PROMPT, cache: cache ? '1' : '0' });
  await page.goto(`${h.base}/test/browser/pages/transformers-teacher.html?${q}`);
  await page.waitForFunction(() => (window as any).__result || (window as any).__error, null, { timeout: 50_000 });
  const { result, error } = await page.evaluate(() => ({ result: (window as any).__result as RunResult | undefined, error: (window as any).__error as string | undefined }));
  await page.close();
  return { result, error, errors, requests: requests.slice(from) };
}

function expectSameReply(r: RunResult, device: TransformersDevice) {
  expect(r.name).toBe(`transformers:${REPO} (${device})`);
  expect(r.promptIds).toEqual(expectedPrompt);
  expect(r.reply.text).toBe(expected.text);
  expect(r.streamed).toBe(expected.text);
  expect(r.reply.finishReason).toBe(expected.finishReason);
  expect(r.reply.usage).toEqual(expected.usage);
  const got = r.reply.logprobs!;
  expect(got.map((l) => l.token)).toEqual(expected.logprobs!.map((l) => l.token));
  // Float32 on another runtime (and on the GPU): the same math summed in another order.
  const tol = device === 'webgpu' ? 2e-3 : 2e-4;
  let worst = 0;
  got.forEach((l, i) => {
    const e = expected.logprobs![i];
    worst = Math.max(worst, Math.abs(l.logprob - e.logprob));
    expect(Math.abs(l.logprob - e.logprob), `token ${i}`).toBeLessThan(tol);
    expect(l.top.map((t) => t.token)).toEqual(e.top.map((t) => t.token));
  });
  if (device === 'webgpu') expect(r.gpuSubmits).toBeGreaterThan(N);
  else expect(r.gpuSubmits).toBe(0);
  const model = fx.files.get('onnx/model.onnx')!.length;
  expect(r.progress['onnx/model.onnx']).toEqual({ loaded: model, total: model });
  return worst;
}

/** `cached`: the model's files come from the Cache API of an earlier load, not from the Hub. */
function expectOffline(urls: string[], cached = false) {
  expect(urls.length).toBeGreaterThan(0);
  const away = urls.filter((u) => !/^(blob:|data:)/.test(u) && new URL(u).hostname !== '127.0.0.1');
  expect(away, 'requests that left 127.0.0.1').toEqual([]);
  // The runtime came from our server, and the model from the Hub stand-in.
  expect(urls.some((u) => u.startsWith('http://127.0.0.1') && /ort-wasm-simd-threaded\.asyncify[^/]*\.wasm/.test(u))).toBe(true);
  const model = `${hub.url}/${REPO}/resolve/main/onnx/model.onnx`;
  if (cached) expect(urls.filter((u) => u.startsWith(hub.url))).toEqual([]);
  else expect(urls).toContain(model);
}

describe('TransformersTeacher in Chromium (offline, local Hub)', () => {
  it("device 'wasm' in the page: the same greedy reply as onnxruntime-node", async () => {
    const t0 = Date.now();
    const r = await runIn('page', 'wasm');
    expect(r.error).toBeUndefined();
    const worst = expectSameReply(r.result!, 'wasm');
    expectOffline(r.requests);
    expect(r.errors).toEqual([]);
    console.log(`worst logprob difference ${worst.toExponential(1)}; wasm page: load ${r.result!.loadMs.toFixed(0)} ms, generate ${N} tokens ${r.result!.generateMs.toFixed(0)} ms, total ${Date.now() - t0} ms; ${JSON.stringify(r.result!.reply.text)}`);
  });

  it("device 'wasm' in a Worker", async () => {
    const fresh = await newContext();
    const r = await runIn('worker', 'wasm', fresh).finally(() => fresh.close());
    expect(r.error).toBeUndefined();
    expectSameReply(r.result!, 'wasm');
    expectOffline(r.requests);
    expect(r.errors).toEqual([]);
    console.log(`wasm worker: load ${r.result!.loadMs.toFixed(0)} ms, generate ${r.result!.generateMs.toFixed(0)} ms`);
  });

  it("device 'webgpu' (SwiftShader) in the page, the model from the Cache API of the first load", async () => {
    const r = await runIn('page', 'webgpu');
    expect(r.error).toBeUndefined();
    const worst = expectSameReply(r.result!, 'webgpu');
    expectOffline(r.requests, true);
    expect(r.errors).toEqual([]);
    console.log(`webgpu page: load ${r.result!.loadMs.toFixed(0)} ms, generate ${r.result!.generateMs.toFixed(0)} ms, worst logprob difference ${worst.toExponential(1)}`);
  });

  it('browserCache: false downloads the model again though the Cache API holds it', async () => {
    const r = await runIn('page', 'wasm', context, false);
    expect(r.error).toBeUndefined();
    expectSameReply(r.result!, 'wasm');
    expectOffline(r.requests);
    expect(r.errors).toEqual([]);
  });

  it("device 'webgpu' in a Worker", async () => {
    const fresh = await newContext();
    const r = await runIn('worker', 'webgpu', fresh).finally(() => fresh.close());
    expect(r.error).toBeUndefined();
    const worst = expectSameReply(r.result!, 'webgpu');
    expectOffline(r.requests);
    expect(r.errors).toEqual([]);
    console.log(`webgpu worker: load ${r.result!.loadMs.toFixed(0)} ms, generate ${r.result!.generateMs.toFixed(0)} ms, worst logprob difference ${worst.toExponential(1)}`);
  });
});
