// The models a trainer chats with: one KV-cache model over the weights being trained, and, on
// first use, the student as it was before training (loaded again: a resumed run never had the
// initial weights, and keeping a CPU copy of every run's student for a chat that may never ask
// would double its memory; loading is deterministic: a scratch student's init seed, a pretrained
// student's files). One generation at a time: the models share the GPU with training, and each
// has a single KV cache.
import type { TemplateMessage } from '../data/template.ts';
import type { GenerateEvent, GenerateOptions, GenerateResult } from '../generate/index.ts';
import { GpuCausalLM } from '../generate/index.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { ParamStore } from '../models/params.ts';
import type { ChatRenderer } from '../data/template.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import type { ModelConfig } from '../models/config.ts';
import { chat, type ChatContext } from './evaluate.ts';

export interface ChatModelsOptions {
  rt: Runtime;
  config: ModelConfig;
  tokenizer: TextTokenizer;
  renderer: ChatRenderer;
  /** The weights being trained (undefined once the trainer is destroyed). */
  store: () => ParamStore | undefined;
  /** The student's initial weights, loaded again. */
  loadInitial: () => Promise<Map<string, Float32Array>>;
}

export type Which = 'current' | 'initial';

export class ChatModels {
  private current?: GpuCausalLM;
  private initial?: Promise<{ store: ParamStore; model: GpuCausalLM }>;
  private lock: Promise<void> = Promise.resolve();

  constructor(private readonly o: ChatModelsOptions) {}

  /** Runs `fn` alone on the chosen model (built on first use). */
  with<T>(fn: (ctx: ChatContext) => Promise<T>, which: Which = 'current'): Promise<T> {
    const run = this.lock.then(async () => {
      let model: GpuCausalLM;
      if (which === 'initial') model = (await this.initialModel()).model;
      else {
        const store = this.o.store();
        if (!store) throw new Error('the trainer has no model (creation failed or it was destroyed)');
        this.current ??= new GpuCausalLM(this.o.rt, this.o.config, store);
        model = this.current;
      }
      return fn({ model, renderer: this.o.renderer, tokenizer: this.o.tokenizer });
    });
    this.lock = run.then(() => undefined, () => undefined);
    return run;
  }

  private initialModel(): Promise<{ store: ParamStore; model: GpuCausalLM }> {
    this.initial ??= (async () => {
      const weights = await this.o.loadInitial();
      const current = this.o.store();
      if (!current) throw new Error('the trainer was destroyed');
      const store = new ParamStore(this.o.rt, current.layout);
      try {
        store.load(weights);
        weights.clear();
        return { store, model: new GpuCausalLM(this.o.rt, this.o.config, store) };
      } catch (e) {
        store.destroy();
        throw e;
      }
    })();
    // A failed load (picked files gone after a reload) may succeed on a later try.
    this.initial.catch(() => (this.initial = undefined));
    return this.initial;
  }

  /** Streams a reply from the chosen model: events as they come, then `result`. */
  generate(messages: readonly TemplateMessage[], opts: Omit<GenerateOptions, 'tokenizer'>, which: Which): AsyncIterable<GenerateEvent> & { result: Promise<GenerateResult> } {
    let resolve!: (r: GenerateResult) => void, reject!: (e: unknown) => void;
    const result = new Promise<GenerateResult>((res, rej) => ((resolve = res), (reject = rej)));
    result.catch(() => {});
    const self = this;
    async function* stream(): AsyncGenerator<GenerateEvent> {
      const queue: (GenerateEvent | null)[] = [];
      let wake: (() => void) | undefined;
      let failed: unknown;
      const done = self.with(async (ctx) => {
        const g = chat(ctx, messages, opts);
        for await (const ev of g) {
          queue.push(ev);
          wake?.();
        }
        resolve(await g.result);
      }, which).catch((e) => {
        failed = e;
        reject(e);
      }).finally(() => {
        queue.push(null);
        wake?.();
      });
      for (;;) {
        if (!queue.length) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const ev = queue.shift();
        if (ev === null) break;
        if (ev) yield ev;
      }
      await done;
      if (failed) throw failed;
    }
    return { result, [Symbol.asyncIterator]: () => stream() };
  }

  destroy(): void {
    this.current?.destroy();
    this.current = undefined;
    const initial = this.initial;
    this.initial = undefined;
    void initial?.then((m) => {
      m.model.destroy();
      m.store.destroy();
    }, () => {});
  }
}
