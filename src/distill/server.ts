// An OpenAI-compatible chat-completions server (node:http) in front of one model, so a Pupil
// checkpoint can be a teacher and other tools (and pages, through CORS) can talk to it. Generation,
// the one-at-a-time queue and log-probabilities are PupilTeacher's (teachers/pupil.ts); this file
// is the HTTP and OpenAI wire format around it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatRenderer } from '../data/template.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import type { CausalLM } from '../generate/index.ts';
import type { TeacherMessage, TokenLogprobs } from './teacher.ts';
import { PupilTeacher } from './teachers/pupil.ts';

/** The model: a PupilTeacher, or its parts (a teacher is then made over them). */
export type ChatServerOptions = ({ teacher: PupilTeacher } | { model: CausalLM; tokenizer: TextTokenizer; renderer: ChatRenderer }) & {
  /** The id /v1/models lists and replies carry. */
  modelName: string;
  /** max_tokens when a request gives none (default 256; the cache bounds it too). */
  defaultMaxTokens?: number;
  /** Origins allowed to call from a browser: '*' (the default), one or several origins, or false (no CORS headers). */
  cors?: string | string[] | false;
};

export interface RunningServer {
  server: Server;
  /** e.g. http://127.0.0.1:8080/v1 */
  baseUrl: string;
  port: number;
  close(): Promise<void>;
}

/** A request's generation settings, validated. */
export interface ChatRequest {
  messages: TeacherMessage[];
  maxTokens?: number;
  temperature: number;
  topP: number;
  stop: string[];
  seed?: number;
  logprobs: boolean;
  topLogprobs: number;
  stream: boolean;
  includeUsage: boolean;
}

/** A 400 with the OpenAI error shape; `param` names the offending field. */
export class BadRequest extends Error {
  constructor(
    message: string,
    readonly param: string | null,
  ) {
    super(message);
  }
}

const MAX_BODY = 8 << 20;
const ROLES = new Set(['system', 'user', 'assistant']);

/** Validates an OpenAI chat-completions body (the fields we honour; unknown ones are ignored). */
export function parseChatRequest(body: unknown): ChatRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('the body must be a JSON object', null);
  const b = body as Record<string, unknown>;
  const num = (name: string, ok: (x: number) => boolean, want: string): number | undefined => {
    const v = b[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !ok(v)) throw new BadRequest(`${name} must be ${want}, got ${JSON.stringify(v)}`, name);
    return v;
  };
  const bool = (name: string): boolean => {
    const v = b[name];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') throw new BadRequest(`${name} must be a boolean, got ${JSON.stringify(v)}`, name);
    return v;
  };
  if (!Array.isArray(b.messages) || b.messages.length === 0) throw new BadRequest('messages must be a non-empty array', 'messages');
  const messages = b.messages.map((m, i): TeacherMessage => {
    const where = `messages[${i}]`;
    if (typeof m !== 'object' || m === null) throw new BadRequest(`${where} must be an object`, where);
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.has(role)) throw new BadRequest(`${where}.role must be system, user or assistant, got ${JSON.stringify(role)}`, `${where}.role`);
    let text: string;
    if (typeof content === 'string') text = content;
    else if (Array.isArray(content) && content.every((p) => p && typeof p === 'object' && (p as { type?: unknown }).type === 'text' && typeof (p as { text?: unknown }).text === 'string')) {
      text = content.map((p) => (p as { text: string }).text).join('');
    } else throw new BadRequest(`${where}.content must be a string or an array of text parts`, `${where}.content`);
    return { role: role as TeacherMessage['role'], content: text };
  });
  const isInt = (x: number) => Number.isInteger(x);
  const maxTokens = num('max_completion_tokens', (x) => isInt(x) && x >= 1, 'an integer >= 1') ?? num('max_tokens', (x) => isInt(x) && x >= 1, 'an integer >= 1');
  const temperature = num('temperature', (x) => x >= 0 && x <= 2, 'a number in [0, 2]') ?? 1;
  const topP = num('top_p', (x) => x > 0 && x <= 1, 'a number in (0, 1]') ?? 1;
  const seed = num('seed', (x) => isInt(x) && x >= 0 && x <= Number.MAX_SAFE_INTEGER, 'a non-negative integer');
  const n = num('n', (x) => x === 1, '1 (one choice per request)');
  void n;
  let stop: string[] = [];
  if (typeof b.stop === 'string') stop = [b.stop];
  else if (Array.isArray(b.stop)) stop = b.stop as string[];
  else if (b.stop !== undefined && b.stop !== null) throw new BadRequest('stop must be a string or an array of strings', 'stop');
  if (stop.length > 4 || stop.some((s) => typeof s !== 'string' || s.length === 0)) throw new BadRequest('stop must hold at most 4 non-empty strings', 'stop');
  const logprobs = bool('logprobs');
  const topLogprobs = num('top_logprobs', (x) => isInt(x) && x >= 0 && x <= 20, 'an integer in [0, 20]');
  if (topLogprobs !== undefined && !logprobs) throw new BadRequest('top_logprobs needs logprobs: true', 'top_logprobs');
  const stream = bool('stream');
  const so = b.stream_options;
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so))) throw new BadRequest('stream_options must be an object', 'stream_options');
  const includeUsage = stream && (so as { include_usage?: unknown } | undefined)?.include_usage === true;
  return { messages, maxTokens, temperature, topP, stop, seed, logprobs, topLogprobs: topLogprobs ?? 0, stream, includeUsage };
}

interface OpenAILogprob { token: string; logprob: number; bytes: number[] | null }

const utf8 = new TextEncoder();

/** The OpenAI shape of a token's log-probabilities (with the UTF-8 bytes of each token). */
function openAILogprob(t: TokenLogprobs): OpenAILogprob & { top_logprobs: OpenAILogprob[] } {
  // A token holding part of a character decodes to U+FFFD alone: its bytes are unknown here.
  const entry = (x: { token: string; logprob: number }) => ({ token: x.token, logprob: x.logprob, bytes: x.token.includes('\uFFFD') ? null : [...utf8.encode(x.token)] });
  return { ...entry(t), top_logprobs: t.top.map(entry) };
}

const finish = (r: string) => (r === 'length' ? 'length' : 'stop');

/** The HTTP handler; generation goes through the teacher's one-at-a-time queue. */
export function createChatServer(opts: ChatServerOptions): Server {
  const teacher = 'teacher' in opts ? opts.teacher : new PupilTeacher({ model: opts.model, tokenizer: opts.tokenizer, renderer: opts.renderer, name: `pupil:${opts.modelName}` });
  const origins = opts.cors === false ? [] : typeof opts.cors === 'string' ? [opts.cors] : (opts.cors ?? ['*']);
  const created = () => Math.floor(Date.now() / 1000);
  let counter = 0;

  async function complete(req: ChatRequest, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const id = `chatcmpl-${Date.now().toString(36)}${(counter++).toString(36)}`;
    const base = { id, created: created(), model: opts.modelName, system_fingerprint: null };
    const sse = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
    const r = await teacher.generate(req.messages, {
      maxTokens: req.maxTokens ?? opts.defaultMaxTokens ?? 256,
      stop: req.stop,
      temperature: req.temperature,
      topP: req.topP,
      seed: req.seed,
      topLogprobs: req.logprobs ? req.topLogprobs : undefined,
      signal,
      onStart: () => {
        if (!req.stream) return;
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        sse({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
      },
      onToken: (ev) => {
        if (req.stream && (ev.text || ev.logprobs)) {
          sse({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: ev.text }, logprobs: ev.logprobs ? { content: [openAILogprob(ev.logprobs)] } : null, finish_reason: null }] });
        }
      },
    });
    const usage = { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.promptTokens + r.usage.completionTokens };
    if (req.stream) {
      sse({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finish(r.finishReason) }] });
      if (req.includeUsage) sse({ ...base, object: 'chat.completion.chunk', choices: [], usage });
      res.end('data: [DONE]\n\n');
      return;
    }
    json(res, 200, {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: r.text }, logprobs: r.logprobs ? { content: r.logprobs.map(openAILogprob) } : null, finish_reason: finish(r.finishReason) }],
      usage,
    });
  }

  /**
   * CORS, so pages (the studio's distillation panel) can call the server: every response carries
   * the allowed origin, errors and streams included; OPTIONS preflights get a 204. With a list of
   * origins, the request's own is echoed when listed (a header holds one origin).
   */
  function cors(req: IncomingMessage, res: ServerResponse): boolean {
    if (origins.length === 0) return false;
    const origin = req.headers.origin;
    const allowed = origins.includes('*') ? '*' : origin && origins.includes(origin) ? origin : origins.length === 1 ? origins[0] : undefined;
    if (allowed) res.setHeader('access-control-allow-origin', allowed);
    if (allowed !== '*') res.setHeader('vary', 'origin');
    if (req.method !== 'OPTIONS') return false;
    res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
    res.setHeader('access-control-allow-headers', 'authorization, content-type');
    res.setHeader('access-control-max-age', '600');
    // Chrome's Private Network Access: a public page asking a server on localhost.
    if (req.headers['access-control-request-private-network'] === 'true') res.setHeader('access-control-allow-private-network', 'true');
    res.writeHead(204).end();
    return true;
  }

  return createServer((req, res) => {
    if (cors(req, res)) return;
    handle(req, res).catch((e) => {
      // A client that went away cancelled its own request: nobody is left to tell.
      if (res.destroyed) return;
      if (!res.headersSent) json(res, 500, errorBody((e as Error).message, 'server_error', null));
      else if (!res.writableEnded) res.end(`data: ${JSON.stringify(errorBody((e as Error).message, 'server_error', null))}\n\n`);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    if (req.method === 'GET' && (path === '/v1/models' || path === '/models')) {
      return json(res, 200, { object: 'list', data: [{ id: opts.modelName, object: 'model', created: 0, owned_by: 'pupil' }] });
    }
    if (path === '/v1/chat/completions' || path === '/chat/completions') {
      if (req.method !== 'POST') return json(res, 405, errorBody(`${req.method} is not allowed here; use POST`, 'invalid_request_error', null));
      let parsed: ChatRequest;
      try {
        const raw = await readBody(req);
        let body: unknown;
        try {
          body = JSON.parse(raw);
        } catch {
          throw new BadRequest('the body is not valid JSON', null);
        }
        parsed = parseChatRequest(body);
      } catch (e) {
        if (e instanceof BadRequest) return json(res, 400, errorBody(e.message, 'invalid_request_error', e.param));
        throw e;
      }
      // A client that goes away cancels its generation (or its place in the queue).
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      return complete(parsed, res, abort.signal);
    }
    json(res, 404, errorBody(`no route ${req.method} ${path}`, 'invalid_request_error', null));
  }
}

/** Starts the server (port 0 = any free port) and resolves once it listens. */
export async function startChatServer(opts: ChatServerOptions & { port?: number; host?: string }): Promise<RunningServer> {
  const server = createChatServer(opts);
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', rej);
      res();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    port,
    baseUrl: `http://${shown}:${port}/v1`,
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

function errorBody(message: string, type: string, param: string | null) {
  return { error: { message, type, param, code: null } };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        rej(new BadRequest(`the body is over ${MAX_BODY} bytes`, null));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => res(Buffer.concat(chunks).toString('utf8')));
    req.on('error', rej);
  });
}
