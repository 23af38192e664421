// A teacher behind any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, llama.cpp
// server, vLLM, `pupil serve`): a concurrency limit shared by all calls, retries with exponential
// backoff on network errors and 5xx, 429 honouring Retry-After, streaming over server-sent events.
// The API key lives in a private field only and is scrubbed from every error message.
import type { Teacher, TeacherMessage, TeacherOptions, TeacherReply, TokenLogprobs } from '../teacher.ts';

export interface OpenAITeacherOptions {
  /** e.g. http://127.0.0.1:8080/v1 (the part before /chat/completions). */
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Requests in flight at once, across all generate() calls (default 4). */
  concurrency?: number;
  /** Extra attempts after a retryable failure (default 3). */
  retries?: number;
  /** Per attempt, ms (default 120 000). */
  timeoutMs?: number;
  /** First backoff delay, doubled each retry, with jitter (default 500 ms). */
  backoffMs?: number;
  /** Longest wait honoured from a Retry-After header (default 60 000 ms). */
  maxRetryAfterMs?: number;
  fetch?: typeof fetch;
}

/** An HTTP failure from the endpoint; `retryable` says whether another attempt could succeed. */
export class TeacherHttpError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Keeps at most `n` tasks running. */
class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `active` stays the same.
      if (next) next();
      else this.active--;
    }
  }
}

export class OpenAITeacher implements Teacher {
  readonly name: string;
  readonly baseUrl: string;
  readonly model: string;
  #apiKey: string | undefined;
  private readonly retries: number;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly fetch: typeof fetch;
  private readonly slots: Semaphore;

  constructor(o: OpenAITeacherOptions) {
    if (!/^https?:\/\//.test(o.baseUrl)) throw new Error(`OpenAITeacher: baseUrl must start with http:// or https://, got ${o.baseUrl}`);
    if (!o.model) throw new Error('OpenAITeacher: model is missing');
    const concurrency = o.concurrency ?? 4;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`OpenAITeacher: concurrency must be an integer >= 1, got ${concurrency}`);
    const retries = o.retries ?? 3;
    if (!Number.isInteger(retries) || retries < 0) throw new Error(`OpenAITeacher: retries must be an integer >= 0, got ${retries}`);
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    this.model = o.model;
    this.#apiKey = o.apiKey || undefined;
    this.retries = retries;
    this.timeoutMs = o.timeoutMs ?? 120_000;
    this.backoffMs = o.backoffMs ?? 500;
    this.maxRetryAfterMs = o.maxRetryAfterMs ?? 60_000;
    this.fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.slots = new Semaphore(concurrency);
    this.name = `openai:${this.baseUrl} model=${this.model}`;
  }

  /** Never shows the key (console.log, JSON.stringify). */
  toJSON() {
    return { name: this.name, baseUrl: this.baseUrl, model: this.model };
  }

  generate(messages: TeacherMessage[], options: TeacherOptions = {}): Promise<TeacherReply> {
    return this.slots.run(() => this.withRetries(messages, options));
  }

  private async withRetries(messages: TeacherMessage[], o: TeacherOptions): Promise<TeacherReply> {
    for (let attempt = 0; ; attempt++) {
      let emitted = false;
      const onText = o.onText && ((d: string) => ((emitted = true), o.onText!(d)));
      try {
        return await this.once(messages, { ...o, onText });
      } catch (e) {
        if (o.signal?.aborted) throw this.scrub(e);
        const err = e instanceof TeacherHttpError ? e : new TeacherHttpError(`${this.name}: ${(e as Error).message ?? e}`, undefined, true);
        // Text already streamed to the caller cannot be taken back, so that attempt is final.
        if (!err.retryable || attempt >= this.retries || emitted) throw this.scrub(err);
        const backoff = this.backoffMs * 2 ** attempt * (0.5 + Math.random() / 2);
        await sleep(err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, this.maxRetryAfterMs) : backoff, o.signal);
      }
    }
  }

  private scrub(e: unknown): Error {
    const err = e instanceof Error ? e : new Error(String(e));
    const key = this.#apiKey;
    if (key && err.message.includes(key)) err.message = err.message.split(key).join('***');
    if (key && err.stack?.includes(key)) err.stack = err.stack.split(key).join('***');
    return err;
  }

  private async once(messages: TeacherMessage[], o: TeacherOptions): Promise<TeacherReply> {
    const stream = o.onText !== undefined;
    const body: Record<string, unknown> = { model: this.model, messages, stream };
    if (o.maxTokens !== undefined) body.max_tokens = o.maxTokens;
    if (o.temperature !== undefined) body.temperature = o.temperature;
    if (o.topP !== undefined) body.top_p = o.topP;
    if (o.stop?.length) body.stop = o.stop;
    if (o.seed !== undefined) body.seed = o.seed;
    if (o.topLogprobs !== undefined) {
      body.logprobs = true;
      body.top_logprobs = o.topLogprobs;
    }
    if (stream) body.stream_options = { include_usage: true };
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json' };
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await this.fetch(`${this.baseUrl}/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body), signal });
    } catch (e) {
      if (timeout.aborted && !o.signal?.aborted) throw new TeacherHttpError(`${this.name}: no answer within ${this.timeoutMs} ms`, undefined, true);
      throw e;
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let detail = text.slice(0, 500);
      try {
        detail = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? detail;
      } catch {}
      const retryable = res.status === 429 || res.status === 408 || res.status >= 500;
      throw new TeacherHttpError(`${this.name}: HTTP ${res.status}${detail ? `: ${detail}` : ''}`, res.status, retryable, res.status === 429 ? retryAfterMs(res.headers.get('retry-after')) : undefined);
    }
    return stream ? this.readStream(res, o.onText!) : this.readJson(await res.json());
  }

  private readJson(j: unknown): TeacherReply {
    const choice = (j as { choices?: unknown[] }).choices?.[0] as { message?: { content?: string | null }; finish_reason?: string; logprobs?: { content?: unknown[] } | null } | undefined;
    if (!choice) throw new TeacherHttpError(`${this.name}: the reply has no choices`, 200, false);
    const reply: TeacherReply = { text: choice.message?.content ?? '', finishReason: choice.finish_reason ?? 'stop' };
    if (choice.logprobs?.content) reply.logprobs = choice.logprobs.content.map(toTokenLogprobs);
    const usage = usageOf(j);
    if (usage) reply.usage = usage;
    return reply;
  }

  private async readStream(res: Response, onText: (d: string) => void): Promise<TeacherReply> {
    if (!res.body) throw new TeacherHttpError(`${this.name}: the streamed reply has no body`, res.status, true);
    let text = '';
    let finishReason: string | undefined;
    let logprobs: TokenLogprobs[] | undefined;
    let usage: TeacherReply['usage'];
    let done = false;
    const onData = (data: string) => {
      if (data === '[DONE]') {
        done = true;
        return;
      }
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(data);
      } catch {
        throw new TeacherHttpError(`${this.name}: bad event in the stream: ${data.slice(0, 200)}`, res.status, false);
      }
      const err = (j as { error?: { message?: string } }).error;
      if (err) throw new TeacherHttpError(`${this.name}: error in the stream: ${err.message ?? JSON.stringify(err)}`, res.status, false);
      const choice = (j.choices as unknown[] | undefined)?.[0] as { delta?: { content?: string | null }; finish_reason?: string | null; logprobs?: { content?: unknown[] } | null } | undefined;
      const delta = choice?.delta?.content;
      if (delta) {
        text += delta;
        onText(delta);
      }
      if (choice?.logprobs?.content) (logprobs ??= []).push(...choice.logprobs.content.map(toTokenLogprobs));
      if (choice?.finish_reason) finishReason = choice.finish_reason;
      usage = usageOf(j) ?? usage;
    };
    const decoder = new TextDecoder();
    let buf = '';
    let dataLines: string[] = [];
    // SSE: lines of `field: value`; an empty line ends an event, whose data lines join with \n.
    const line = (l: string) => {
      if (l === '') {
        if (dataLines.length) onData(dataLines.join('\n'));
        dataLines = [];
      } else if (l.startsWith('data:')) dataLines.push(l.slice(l[5] === ' ' ? 6 : 5));
    };
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + (buf.startsWith('\r\n', i) ? 2 : 1));
        line(l);
        if (done) break;
      }
      if (done) break;
    }
    if (!done) {
      line(buf);
      line('');
    }
    if (!done && finishReason === undefined) throw new TeacherHttpError(`${this.name}: the stream ended early`, res.status, true);
    const reply: TeacherReply = { text, finishReason: finishReason ?? 'stop' };
    if (logprobs) reply.logprobs = logprobs;
    if (usage) reply.usage = usage;
    return reply;
  }
}

function toTokenLogprobs(x: unknown): TokenLogprobs {
  const t = x as { token: string; logprob: number; top_logprobs?: { token: string; logprob: number }[] };
  return { token: t.token, logprob: t.logprob, top: (t.top_logprobs ?? []).map((a) => ({ token: a.token, logprob: a.logprob })) };
}

function usageOf(j: unknown): TeacherReply['usage'] | undefined {
  const u = (j as { usage?: { prompt_tokens?: number; completion_tokens?: number } | null }).usage;
  return u && typeof u.prompt_tokens === 'number' ? { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens ?? 0 } : undefined;
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(h: string | null): number | undefined {
  if (!h) return undefined;
  const s = Number(h);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const t = Date.parse(h);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal?.aborted) return rej(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      rej(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
