// Chat templates: the model's own Jinja `chat_template` rendered with @huggingface/jinja, or a
// built-in default (ChatML, Alpaca) for models that have none. mask.ts renders prefixes of a
// conversation through the same `ChatRenderer` to learn which characters belong to which message.
import { Template } from '@huggingface/jinja';
import type { ChatExample, Message } from './types.ts';
import type { TextTokenizer, TokenizerFiles } from './tokenizer.ts';

/** What a template sees of a message; `input` only matters to the Alpaca prompt. */
export interface TemplateMessage {
  role: string;
  content: string;
  input?: string;
}

export interface ChatRenderer {
  readonly name: string;
  render(messages: TemplateMessage[], opts: { addGenerationPrompt: boolean }): string;
}

export type TemplateChoice = 'model' | 'chatml' | 'alpaca' | 'auto';

/** Plain ChatML, no default system prompt. No EOS after `<|im_end|>`: it is the turn's end token. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Stanford Alpaca's prompts. Stanford's train.py ends at "### Response:" and glues the output on
// directly; we end with "### Response:\n" (as alpaca-lora does) so the response starts on a clean
// token boundary.
export const ALPACA_PREAMBLE_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.';
export const ALPACA_PREAMBLE_NO_INPUT = 'Below is an instruction that describes a task. Write a response that appropriately completes the request.';

export function alpacaPrompt(instruction: string, input = '', preamble?: string): string {
  const head = preamble ?? (input ? ALPACA_PREAMBLE_INPUT : ALPACA_PREAMBLE_NO_INPUT);
  return input
    ? `${head}\n\n### Instruction:\n${instruction}\n\n### Input:\n${input}\n\n### Response:\n`
    : `${head}\n\n### Instruction:\n${instruction}\n\n### Response:\n`;
}

/**
 * The Alpaca prompt as a renderer. A system message replaces the preamble; each user turn is an
 * instruction block; assistant text follows its "### Response:\n" verbatim. No EOS in the text:
 * mask.ts appends the EOS id after every trained response that lacks one. Later turns are
 * separated by a blank line (Alpaca itself is single-turn).
 */
export const alpacaRenderer: ChatRenderer = {
  name: 'alpaca',
  render(messages) {
    let preamble: string | undefined;
    let out = '';
    for (const m of messages) {
      if (m.role === 'system') preamble = m.content;
      else if (m.role === 'assistant') out += m.content;
      else out += (out ? '\n\n' : '') + alpacaPrompt(m.content, m.input ?? '', preamble);
    }
    return out;
  },
};

export function jinjaRenderer(source: string, tokenizer: Pick<TextTokenizer, 'bosToken' | 'eosToken' | 'padToken'>, name = 'model'): ChatRenderer {
  const template = new Template(source);
  const specials = { bos_token: tokenizer.bosToken ?? '', eos_token: tokenizer.eosToken, pad_token: tokenizer.padToken ?? '', unk_token: '' };
  return {
    name,
    render: (messages, opts) => template.render({ ...specials, messages, add_generation_prompt: opts.addGenerationPrompt }),
  };
}

/**
 * The model's chat template from its files: `chat_template.jinja` (newer transformers), else
 * `chat_template` in tokenizer_config.json, which may be a string or a list of named templates
 * (the one named "default" wins, else the first), else `chat_template.json`.
 */
export function modelChatTemplate(files: Partial<TokenizerFiles>): string | undefined {
  if (files['chat_template.jinja']) return files['chat_template.jinja'];
  for (const name of ['tokenizer_config.json', 'chat_template.json']) {
    const text = files[name];
    if (!text) continue;
    const value = (JSON.parse(text) as { chat_template?: unknown }).chat_template;
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) {
      const named = value as { name?: string; template?: string }[];
      const pick = named.find((t) => t.name === 'default') ?? named[0];
      if (pick?.template) return pick.template;
    }
  }
  return undefined;
}

/** 'auto' takes the model's template when it has one and ChatML otherwise. */
export function resolveRenderer(choice: TemplateChoice, tokenizer: TextTokenizer): ChatRenderer {
  if (choice === 'alpaca') return alpacaRenderer;
  if (choice === 'chatml') return jinjaRenderer(CHATML_TEMPLATE, tokenizer, 'chatml');
  const source = modelChatTemplate(tokenizer.files);
  if (source) return jinjaRenderer(source, tokenizer, 'model');
  if (choice === 'model') throw new Error('the tokenizer has no chat_template; use --template chatml or alpaca');
  return jinjaRenderer(CHATML_TEMPLATE, tokenizer, 'chatml');
}

/**
 * The messages to render for an example, weights kept. An Alpaca record rendered with the Alpaca
 * prompt uses its own fields, so the input gets its "### Input:" block.
 */
export function templateMessages(example: ChatExample, renderer: ChatRenderer): (TemplateMessage & Pick<Message, 'weight'>)[] {
  const a = example.alpaca;
  if (renderer !== alpacaRenderer || !a) return example.messages.map((m) => ({ role: m.role, content: m.content, weight: m.weight }));
  const weightOf = (role: string) => example.messages.findLast((m) => m.role === role)?.weight;
  return [
    ...(a.system ? [{ role: 'system', content: a.system, weight: weightOf('system') }] : []),
    { role: 'user', content: a.instruction, input: a.input, weight: weightOf('user') },
    { role: 'assistant', content: a.output, weight: weightOf('assistant') },
  ];
}
