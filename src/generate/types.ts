// What generation needs from a model and a tokenizer. Kept to the minimum so that the GPU model
// (gpu-model.ts), a CPU reference or a remote teacher can all be driven by the same loop.

/**
 * A causal language model with an internal KV cache. Positions are implicit: every call appends
 * its tokens after those already cached. Logits may be a buffer the model reuses on the next
 * call: callers read them before calling again and never write to them.
 */
export interface CausalLM {
  readonly vocabSize: number;
  /** Tokens the cache holds: prompt plus generated tokens never exceed it. */
  readonly maxLength: number;
  /** Tokens currently cached. */
  readonly length: number;
  /** Empties the cache. */
  reset(): void;
  /** Appends `ids` (at least one) and returns the logits (V) after the last of them. */
  prefill(ids: Int32Array): Promise<Float32Array>;
  /** Appends one token and returns the logits (V) after it. */
  decode(id: number): Promise<Float32Array>;
}

/** The part of a tokenizer generation uses (src/data/tokenizer.ts TextTokenizer fits). */
export interface TokenDecoder {
  decode(ids: ArrayLike<number>, opts?: { skipSpecial?: boolean }): string;
  /** Token ids that end a generation, used when the options name none. */
  readonly eos?: readonly number[];
}

export type FinishReason = 'eos' | 'length' | 'stop' | 'cancelled';

/** One generated token and the text it adds (may be empty while text is held back). */
export interface GenerateEvent {
  token: number;
  /** New text: the concatenation of all deltas is the final text. */
  text: string;
}

export interface GenerateResult {
  finishReason: FinishReason;
  /** Every sampled token, including the EOS or the one that completed a stop string. */
  tokens: number[];
  /** The generated text, without EOS text and without the stop string and what followed it. */
  text: string;
  /** The stop string that ended generation (finishReason 'stop'). */
  stop?: string;
  promptTokens: number;
  /** Wall time of the prefill (prompt) call, ms. */
  prefillMs: number;
  /** Wall time of all decode calls and sampling, ms. */
  decodeMs: number;
  /** Decode throughput: tokens sampled after the first, per second of decodeMs. */
  tokensPerSecond: number;
}
