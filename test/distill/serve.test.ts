// `pupil serve`'s server in-process on a tiny scratch checkpoint, driven by the endpoint teacher
// over real HTTP: the reply is what the generation loop gives for the same prompt and seed,
// streamed deltas spell the final text, log-probabilities agree with a CPU log-softmax of the
// logits, /v1/models, requests queue, bad requests get an OpenAI-style 400 naming the field, and
// CORS (preflight, headers on every reply, one origin, off).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStudent, type LoadedStudent } from '../../src/cli/commands/chat.ts';
import { resolveRenderer } from '../../src/data/template.ts';
import { startChatServer, type RunningServer } from '../../src/distill/server.ts';
import { OpenAITeacher, TeacherHttpError } from '../../src/distill/teachers/openai.ts';
import { generateText, GpuCausalLM, Rng } from '../../src/generate/index.ts';
import { initialize, tinyConfig } from '../../src/models/init.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { encodeCheckpoint } from '../../src/train/checkpoint.ts';
import { saveCheckpointDir } from '../../src/train/checkpoint-node.ts';
import { promptIds } from '../../src/train/evaluate.ts';
import { getRuntime } from '../helpers/gpu.ts';

async function checkpoint(): Promise<string> {
  const hf = tinyConfig('llama', { hidden: 32, layers: 1, heads: 2, kvHeads: 1, intermediate: 48, maxPositions: 96 });
  const { arch, config } = parseConfig(hf);
  const weights = initialize(arch.parameters(config), 5);
  const dir = join(mkdtempSync(join(tmpdir(), 'pupil-serve-')), 'ckpt');
  const zeros = new Map([...weights].map(([k, v]) => [k, new Float32Array(v.length)]));
  const state = { step: 1, epoch: 0, positionInEpoch: 1, schedule: { lr: 1e-3, warmupSteps: 0, totalSteps: 2, kind: 'constant' as const }, rng: { seed: 1 } };
  await saveCheckpointDir(dir, encodeCheckpoint({ params: weights, shapes: new Map(arch.parameters(config).map((s) => [s.name, s.shape])), m: zeros, v: zeros, state, config: hf }));
  return dir;
}

const MESSAGES = [{ role: 'user' as const, content: 'Say hi.' }];
let student: LoadedStudent;
let lm: GpuCausalLM;
let server: RunningServer;
let teacher: OpenAITeacher;
let dir: string;

beforeAll(async () => {
  dir = await checkpoint();
  student = await loadStudent(dir, { rt: await getRuntime() });
  lm = new GpuCausalLM(student.rt, student.config, student.store);
  const renderer = resolveRenderer('auto', student.tokenizer);
  server = await startChatServer({ model: lm, tokenizer: student.tokenizer, renderer, modelName: 'tiny', defaultMaxTokens: 8 });
  teacher = new OpenAITeacher({ baseUrl: server.baseUrl, model: 'tiny', apiKey: 'sk-secret-123', retries: 0 });
});

afterAll(async () => {
  await server?.close();
  lm?.destroy();
  student?.destroy();
});

/** The reply the generation loop gives in-process for the same prompt, sampling and seed. */
async function direct(seed: number, maxNewTokens: number, temperature: number) {
  const ids = promptIds(resolveRenderer('auto', student.tokenizer), student.tokenizer, MESSAGES);
  return generateText(lm, ids, { tokenizer: student.tokenizer, maxNewTokens, sampling: { temperature, topP: 1 }, rng: new Rng(seed) });
}

describe('pupil serve', () => {
  it('answers non-streaming like the generation loop, with usage and finish reason', async () => {
    const r = await teacher.generate(MESSAGES, { maxTokens: 12, temperature: 1, seed: 7 });
    const want = await direct(7, 12, 1);
    expect(r.text).toBe(want.text);
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.usage).toEqual({ promptTokens: want.promptTokens, completionTokens: want.tokens.length });
    expect(r.finishReason).toBe(want.finishReason === 'length' ? 'length' : 'stop');
    const other = await teacher.generate(MESSAGES, { maxTokens: 12, temperature: 1, seed: 8 });
    expect(other.text).not.toBe(r.text);
  });

  it('streams deltas that concatenate to the final text', async () => {
    const deltas: string[] = [];
    const r = await teacher.generate(MESSAGES, { maxTokens: 12, temperature: 1, seed: 7, onText: (d) => deltas.push(d) });
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(r.text);
    expect(r.text).toBe((await direct(7, 12, 1)).text);
    expect(r.usage?.completionTokens).toBeGreaterThan(0);
  });

  it('reports log-probabilities: top-k sorted, the greedy token first, matching a CPU log-softmax', async () => {
    const k = 3;
    const r = await teacher.generate(MESSAGES, { maxTokens: 5, temperature: 0, topLogprobs: k });
    const s = await teacher.generate(MESSAGES, { maxTokens: 5, temperature: 0, topLogprobs: k, onText: () => {} });
    expect(s.logprobs).toEqual(r.logprobs);
    const lp = r.logprobs!;
    expect(lp.length).toBe(5);
    expect(lp.map((t) => t.token).join('')).toBe(r.text);
    // The first token's distribution, from the prompt's logits (f32 on GPU vs f64 sum: 1e-4).
    const ids = promptIds(resolveRenderer('auto', student.tokenizer), student.tokenizer, MESSAGES);
    lm.reset();
    const logits = Float64Array.from(await lm.prefill(Int32Array.from(ids)));
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((a, x) => a + Math.exp(x - max), 0));
    const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a]);
    for (let i = 0; i < k; i++) expect(lp[0].top[i].logprob).toBeCloseTo(logits[order[i]] - lse, 4);
    for (const t of lp) {
      expect(t.top.length).toBe(k);
      for (let i = 1; i < k; i++) expect(t.top[i].logprob).toBeLessThanOrEqual(t.top[i - 1].logprob);
      // Greedy: the chosen token is the most likely one.
      expect(t.logprob).toBeCloseTo(t.top[0].logprob, 6);
      expect(t.logprob).toBeLessThan(0);
    }
  });

  it('lists the model, queues concurrent requests, stops at a stop string', async () => {
    const models = await (await fetch(`${server.baseUrl}/models`)).json();
    expect(models).toEqual({ object: 'list', data: [{ id: 'tiny', object: 'model', created: 0, owned_by: 'pupil' }] });
    const seeds = [1, 2, 3, 4];
    const replies = await Promise.all(seeds.map((seed) => teacher.generate(MESSAGES, { maxTokens: 40, temperature: 1, seed })));
    for (const [i, seed] of seeds.entries()) expect(replies[i].text).toBe((await direct(seed, 40, 1)).text);
    const full = (await direct(7, 12, 1)).text;
    const stop = full.slice(3, 5);
    const cut = await teacher.generate(MESSAGES, { maxTokens: 12, temperature: 1, seed: 7, stop: [stop] });
    expect(cut.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(cut.finishReason).toBe('stop');
  });

  it('rejects bad requests with a 400 naming the field, and never shows the API key', async () => {
    const post = (body: unknown) => fetch(`${server.baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const cases: [unknown, string | null, RegExp][] = [
      [{ messages: [] }, 'messages', /messages must be a non-empty array/],
      [{ messages: MESSAGES, max_tokens: 0 }, 'max_tokens', /max_tokens must be an integer >= 1, got 0/],
      [{ messages: MESSAGES, temperature: 3 }, 'temperature', /temperature must be a number in \[0, 2\]/],
      [{ messages: [{ role: 'bot', content: 'x' }] }, 'messages[0].role', /messages\[0\]\.role must be system, user or assistant/],
      [{ messages: MESSAGES, top_logprobs: 2 }, 'top_logprobs', /needs logprobs: true/],
      [{ messages: MESSAGES, stop: [''] }, 'stop', /non-empty strings/],
    ];
    for (const [body, param, message] of cases) {
      const res = await post(body);
      expect(res.status).toBe(400);
      const j = (await res.json()) as { error: { message: string; type: string; param: string | null } };
      expect(j.error.type).toBe('invalid_request_error');
      expect(j.error.param).toBe(param);
      expect(j.error.message).toMatch(message);
    }
    const bad = await fetch(`${server.baseUrl}/chat/completions`, { method: 'POST', body: '{' });
    expect(bad.status).toBe(400);
    const err = await teacher.generate(MESSAGES, { maxTokens: 1, temperature: 9 }).catch((e) => e);
    expect(err).toBeInstanceOf(TeacherHttpError);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/HTTP 400: temperature must be/);
    expect(JSON.stringify(teacher)).not.toMatch(/secret/);
  });

  it('CORS: preflight 204, allow-origin on JSON, streamed and error replies; one origin; off', async () => {
    const pre = await fetch(`${server.baseUrl}/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/content-type/);
    const origin = { origin: 'http://localhost:5173', 'content-type': 'application/json' };
    const models = await fetch(`${server.baseUrl}/models`, { headers: origin });
    expect(models.headers.get('access-control-allow-origin')).toBe('*');
    const streamed = await fetch(`${server.baseUrl}/chat/completions`, { method: 'POST', headers: origin, body: JSON.stringify({ messages: MESSAGES, max_tokens: 2, stream: true }) });
    expect(streamed.headers.get('content-type')).toBe('text/event-stream');
    expect(streamed.headers.get('access-control-allow-origin')).toBe('*');
    expect(await streamed.text()).toMatch(/\[DONE\]/);
    const bad = await fetch(`${server.baseUrl}/chat/completions`, { method: 'POST', headers: origin, body: '{' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('access-control-allow-origin')).toBe('*');
    const missing = await fetch(`${server.baseUrl}/nothing`, { headers: origin });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('access-control-allow-origin')).toBe('*');

    const renderer = resolveRenderer('auto', student.tokenizer);
    const one = await startChatServer({ model: lm, tokenizer: student.tokenizer, renderer, modelName: 'tiny', cors: 'http://localhost:5173' });
    const off = await startChatServer({ model: lm, tokenizer: student.tokenizer, renderer, modelName: 'tiny', cors: false });
    try {
      const p1 = await fetch(`${one.baseUrl}/chat/completions`, { method: 'OPTIONS', headers: { origin: 'http://evil.test', 'access-control-request-method': 'POST', 'access-control-request-private-network': 'true' } });
      expect(p1.status).toBe(204);
      // Not "*": a browser on another origin compares and refuses.
      expect(p1.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
      expect(p1.headers.get('access-control-allow-private-network')).toBe('true');
      expect(p1.headers.get('vary')).toMatch(/origin/i);
      const p2 = await fetch(`${off.baseUrl}/chat/completions`, { method: 'OPTIONS', headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' } });
      expect(p2.status).toBe(405);
      expect(p2.headers.get('access-control-allow-origin')).toBeNull();
      expect((await fetch(`${off.baseUrl}/models`, { headers: origin })).headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await one.close();
      await off.close();
    }
  });

  it('pupil serve: listens, answers, stops on SIGINT; says what is wrong with its arguments', async () => {
    const child = spawn(process.execPath, ['bin/pupil.js', 'serve', '--checkpoint', dir, '--port', '0', '--model-name', 'cli-tiny', '--cors-origin', 'http://localhost:5173'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const url = await new Promise<string>((res, rej) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /at (http:\/\/\S+) /.exec(out);
        if (m) res(m[1]);
      });
      child.on('exit', (code) => rej(new Error(`exited ${code}: ${out}`)));
    });
    const models = (await (await fetch(`${url}/models`)).json()) as { data: { id: string }[] };
    expect(models.data[0].id).toBe('cli-tiny');
    expect(out).toMatch(/CORS http:\/\/localhost:5173/);
    const pre = await fetch(`${url}/chat/completions`, { method: 'OPTIONS', headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const r = await new OpenAITeacher({ baseUrl: url, model: 'cli-tiny' }).generate(MESSAGES, { maxTokens: 12, temperature: 1, seed: 7 });
    expect(r.text).toBe((await direct(7, 12, 1)).text);
    const code = new Promise((res) => child.on('exit', res));
    child.kill('SIGINT');
    expect(await code).toBe(0);
    const bad = spawnSync(process.execPath, ['bin/pupil.js', 'serve', '--checkpoint', dir, '--port', '70000'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/pupil serve: --port/);
    expect(spawnSync(process.execPath, ['bin/pupil.js', 'serve'], { encoding: 'utf8' }).stderr).toMatch(/--checkpoint DIR is missing/);
    const badOrigin = spawnSync(process.execPath, ['bin/pupil.js', 'serve', '--checkpoint', dir, '--cors-origin', 'http://x.test/path'], { encoding: 'utf8' });
    expect(badOrigin.status).toBe(2);
    expect(badOrigin.stderr).toMatch(/--cors-origin must be/);
    const both = spawnSync(process.execPath, ['bin/pupil.js', 'serve', '--checkpoint', dir, '--cors-origin', 'http://x.test', '--no-cors'], { encoding: 'utf8' });
    expect(both.stderr).toMatch(/--no-cors and --cors-origin/);
  }, 60_000);
});
