// One of the user's own Pupil models as a teacher, in-process: the model, its tokenizer and chat
// renderer behind the Teacher interface. `pupil serve` answers HTTP requests through the same
// object, so the generation and log-probability code exists once. Requests run one at a time:
// the model has a single KV cache.
import { resolveRenderer, type ChatRenderer, type TemplateChoice } from '../../data/template.ts';
import type { TextTokenizer } from '../../data/tokenizer.ts';
import { GpuCausalLM, Rng, type CausalLM, type FinishReason, type GenerateResult } from '../../generate/index.ts';
import type { Runtime } from '../../gpu/runtime.ts';
import { usablePositions, type ModelConfig } from '../../models/config.ts';
import type { ParamStore } from '../../models/params.ts';
import { chat } from '../../train/evaluate.ts';
import { tokenLogprobs, type Teacher, type TeacherMessage, type TeacherOptions, type TeacherReply, type TokenLogprobs } from '../teacher.ts';

export interface PupilTeacherInit {
  model: CausalLM;
  tokenizer: TextTokenizer;
  renderer: ChatRenderer;
  /** For provenance, e.g. "pupil:runs/tiny". */
  name: string;
  /** maxTokens when a call gives none (default 256; the cache bounds it too). */
  defaultMaxTokens?: number;
  /** Frees what the teacher owns; destroy() calls it. */
  dispose?: () => void;
}

/** One sampled token, as it streams; `logprobs` is there when asked for (never for EOS). */
export interface PupilTokenEvent {
  token: number;
  text: string;
  logprobs?: TokenLogprobs;
}

export interface PupilGenerateOptions extends TeacherOptions {
  /** Called when the request leaves the queue and generation starts. */
  onStart?: () => void;
  onToken?: (ev: PupilTokenEvent) => void;
}

export interface PupilReply extends TeacherReply {
  usage: { promptTokens: number; completionTokens: number };
  /** The generation loop's own result (finish reason 'eos' vs 'stop', timings). */
  result: GenerateResult;
}

/** A loaded model as `loadStudent` returns it. */
export interface LoadedModel {
  rt: Runtime;
  config: ModelConfig;
  store: ParamStore;
  tokenizer: TextTokenizer;
  destroy?(): void;
}

/** Remembers the logits each step was sampled from (the loop reads them before the next call). */
class LogitsTap implements CausalLM {
  last?: Float32Array;
  constructor(private readonly inner: CausalLM) {}
  get vocabSize() { return this.inner.vocabSize; }
  get maxLength() { return this.inner.maxLength; }
  get length() { return this.inner.length; }
  reset() { this.inner.reset(); }
  async prefill(ids: Int32Array) { return (this.last = await this.inner.prefill(ids)); }
  async decode(id: number) { return (this.last = await this.inner.decode(id)); }
}

const finishReason = (r: FinishReason): TeacherReply['finishReason'] => (r === 'eos' ? 'stop' : r);

export class PupilTeacher implements Teacher {
  readonly name: string;
  readonly tokenizer: TextTokenizer;
  readonly renderer: ChatRenderer;
  private readonly tap: LogitsTap;
  private readonly defaultMaxTokens: number;
  private readonly dispose?: () => void;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(init: PupilTeacherInit) {
    this.name = init.name;
    this.tokenizer = init.tokenizer;
    this.renderer = init.renderer;
    this.tap = new LogitsTap(init.model);
    this.defaultMaxTokens = init.defaultMaxTokens ?? 256;
    this.dispose = init.dispose;
  }

  /** Tokens of prompt and reply together that the model holds. */
  get maxLength(): number {
    return this.tap.maxLength;
  }

  /**
   * A teacher over a loaded model (see src/cli/commands/chat.ts loadStudent): builds the KV-cache
   * model and the renderer; destroy() frees both, and the loaded model too when `owns` is set.
   */
  static fromModel(m: LoadedModel, o: { name: string; template?: TemplateChoice; maxLength?: number; defaultMaxTokens?: number; owns?: boolean }): PupilTeacher {
    const lm = new GpuCausalLM(m.rt, m.config, m.store, { maxLength: o.maxLength === undefined ? undefined : Math.min(o.maxLength, usablePositions(m.config)) });
    try {
      const renderer = resolveRenderer(o.template ?? 'auto', m.tokenizer);
      return new PupilTeacher({
        model: lm, tokenizer: m.tokenizer, renderer, name: o.name, defaultMaxTokens: o.defaultMaxTokens,
        dispose: () => {
          lm.destroy();
          if (o.owns) m.destroy?.();
        },
      });
    } catch (e) {
      lm.destroy();
      throw e;
    }
  }

  /**
   * Queued behind earlier calls. A signal that fires while queued rejects with its reason; one
   * that fires during generation ends it with finishReason 'cancelled' and the text so far.
   */
  generate(messages: TeacherMessage[], options: PupilGenerateOptions = {}): Promise<PupilReply> {
    const p = this.tail.then(() => this.run(messages, options));
    this.tail = p.catch(() => {});
    return p;
  }

  /** Frees the model once the calls already queued have finished (none may use freed buffers). */
  async destroy(): Promise<void> {
    await this.tail;
    this.dispose?.();
  }

  private async run(messages: TeacherMessage[], o: PupilGenerateOptions): Promise<PupilReply> {
    o.signal?.throwIfAborted();
    const k = o.topLogprobs;
    if (k !== undefined && !(Number.isInteger(k) && k >= 0)) throw new Error(`PupilTeacher: topLogprobs must be an integer >= 0, got ${k}`);
    const gen = chat({ model: this.tap, tokenizer: this.tokenizer, renderer: this.renderer }, messages, {
      maxNewTokens: o.maxTokens ?? this.defaultMaxTokens,
      stop: o.stop,
      sampling: { temperature: o.temperature ?? 1, topP: o.topP ?? 1 },
      rng: new Rng(o.seed ?? Math.floor(Math.random() * 2 ** 31)),
      signal: o.signal,
    });
    o.onStart?.();
    const eos = new Set(this.tokenizer.eos);
    const tokenText = (id: number) => this.tokenizer.decode([id], { skipSpecial: false });
    const logprobs: TokenLogprobs[] = [];
    for await (const ev of gen) {
      // The EOS token adds no text; it is not reported, so the tokens spell the reply.
      const lp = k !== undefined && !eos.has(ev.token) ? tokenLogprobs(this.tap.last!, ev.token, k, tokenText) : undefined;
      if (lp) logprobs.push(lp);
      o.onToken?.({ token: ev.token, text: ev.text, logprobs: lp });
      if (ev.text) o.onText?.(ev.text);
    }
    const r = await gen.result;
    const reply: PupilReply = {
      text: r.text,
      finishReason: finishReason(r.finishReason),
      usage: { promptTokens: r.promptTokens, completionTokens: r.tokens.length },
      result: r,
    };
    if (k !== undefined) reply.logprobs = logprobs;
    return reply;
  }
}
