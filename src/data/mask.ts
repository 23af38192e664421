// Examples -> token ids + next-token targets, with the loss mask decided per message.
//
// Which characters belong to which message is learned by rendering prefixes of the conversation
// (messages[0..i], with and without the generation prompt) and checking that each rendering is a
// prefix of the next. The text is then cut at those boundaries and each piece tokenized on its
// own, so the prompt of a trained turn is tokenized exactly as it will be at inference time (where
// generation starts right after the generation prompt). A template that is not prefix-stable (one
// that rewrites earlier turns, e.g. stripping reasoning) falls back to training only the last
// assistant turn, split at its generation prompt; if even that fails the example is rejected
// ('template-error'), never trained on blindly.
//
// EOS: every trained response must teach the model to stop. If the template already ends the turn
// with one of the tokenizer's EOS ids (ChatML's <|im_end|>, Llama-3's <|eot_id|>), that token is
// trained and nothing is added; template text after it (ChatML's "\n") is not trained, since
// generation has stopped by then. If the turn holds no EOS (Alpaca, GPT-2 with ChatML text), `eos[0]`
// is appended after the turn's text — after every assistant turn, trained or not, so that history
// looks the same in every example. The mask comes from message boundaries, never from comparing
// ids with the pad id, so EOS stays trained when pad == EOS.
import type { ChatExample, CompletionExample, Example, Rejection, SourceRef } from './types.ts';
import type { TextTokenizer } from './tokenizer.ts';
import { templateMessages, type ChatRenderer } from './template.ts';

/**
 * 'assistant' (default): every assistant turn, and for completions the completion.
 * 'last-assistant': only the last assistant turn. 'all-tokens': every token.
 * In all three a message's `weight` (0 or 1) overrides the policy for that message. A trained
 * non-assistant message trains its whole rendered text (role header included, since no generation
 * prompt separates header from content); an assistant turn trains from after its generation prompt.
 */
export type MaskPolicy = 'assistant' | 'last-assistant' | 'all-tokens';
/** What to do with an example longer than `maxLength` tokens. Default 'reject' ('too-long'). */
export type TooLongPolicy = 'reject' | 'truncate-left' | 'truncate-right';

export const IGNORE = -100;

export interface TokenizeOptions {
  tokenizer: TextTokenizer;
  /** Needed for chat examples; completions use no template. */
  renderer?: ChatRenderer;
  policy?: MaskPolicy;
  maxLength?: number;
  tooLong?: TooLongPolicy;
}

/**
 * `targets` is shifted: targets[t] is the token to predict at position t, i.e. ids[t+1] when that
 * token is trained, else -100; the last position is always -100. ids[0] is never a target.
 */
export interface TokenizedExample {
  ids: Int32Array; // (n)
  targets: Int32Array; // (n)
  trainedTokens: number;
  source: SourceRef;
  /** Set when the template forced the last-turn fallback or the example was truncated. */
  note?: string;
  /** Offline distillation: the teacher's top-k at each position with a target, in order. */
  teacher?: TeacherRows;
}

/** A teacher's top-k for the trained positions of one example: (trainedTokens, k) each. */
export interface TeacherRows {
  k: number;
  ids: Uint16Array | Int32Array;
  /** Natural-log probabilities (log-softmax over the teacher's whole vocabulary at temperature 1). */
  logprobs: Float32Array;
}

export type TokenizeResult = { ok: true; example: TokenizedExample } | { ok: false; rejection: Rejection };

interface Piece {
  ids: number[];
  trained: boolean;
}

class TemplateError extends Error {}

export function tokenizeExample(example: Example, opts: TokenizeOptions): TokenizeResult {
  let pieces: Piece[];
  let note: string | undefined;
  try {
    if (example.kind === 'completion') pieces = completionPieces(example, opts);
    else ({ pieces, note } = chatPieces(example, opts));
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    return reject(example.source, 'template-error', e.message);
  }
  let ids = pieces.flatMap((p) => p.ids);
  let trained = pieces.flatMap((p) => p.ids.map(() => p.trained));
  const max = opts.maxLength;
  if (max !== undefined && ids.length > max) {
    const policy = opts.tooLong ?? 'reject';
    const why = `${ids.length} tokens, more than the maximum length ${max}`;
    if (policy === 'reject') return reject(example.source, 'too-long', why);
    const [from, to] = policy === 'truncate-left' ? [ids.length - max, ids.length] : [0, max];
    ids = ids.slice(from, to);
    trained = trained.slice(from, to);
    note = [note, `truncated (${policy}): ${why}`].filter(Boolean).join('; ');
  }
  const targets = new Int32Array(ids.length).fill(IGNORE);
  let trainedTokens = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    if (trained[t + 1]) {
      targets[t] = ids[t + 1];
      trainedTokens++;
    }
  }
  if (trainedTokens === 0) return reject(example.source, 'no-trainable-tokens', note ? `no trained token left: ${note}` : 'no token carries loss under the mask policy');
  return { ok: true, example: { ids: Int32Array.from(ids), targets, trainedTokens, source: example.source, ...(note ? { note } : {}) } };
}

export function tokenizeExamples(examples: Example[], opts: TokenizeOptions): { examples: TokenizedExample[]; rejections: Rejection[] } {
  const out: TokenizedExample[] = [];
  const rejections: Rejection[] = [];
  for (const ex of examples) {
    const r = tokenizeExample(ex, opts);
    if (r.ok) out.push(r.example);
    else rejections.push(r.rejection);
  }
  return { examples: out, rejections };
}

/** mask[t] = 1 when token t is a trained target (the inverse of the shift in `targets`). */
export function trainedMask(ex: TokenizedExample): Uint8Array {
  const mask = new Uint8Array(ex.ids.length);
  for (let t = 1; t < ex.ids.length; t++) mask[t] = ex.targets[t - 1] !== IGNORE ? 1 : 0;
  return mask;
}

function reject(source: SourceRef, reason: Rejection['reason'], message: string): TokenizeResult {
  return { ok: false, rejection: { source, reason, message } };
}

function completionPieces(ex: CompletionExample, opts: TokenizeOptions): Piece[] {
  const tok = opts.tokenizer;
  const all = opts.policy === 'all-tokens';
  const prompt = [...(tok.addsBos && tok.bos !== undefined ? [tok.bos] : []), ...tok.encode(ex.prompt)];
  return [{ ids: prompt, trained: all }, ...endWithEos(tok.encode(ex.completion), true, all, tok)];
}

/** The EOS rule of the header comment, for one assistant turn's tokens. */
function endWithEos(ids: number[], trained: boolean, trainTail: boolean, tok: TextTokenizer): Piece[] {
  let last = -1;
  for (let i = ids.length - 1; i >= 0 && last < 0; i--) if (tok.eos.includes(ids[i])) last = i;
  if (last < 0) return [{ ids: [...ids, tok.eos[0]], trained }];
  return [
    { ids: ids.slice(0, last + 1), trained },
    { ids: ids.slice(last + 1), trained: trained && trainTail },
  ];
}

function chatPieces(ex: ChatExample, opts: TokenizeOptions): { pieces: Piece[]; note?: string } {
  const renderer = opts.renderer;
  if (!renderer) throw new Error('a chat example needs a renderer (chat template)');
  const tok = opts.tokenizer;
  const policy = opts.policy ?? 'assistant';
  const msgs = templateMessages(ex, renderer);
  const lastAssistant = msgs.findLastIndex((m) => m.role === 'assistant');
  const isTrained = msgs.map((m, i) =>
    m.weight !== undefined
      ? m.weight === 1
      : policy === 'all-tokens' || (m.role === 'assistant' && (policy === 'assistant' || i === lastAssistant)),
  );
  const cache = new Map<string, string>();
  const render = (n: number, agp: boolean): string => {
    const key = `${n}:${agp}`;
    let text = cache.get(key);
    if (text !== undefined) return text;
    try {
      text = renderer.render(msgs.slice(0, n).map(({ weight: _, ...m }) => m), { addGenerationPrompt: agp });
    } catch (e) {
      throw new TemplateError(`chat template (${renderer.name}) failed: ${(e as Error).message}`);
    }
    cache.set(key, text);
    return text;
  };
  const all = policy === 'all-tokens';
  const full = render(msgs.length, false);
  // ends[i]: where message i's text ends; starts[i]: where its trainable text begins (after the
  // generation prompt for assistant turns).
  const ends: number[] = [];
  const starts: number[] = [];
  let stable = true;
  for (let i = 0; i < msgs.length && stable; i++) {
    const before = i === 0 ? '' : render(i, false);
    const end = i + 1 === msgs.length ? full : render(i + 1, false);
    const start = msgs[i].role === 'assistant' && i > 0 ? render(i, true) : before;
    stable = full.startsWith(end) && end.startsWith(start) && start.startsWith(before);
    starts.push(all ? before.length : start.length);
    ends.push(end.length);
  }
  if (!stable) return lastTurnFallback(msgs.length, lastAssistant, isTrained[lastAssistant] ?? false, all, render, tok);

  const pieces: Piece[] = [];
  let at = 0;
  for (let i = 0; i < msgs.length; i++) {
    pieces.push({ ids: tok.encode(full.slice(at, starts[i])), trained: all && isTrained[i] });
    const body = tok.encode(full.slice(starts[i], ends[i]));
    if (msgs[i].role === 'assistant') pieces.push(...endWithEos(body, isTrained[i], all, tok));
    else pieces.push({ ids: body, trained: isTrained[i] });
    at = ends[i];
  }
  return { pieces };
}

function lastTurnFallback(
  n: number,
  last: number,
  trained: boolean,
  all: boolean,
  render: (n: number, agp: boolean) => string,
  tok: TextTokenizer,
): { pieces: Piece[]; note: string } {
  if (last < 0) throw new TemplateError('chat template is not prefix-stable and there is no assistant turn to split at');
  const prompt = last === 0 ? '' : render(last, true);
  const upTo = render(last + 1, false);
  if (!upTo.startsWith(prompt)) throw new TemplateError(`chat template is not prefix-stable: cannot find where assistant message ${last} begins`);
  const note = `chat template is not prefix-stable; only the last assistant turn is trained${last + 1 < n ? ' and later messages are dropped' : ''}`;
  return { pieces: [{ ids: tok.encode(prompt), trained: all }, ...endWithEos(tok.encode(upTo.slice(prompt.length)), trained, all, tok)], note };
}
