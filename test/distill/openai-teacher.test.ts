// The endpoint teacher against a small local fault server (node:http on 127.0.0.1): retries with
// backoff on 5xx and dropped connections, 429 honouring Retry-After, no retry on 4xx, the
// concurrency limit, timeouts, SSE framing (CRLF, events split across reads), and the API key
// sent as a bearer token but never shown in an error. Serving a real model: serve.test.ts.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenAITeacher, retryAfterMs, TeacherHttpError } from '../../src/distill/teachers/openai.ts';

const OK = { id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop', logprobs: null }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } };

type Handler = (req: IncomingMessage, res: ServerResponse, n: number, body: Record<string, unknown>) => void | Promise<void>;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

/** A server whose n-th request (0-based) is answered by `handler`; records arrival times. */
async function faultServer(handler: Handler) {
  const seen: { at: number; auth?: string; body: Record<string, unknown> }[] = [];
  let active = 0;
  const stats = { maxActive: 0 };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    seen.push({ at: Date.now(), auth: req.headers.authorization, body });
    active++;
    stats.maxActive = Math.max(stats.maxActive, active);
    res.on('close', () => active--);
    await handler(req, res, seen.length - 1, body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, seen, stats };
}

const reply = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const MSG = [{ role: 'user' as const, content: 'hi' }];

describe('OpenAITeacher', () => {
  it('retries 5xx and dropped connections with exponential backoff, then succeeds', async () => {
    const s = await faultServer((_req, res, n) => {
      if (n === 0) return reply(res, 503, { error: { message: 'busy' } });
      if (n === 1) return void res.socket?.destroy();
      if (n === 2) return reply(res, 500, { error: { message: 'oops' } });
      reply(res, 200, OK);
    });
    const t = new OpenAITeacher({ baseUrl: s.baseUrl, model: 'm', apiKey: 'sk-abc', backoffMs: 40 });
    const r = await t.generate(MSG, { maxTokens: 5, temperature: 0.5, seed: 3 });
    expect(r).toEqual({ text: 'hello', finishReason: 'stop', usage: { promptTokens: 3, completionTokens: 1 } });
    expect(s.seen.length).toBe(4);
    expect(s.seen[0].auth).toBe('Bearer sk-abc');
    expect(s.seen[0].body).toEqual({ model: 'm', messages: MSG, stream: false, max_tokens: 5, temperature: 0.5, seed: 3 });
    // Delays 40·2^i times a jitter in [0.5, 1]: at least 20, 40, 80 ms.
    const gaps = s.seen.slice(1).map((x, i) => x.at - s.seen[i].at);
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[1]).toBeGreaterThanOrEqual(38);
    expect(gaps[2]).toBeGreaterThanOrEqual(78);
  });

  it('gives up after `retries`, and never retries a 4xx; the key never shows in errors', async () => {
    const s = await faultServer((req, res, n) => (n < 10 ? reply(res, 502, { error: { message: `bad gateway for ${req.headers.authorization}` } }) : reply(res, 200, OK)));
    const t = new OpenAITeacher({ baseUrl: s.baseUrl, model: 'm', apiKey: 'sk-very-secret', retries: 2, backoffMs: 5 });
    const e = await t.generate(MSG).catch((x) => x);
    expect(e).toBeInstanceOf(TeacherHttpError);
    expect(s.seen.length).toBe(3);
    expect(e.message).toMatch(/HTTP 502: bad gateway for Bearer \*\*\*/);
    expect(e.message + e.stack).not.toMatch(/very-secret/);
    expect(JSON.stringify(t)).not.toMatch(/very-secret/);
    const s4 = await faultServer((_q, res) => reply(res, 401, { error: { message: 'bad key' } }));
    const t4 = new OpenAITeacher({ baseUrl: s4.baseUrl, model: 'm', apiKey: 'sk-4xx-key', backoffMs: 5 });
    await expect(t4.generate(MSG)).rejects.toThrow(/HTTP 401: bad key/);
    expect(s4.seen.length).toBe(1);
  });

  it('honours Retry-After on 429', async () => {
    const s = await faultServer((_q, res, n) => (n === 0 ? reply(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '1' }) : reply(res, 200, OK)));
    const t = new OpenAITeacher({ baseUrl: s.baseUrl, model: 'm', backoffMs: 1 });
    const r = await t.generate(MSG);
    expect(r.text).toBe('hello');
    expect(s.seen.length).toBe(2);
    // The backoff alone would wait ~1 ms; Retry-After asks for a second.
    expect(s.seen[1].at - s.seen[0].at).toBeGreaterThanOrEqual(990);
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(retryAfterMs('soon')).toBeUndefined();
  });

  it('keeps at most `concurrency` requests in flight across calls; times out slow attempts', async () => {
    const s = await faultServer(async (_q, res) => {
      await new Promise((r) => setTimeout(r, 30));
      reply(res, 200, OK);
    });
    const t = new OpenAITeacher({ baseUrl: s.baseUrl, model: 'm', concurrency: 2 });
    const rs = await Promise.all(Array.from({ length: 7 }, () => t.generate(MSG)));
    expect(rs.every((r) => r.text === 'hello')).toBe(true);
    expect(s.seen.length).toBe(7);
    expect(s.stats.maxActive).toBe(2);
    const slow = await faultServer(async (_q, res, n) => {
      if (n === 0) await new Promise((r) => setTimeout(r, 400));
      reply(res, 200, OK);
    });
    const ts = new OpenAITeacher({ baseUrl: slow.baseUrl, model: 'm', timeoutMs: 100, backoffMs: 1 });
    expect((await ts.generate(MSG)).text).toBe('hello');
    expect(slow.seen.length).toBe(2);
  });

  it('parses server-sent events split across reads, with CRLF, logprobs and usage', async () => {
    const events = [
      { choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      { choices: [{ index: 0, delta: { content: 'He' }, logprobs: { content: [{ token: 'He', logprob: -0.5, top_logprobs: [{ token: 'He', logprob: -0.5 }, { token: 'Hi', logprob: -1.5 }] }] }, finish_reason: null }] },
      { choices: [{ index: 0, delta: { content: 'llo ✓' }, logprobs: { content: [{ token: 'llo ✓', logprob: -0.25, top_logprobs: [] }] }, finish_reason: null }] },
      { choices: [{ index: 0, delta: {}, finish_reason: 'length' }] },
      { choices: [], usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 } },
    ];
    const wire = Buffer.from(': comment\r\n' + events.map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`).join('') + 'data: [DONE]\r\n\r\n');
    const s = await faultServer(async (_q, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Awkward 7-byte pieces: lines, events and the UTF-8 of ✓ straddle reads.
      for (let i = 0; i < wire.length; i += 7) {
        res.write(wire.subarray(i, i + 7));
        await new Promise((r) => setImmediate(r));
      }
      res.end();
    });
    const t = new OpenAITeacher({ baseUrl: s.baseUrl, model: 'm' });
    const deltas: string[] = [];
    const r = await t.generate(MSG, { topLogprobs: 2, onText: (d) => deltas.push(d) });
    expect(s.seen[0].body).toMatchObject({ stream: true, logprobs: true, top_logprobs: 2, stream_options: { include_usage: true } });
    expect(deltas).toEqual(['He', 'llo ✓']);
    expect(r).toEqual({
      text: 'Hello ✓',
      finishReason: 'length',
      usage: { promptTokens: 4, completionTokens: 2 },
      logprobs: [
        { token: 'He', logprob: -0.5, top: [{ token: 'He', logprob: -0.5 }, { token: 'Hi', logprob: -1.5 }] },
        { token: 'llo ✓', logprob: -0.25, top: [] },
      ],
    });
  });

  it('checks its options', () => {
    expect(() => new OpenAITeacher({ baseUrl: 'localhost:1', model: 'm' })).toThrow(/baseUrl must start with http/);
    expect(() => new OpenAITeacher({ baseUrl: 'http://x', model: 'm', concurrency: 0 })).toThrow(/concurrency must be an integer >= 1, got 0/);
    expect(new OpenAITeacher({ baseUrl: 'http://x/v1/', model: 'q' }).name).toBe('openai:http://x/v1 model=q');
  });
});
