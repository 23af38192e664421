// A teacher running in-process through @huggingface/transformers (transformers.js): any ONNX
// text-generation model on the Hub (onnx-community/*, Xenova/*) or a Pupil model exported with
// `pupil export --format onnx`, on WebGPU or WASM in a page and onnxruntime-node ('cpu') in Node.
//
// The library is imported dynamically inside load(), never at module level, so it stays out of
// the page's default bundle and the training Worker until someone picks this teacher.
//
// In a page or a Worker transformers.js runs onnxruntime-web, whose WebAssembly runtime it would
// fetch from a CDN (jsDelivr) by default. load() points it at the .wasm our own build serves
// instead (a Vite `?url` asset, emitted once and fetched only when a session starts), so the
// teacher works offline and no request leaves the page's origin except for the model's files.
//
// transformers.js keeps its settings (remote host, path template, fetch, cache) in one global
// `env`: load() sets them for the duration of its downloads and puts back what it found.
// generate() applies the model's chat template, then the library's own generate() with a
// streamer (streaming), a StoppingCriteria (stop strings and abort) and, for log-probabilities,
// a tap on the model's forward that reads each step's raw logits (generate() returns no scores).
import { IncrementalDecoder, StopMatcher } from '../../generate/stop.ts';
import { tokenLogprobs, type Teacher, type TeacherMessage, type TeacherOptions, type TeacherReply, type TokenLogprobs } from '../teacher.ts';

export type TransformersDevice = 'webgpu' | 'wasm' | 'cpu';

export interface TransformersTeacherOptions {
  /** A Hub repo id ("onnx-community/Qwen2.5-0.5B-Instruct"), or the URL of a folder holding the files. */
  model: string;
  /** Default: 'webgpu' in a page with WebGPU, else 'wasm'; in Node 'cpu' (onnxruntime-node). */
  device?: TransformersDevice;
  /** transformers.js dtype ('fp32', 'fp16', 'q8', 'q4', ...); default: the model's config, else the library's. */
  dtype?: string;
  /** Where Hub ids resolve (default the Hub, https://huggingface.co/); tests pass a local server. */
  remoteHost?: string;
  /** Revision (branch, tag or commit) of a Hub id; default main. */
  revision?: string;
  onProgress?: (p: { file: string; loaded: number; total: number }) => void;
  signal?: AbortSignal;
  /**
   * Page/Worker: where onnxruntime-web's runtime comes from, as onnxruntime-web's `env.wasm.wasmPaths`
   * (a folder URL ending in '/' holding ort-wasm-simd-threaded.asyncify.{mjs,wasm}, or
   * `{ wasm, mjs }`). Default: the .wasm bundled with the app. It is global and fixed once the
   * first session starts, so only the first load() in a page can set it.
   */
  wasmPaths?: string | { wasm?: string; mjs?: string };
  /**
   * Page/Worker: keep downloaded model files in the Cache API ("transformers-cache"), so a
   * second load works offline; default true.
   */
  browserCache?: boolean;
  /**
   * Node: where downloads are cached (default: the library's .cache folder in node_modules). In
   * Node transformers.js hands onnxruntime the model as a file of this cache, so it cannot be off.
   */
  cacheDir?: string;
}

type TJS = typeof import('@huggingface/transformers');
type Model = Awaited<ReturnType<TJS['AutoModelForCausalLM']['from_pretrained']>>;
type Tokenizer = Awaited<ReturnType<TJS['AutoTokenizer']['from_pretrained']>>;
type TensorLike = { data: ArrayLike<number | bigint>; dims: number[] };

const DEFAULT_MAX_TOKENS = 256;

export class TransformersTeacher implements Teacher {
  readonly name: string;

  private constructor(
    private readonly lib: TJS,
    private readonly model: Model,
    private readonly tokenizer: Tokenizer,
    readonly modelId: string,
    readonly device: TransformersDevice,
  ) {
    this.name = `transformers:${modelId} (${device})`;
  }

  static async load(opts: TransformersTeacherOptions): Promise<TransformersTeacher> {
    opts.signal?.throwIfAborted();
    const lib = await import('@huggingface/transformers');
    const { env } = lib;
    const inNode = typeof process !== 'undefined' && !!process.versions?.node;
    const device: TransformersDevice = opts.device ?? (inNode ? 'cpu' : typeof navigator !== 'undefined' && 'gpu' in navigator ? 'webgpu' : 'wasm');

    let id = opts.model;
    let host = opts.remoteHost ?? 'https://huggingface.co/';
    let template = '{model}/resolve/{revision}/';
    if (/^https?:\/\//.test(id)) {
      // A folder URL: the host is its origin and the "model" its path, with no /resolve/ part.
      const url = new URL(id.replace(/\/+$/, ''));
      host = `${url.origin}/`;
      id = url.pathname.replace(/^\/+/, '');
      template = '{model}/';
    } else if (!/^[\w.-]+(\/[\w.-]+)?$/.test(id)) {
      throw new Error(`TransformersTeacher: model ${JSON.stringify(opts.model)} is neither a Hub repo id (owner/name) nor an http(s) URL`);
    }
    if (!inNode) await useLocalRuntime(env, opts.wasmPaths);
    const saved = { remoteHost: env.remoteHost, remotePathTemplate: env.remotePathTemplate, fetch: env.fetch, cacheDir: env.cacheDir, useFSCache: env.useFSCache, useBrowserCache: env.useBrowserCache, allowRemoteModels: env.allowRemoteModels };
    if (opts.browserCache === false) env.useBrowserCache = false;
    env.remoteHost = host.endsWith('/') ? host : `${host}/`;
    env.remotePathTemplate = template;
    env.allowRemoteModels = true;
    if (opts.cacheDir) env.cacheDir = opts.cacheDir;
    const signal = opts.signal;
    if (signal && saved.fetch) {
      const inner = saved.fetch;
      env.fetch = (input, init) => inner(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal });
    }
    const progress_callback = opts.onProgress
      ? (p: { status: string; file?: string; loaded?: number; total?: number }) => {
          if (p.status === 'progress' && p.file) opts.onProgress!({ file: p.file, loaded: p.loaded ?? 0, total: p.total ?? 0 });
        }
      : undefined;
    try {
      const common = { revision: opts.revision ?? 'main', progress_callback: progress_callback as never };
      const tokenizer = await lib.AutoTokenizer.from_pretrained(id, common);
      signal?.throwIfAborted();
      const model = await lib.AutoModelForCausalLM.from_pretrained(id, { ...common, device, ...(opts.dtype ? { dtype: opts.dtype as never } : {}) });
      signal?.throwIfAborted();
      return new TransformersTeacher(lib, model, tokenizer, opts.model, device);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw new Error(`TransformersTeacher: could not load ${opts.model} from ${env.remoteHost} on ${device}: ${(e as Error).message}`, { cause: e });
    } finally {
      Object.assign(env, saved);
    }
  }

  async generate(messages: TeacherMessage[], options: TeacherOptions = {}): Promise<TeacherReply> {
    const o = options;
    o.signal?.throwIfAborted();
    const maxTokens = o.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (!(Number.isInteger(maxTokens) && maxTokens >= 1)) throw new Error(`TransformersTeacher: maxTokens must be a positive integer, got ${o.maxTokens}`);
    const k = o.topLogprobs;
    if (k !== undefined && !(Number.isInteger(k) && k >= 0)) throw new Error(`TransformersTeacher: topLogprobs must be an integer >= 0, got ${k}`);
    const temperature = o.temperature ?? 0;
    if (!(temperature >= 0)) throw new Error(`TransformersTeacher: temperature must be >= 0, got ${o.temperature}`);
    const { lib, model, tokenizer } = this;

    const inputs = tokenizer.apply_chat_template(messages, { add_generation_prompt: true, return_dict: true }) as unknown as { input_ids: TensorLike; attention_mask: TensorLike };
    const promptTokens = inputs.input_ids.dims[1];
    const decode = (ids: number[]) => tokenizer.decode(ids, { skip_special_tokens: true });

    // Generated ids as they come (the streamer hears each one before the stopping criteria run).
    const generated: number[] = [];
    const stops = (o.stop ?? []).filter((s) => s.length > 0);
    let stopHit = false;
    let cancelled = false;
    const matcher = new StopMatcher(stops);
    // Each token's text, decoded incrementally (a few tokens of context, not the whole reply), goes
    // through the stop matcher, so a stop string ends generation at its token (the final cut below
    // is exact) and onText hears only text before it.
    const incremental = new IncrementalDecoder({ decode: (ids, d) => tokenizer.decode(Array.from(ids), { skip_special_tokens: d?.skipSpecial ?? true }) }, Array.from(inputs.input_ids.data as ArrayLike<bigint | number>, Number));
    let streamed = '';
    // generate() hands each new token to a streamer; a BaseStreamer rather than the TextStreamer,
    // whose put() re-decodes its whole cache of text on every token.
    class Streamer extends lib.BaseStreamer {
      private prompt = true;
      override put(value: bigint[][]): void {
        if (this.prompt) {
          this.prompt = false; // the first call carries the prompt
          return;
        }
        for (const t of value[0]) {
          const id = Number(t);
          generated.push(id);
          // Runs after sampling and before the next forward: `last` holds this token's logits.
          if (k !== undefined && last) logprobs.push(tokenLogprobs(last, id, k, piece));
          if (stopHit) continue;
          const { text: safe, stopped } = matcher.push(incremental.push(id));
          if (safe && o.onText) o.onText((streamed += safe, safe));
          if (stopped) stopHit = true;
        }
      }
      override end(): void {}
    }
    const streamer = new Streamer();
    class Criteria extends lib.StoppingCriteria {
      override _call(ids: number[][]): boolean[] {
        if (o.signal?.aborted) cancelled = true;
        return ids.map(() => cancelled || stopHit);
      }
    }

    // Log-probabilities: the raw logits of the last position, read on the forward's way out (only
    // the latest row is kept: the token callback turns it into an entry before the next forward).
    const logprobs: TokenLogprobs[] = [];
    const piece = (id: number) => tokenizer.decode([id], { skip_special_tokens: false });
    let last: Float32Array | undefined;
    const forward = model.forward;
    if (k !== undefined) {
      model.forward = async (feeds: unknown) => {
        const out = (await forward.call(model, feeds)) as { logits: TensorLike };
        const [, S, V] = out.logits.dims;
        if (last?.length !== V) last = new Float32Array(V);
        last.set((out.logits.data as Float32Array).subarray((S - 1) * V, S * V));
        return out;
      };
    }
    if (o.seed !== undefined) lib.random.seed(o.seed);
    try {
      await model.generate({
        ...inputs,
        max_new_tokens: maxTokens,
        do_sample: temperature > 0,
        ...(temperature > 0 ? { temperature, top_p: o.topP ?? 1, top_k: 0 } : {}),
        streamer,
        stopping_criteria: [new Criteria()],
      } as never);
    } finally {
      if (k !== undefined) model.forward = forward;
    }

    // The text: decoded generated tokens, cut at the first stop string.
    let text = decode(generated);
    let finishReason: TeacherReply['finishReason'] = cancelled ? 'cancelled' : 'length';
    let eos = false;
    const cut = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
    if (cut.length) {
      text = text.slice(0, Math.min(...cut));
      finishReason = 'stop';
    } else if (!cancelled && generated.length < maxTokens) {
      finishReason = 'stop'; // the model's EOS token
      eos = true;
    }
    if (o.onText && !cancelled) {
      // What the streamer still held (its last word) or the matcher held back, up to the cut.
      const rest = text.slice(streamed.length);
      if (text.startsWith(streamed) && rest) o.onText(rest);
    }
    const reply: TeacherReply = { text, finishReason, usage: { promptTokens, completionTokens: generated.length } };
    // As for the other teachers: no entry for the EOS token.
    if (k !== undefined) reply.logprobs = eos ? logprobs.slice(0, generated.length - 1) : logprobs.slice(0, generated.length);
    return reply;
  }

  /** Token ids of a conversation as generate() feeds them (the chat template, no extra specials). */
  promptIds(messages: TeacherMessage[]): number[] {
    const ids = this.tokenizer.apply_chat_template(messages, { add_generation_prompt: true, return_tensor: false, return_dict: false }) as unknown as number[];
    return Array.from(ids, Number);
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}

/**
 * Points onnxruntime-web at a runtime we serve, unless the caller or the app set one already.
 * transformers.js puts a jsDelivr URL in `wasmPaths` when it loads; anything else there was set
 * on purpose and is left alone. Only the .wasm is needed: the onnxruntime-web build transformers
 * imports ("onnxruntime-web/webgpu", the bundle variant) carries the .mjs glue inside itself, and
 * that one build serves both the 'wasm' and the 'webgpu' device.
 */
async function useLocalRuntime(env: TJS['env'], wasmPaths: TransformersTeacherOptions['wasmPaths']): Promise<void> {
  const wasm = env.backends.onnx.wasm as { wasmPaths?: string | { wasm?: string; mjs?: string }; numThreads?: number } | undefined;
  if (!wasm) return;
  if (wasmPaths) {
    wasm.wasmPaths = wasmPaths;
  } else if (!wasm.wasmPaths || isCdn(wasm.wasmPaths)) {
    // A Vite asset URL: in dev the file in node_modules, in a build one hashed file next to the
    // chunks (never inlined, even in library mode). onnxruntime's own `new URL(file,
    // import.meta.url)` would point into Vite's pre-bundle folder in dev, where the file is not.
    const { default: url } = await import('onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url&no-inline');
    wasm.wasmPaths = { wasm: new URL(url, location.href).href };
  }
  // Threads need SharedArrayBuffer (a cross-origin-isolated page); without it onnxruntime warns
  // on every session before falling back to one thread, so ask for one thread from the start.
  if (!globalThis.crossOriginIsolated && !wasm.numThreads) wasm.numThreads = 1;
}

function isCdn(paths: string | { wasm?: string; mjs?: string } | undefined): boolean {
  const urls = typeof paths === 'string' ? [paths] : [paths?.wasm, paths?.mjs];
  return urls.some((u) => typeof u === 'string' && u.startsWith('https://cdn.jsdelivr.net/'));
}

