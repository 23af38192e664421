// Held-out evaluation: validation loss and perplexity through TrainStep.evaluate (no update),
// exact match on held-out bundled tasks and sample generations, both greedy through the chat
// template with a KV-cache model that reads the trainer's live parameters.
import type { Batch } from '../data/batch.ts';
import { exactMatch, type ExactMatchReport } from '../data/synthetic/index.ts';
import type { ChatRenderer, TemplateMessage } from '../data/template.ts';
import type { TextTokenizer } from '../data/tokenizer.ts';
import { generate, generateText, type CausalLM, type GenerateOptions, type Generation } from '../generate/index.ts';
import type { HeldOutTask } from './data.ts';
import type { TrainStep } from './step.ts';

export interface ValidationResult {
  loss: number;
  perplexity: number;
  accuracy?: number;
  tokens: number;
}

export async function validationLoss(step: TrainStep, batches: readonly Batch[]): Promise<ValidationResult | undefined> {
  if (batches.length === 0) return undefined;
  const e = await step.evaluate(batches);
  return { loss: e.loss, perplexity: Math.exp(e.loss), ...(e.accuracy !== undefined ? { accuracy: e.accuracy } : {}), tokens: e.tokens };
}

/**
 * The prompt ids of a conversation: rendered with the generation prompt and tokenized without
 * special tokens, exactly as mask.ts tokenizes training prompts.
 */
export function promptIds(renderer: ChatRenderer, tokenizer: TextTokenizer, messages: readonly TemplateMessage[]): number[] {
  const text = renderer.render(messages.map((m) => ({ role: m.role, content: m.content })), { addGenerationPrompt: true });
  const ids = tokenizer.encode(text);
  if (ids.length === 0 && tokenizer.bos !== undefined) ids.push(tokenizer.bos);
  return ids;
}

export interface ChatContext {
  model: CausalLM;
  renderer: ChatRenderer;
  tokenizer: TextTokenizer;
}

/** Streams a reply; the prompt is cut from the left when it would not leave room to answer. */
export function chat(ctx: ChatContext, messages: readonly TemplateMessage[], opts: Omit<GenerateOptions, 'tokenizer'> = {}): Generation {
  let ids = promptIds(ctx.renderer, ctx.tokenizer, messages);
  const room = Math.min(opts.maxNewTokens ?? 256, ctx.model.maxLength - 1);
  if (ids.length + room > ctx.model.maxLength) ids = ids.slice(ids.length + room - ctx.model.maxLength);
  return generate(ctx.model, ids, { ...opts, maxNewTokens: room, tokenizer: ctx.tokenizer });
}

// generate() samples at temperature 1 unless told otherwise; evaluation must be deterministic.
const GREEDY = { doSample: false } as const;

/** Greedy answers to held-out tasks, scored. */
export async function exactMatchEval(ctx: ChatContext, tasks: readonly HeldOutTask[], maxNewTokens: number): Promise<ExactMatchReport> {
  const predictions: string[] = [];
  for (const t of tasks) {
    // An answer needs about as many tokens as its text; a few more allow for a trailing period or
    // spacing. Stopping there keeps an untrained model (which never says EOS) from costing
    // maxNewTokens decode steps per task.
    const budget = Math.min(maxNewTokens, ctx.tokenizer.encode(t.answer).length + 8);
    const r = await generateText(ctx.model, clip(ctx, promptIds(ctx.renderer, ctx.tokenizer, t.messages), budget), { tokenizer: ctx.tokenizer, maxNewTokens: budget, sampling: GREEDY });
    predictions.push(r.text);
  }
  return exactMatch(tasks, predictions);
}

/** Greedy continuations of the fixed sample prompts. */
export async function samples(ctx: ChatContext, prompts: readonly string[], maxNewTokens: number): Promise<{ prompt: string; text: string }[]> {
  const out: { prompt: string; text: string }[] = [];
  for (const prompt of prompts) {
    const g = chat(ctx, [{ role: 'user', content: prompt }], { maxNewTokens, sampling: GREEDY });
    for await (const _ of g);
    out.push({ prompt, text: (await g.result).text });
  }
  return out;
}

function clip(ctx: ChatContext, ids: number[], room: number): number[] {
  const max = ctx.model.maxLength - Math.min(room, ctx.model.maxLength - 1);
  return ids.length > max ? ids.slice(ids.length - max) : ids;
}
