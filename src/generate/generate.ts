// The generation loop: prefill the prompt, then sample, stream and decode one token at a time until
// an EOS token, a stop string, the length limit or cancellation.
import { Rng } from './rng.ts';
import { checkSamplingOptions, sample, type SamplingOptions } from './sampler.ts';
import { IncrementalDecoder, StopMatcher } from './stop.ts';
import type { CausalLM, FinishReason, GenerateEvent, GenerateResult, TokenDecoder } from './types.ts';

export interface GenerateOptions {
  /** Turns tokens into text. Without it the text deltas are empty and stop strings cannot match. */
  tokenizer?: TokenDecoder;
  /** Most tokens to generate (default 256). The model's maxLength also bounds prompt + generated. */
  maxNewTokens?: number;
  /** Token ids that end generation (default: tokenizer.eos). The EOS token adds no text. */
  eos?: readonly number[];
  /** Strings that end generation; the text returned stops just before the first one found. */
  stop?: readonly string[];
  sampling?: SamplingOptions;
  /** Seed of a fresh Rng; or pass `rng` to continue a stream (its state advances). */
  seed?: number;
  rng?: Rng;
  signal?: AbortSignal;
  /** Leave special tokens out of the text (default true). */
  skipSpecialTokens?: boolean;
}

/** A running generation: iterate it for the streamed tokens; `result` settles when it ends. */
export interface Generation extends AsyncIterable<GenerateEvent> {
  readonly result: Promise<GenerateResult>;
}

/**
 * Streams the continuation of `promptIds`. Nothing runs until it is iterated (once). Breaking out
 * of the loop or aborting `signal` ends it with finishReason 'cancelled'; text still held back
 * then (a possible stop-string start, an incomplete character) is dropped. The deltas always
 * concatenate to `result.text`.
 */
export function generate(model: CausalLM, promptIds: readonly number[], opts: GenerateOptions = {}): Generation {
  const maxNewTokens = opts.maxNewTokens ?? 256;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new Error(`generate: maxNewTokens must be a positive integer, got ${maxNewTokens}`);
  if (promptIds.length === 0) throw new Error('generate: the prompt is empty (a model needs at least one token, e.g. BOS)');
  if (promptIds.length >= model.maxLength) {
    throw new Error(`generate: the prompt has ${promptIds.length} tokens, the model holds at most ${model.maxLength} (prompt and generated tokens together)`);
  }
  for (const id of promptIds) {
    if (!Number.isInteger(id) || id < 0 || id >= model.vocabSize) throw new Error(`generate: prompt token ${id} is outside the vocabulary (0 .. ${model.vocabSize - 1})`);
  }
  const sampling = opts.sampling ?? {};
  checkSamplingOptions(sampling);
  if (opts.stop?.length && !opts.tokenizer) throw new Error('generate: stop strings need a tokenizer');

  let resolve!: (r: GenerateResult) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<GenerateResult>((res, rej) => ((resolve = res), (reject = rej)));
  // Callers that only iterate must not get an unhandled rejection: the error reaches them there.
  result.catch(() => {});
  let started = false;

  async function* run(): AsyncGenerator<GenerateEvent> {
    const rng = opts.rng ?? new Rng(opts.seed ?? 0);
    const eos = new Set(opts.eos ?? opts.tokenizer?.eos ?? []);
    const decoder = opts.tokenizer ? new IncrementalDecoder(opts.tokenizer, promptIds, opts.skipSpecialTokens ?? true) : undefined;
    const stops = new StopMatcher(opts.stop ?? []);
    const history = [...promptIds];
    const tokens: number[] = [];
    let text = '';
    let reason: FinishReason = 'cancelled';
    let prefillMs = 0;
    let decodeMs = 0;
    let t0 = now();
    const aborted = () => opts.signal?.aborted ?? false;
    let failed = false;
    try {
      if (aborted()) return;
      model.reset();
      let logits = await model.prefill(Int32Array.from(promptIds));
      prefillMs = now() - t0;
      t0 = now();
      for (;;) {
        if (aborted()) return;
        if (logits.length !== model.vocabSize) throw new Error(`generate: the model returned ${logits.length} logits, expected vocabSize ${model.vocabSize}`);
        const token = sample(logits, sampling, rng, history);
        tokens.push(token);
        history.push(token);
        let delta = '';
        let done: FinishReason | undefined;
        if (eos.has(token)) {
          done = 'eos';
        } else {
          const piece = stops.push(decoder?.push(token) ?? '');
          delta = piece.text;
          if (piece.stopped) done = 'stop';
          else if (tokens.length >= maxNewTokens || history.length >= model.maxLength) done = 'length';
        }
        if (done === 'eos' || done === 'length') {
          // Ended for another reason: an incomplete character is shown as it is, and the held-back
          // tail was not a stop string after all (unless that last character completes one).
          const tail = stops.push(decoder?.flush() ?? '');
          delta += tail.text;
          if (tail.stopped) done = done === 'length' ? 'stop' : done;
          else delta += stops.flush();
        }
        text += delta;
        if (done) {
          reason = done;
          decodeMs = now() - t0;
          yield { token, text: delta };
          return;
        }
        yield { token, text: delta };
        if (aborted()) return;
        logits = await model.decode(token);
      }
    } catch (e) {
      failed = true;
      reject(e);
      throw e;
    } finally {
      if (reason === 'cancelled') decodeMs = now() - t0;
      const sampled = Math.max(0, tokens.length - 1);
      if (!failed) resolve({
        finishReason: reason,
        tokens,
        text,
        stop: reason === 'stop' ? stops.matched : undefined,
        promptTokens: promptIds.length,
        prefillMs,
        decodeMs,
        tokensPerSecond: decodeMs > 0 ? (sampled * 1000) / decodeMs : 0,
      });
    }
  }

  return {
    result,
    [Symbol.asyncIterator]() {
      if (started) throw new Error('generate: a generation can be iterated only once');
      started = true;
      return run();
    },
  };
}

/** Runs a generation to the end without streaming. */
export async function generateText(model: CausalLM, promptIds: readonly number[], opts: GenerateOptions = {}): Promise<GenerateResult> {
  const g = generate(model, promptIds, opts);
  for await (const _ of g);
  return g.result;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());
