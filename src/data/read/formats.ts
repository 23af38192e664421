// Record formats: recognising them, and turning one record into examples or a rejection.
import type { ChatExample, CompletionExample, Example, Message, RecordFormat, Rejection, Role, SourceRef } from '../types.ts';
import { describe, expectString, isBlank, isRecordObject, reject } from './validate.ts';

export interface Built {
  examples: Example[];
  rejections: Rejection[];
}

/** Role names seen in the wild (OpenAI, ShareGPT and its variants), lower-cased. */
const ROLES: Record<string, Role> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  human: 'user',
  assistant: 'assistant',
  gpt: 'assistant',
  chatgpt: 'assistant',
  tool: 'tool',
  function: 'tool',
};

/** The fields that make a record one format or another; a record with none of them is unrecognised. */
const KEYS: Record<Exclude<RecordFormat, 'mapped'>, string[]> = {
  chat: ['messages'],
  sharegpt: ['conversations'],
  alpaca: ['instruction', 'output'],
  completion: ['prompt', 'completion'],
};

export function classify(v: unknown): RecordFormat | undefined {
  if (!isRecordObject(v)) return undefined;
  if ('messages' in v) return 'chat';
  if ('conversations' in v) return 'sharegpt';
  if ('instruction' in v || ('output' in v && !('completion' in v))) return 'alpaca';
  if ('prompt' in v || 'completion' in v) return 'completion';
  return undefined;
}

/** The commonest format among the records, ties going to the earlier of chat, sharegpt, alpaca, completion. */
export function detectFormat(values: unknown[]): RecordFormat | undefined {
  const votes = new Map<RecordFormat, number>();
  for (const v of values) {
    const f = classify(v);
    if (f) votes.set(f, (votes.get(f) ?? 0) + 1);
  }
  let best: RecordFormat | undefined;
  for (const f of ['chat', 'sharegpt', 'alpaca', 'completion'] as const) {
    if ((votes.get(f) ?? 0) > (best ? votes.get(best)! : 0)) best = f;
  }
  return best;
}

export function convertRecord(value: unknown, source: SourceRef, format: Exclude<RecordFormat, 'mapped'>): Built {
  const r = convertOne(value, source, format);
  return 'reason' in r ? { examples: [], rejections: [r] } : { examples: [r], rejections: [] };
}

function convertOne(value: unknown, source: SourceRef, format: Exclude<RecordFormat, 'mapped'>): Example | Rejection {
  if (!isRecordObject(value)) return reject(source, 'wrong-type', `record is ${describe(value)}, expected an object`);
  const keys = KEYS[format];
  if (!keys.some((k) => k in value)) {
    const has = Object.keys(value);
    const msg = `record has none of the ${format} fields (${keys.join(', ')}); it has ${has.length ? has.join(', ') : 'no fields'}`;
    return reject(source, 'unrecognised-format', msg);
  }
  const meta = rest(value, format === 'alpaca' ? ['instruction', 'input', 'output', 'system'] : format === 'completion' ? keys : [...keys, 'system']);
  switch (format) {
    case 'alpaca': {
      const names = { instruction: 'instruction', input: 'input', output: 'output', system: 'system' };
      const f = { instruction: value.instruction, input: value.input, output: value.output, system: value.system };
      return alpacaExample(f, names, source, meta);
    }
    case 'chat':
      return chatExample(value.messages, 'messages', source, meta, { role: ['role', 'from'], content: ['content', 'value'], system: value.system });
    case 'sharegpt':
      return chatExample(value.conversations, 'conversations', source, meta, { role: ['from', 'role'], content: ['value', 'content'], system: value.system });
    case 'completion':
      return completionExample(value.prompt, value.completion, { prompt: 'prompt', completion: 'completion' }, source, meta);
  }
}

function rest(value: Record<string, unknown>, used: string[]): Record<string, unknown> | undefined {
  let meta: Record<string, unknown> | undefined;
  for (const k of Object.keys(value)) if (!used.includes(k)) (meta ??= {})[k] = value[k];
  return meta;
}

type AlpacaFields = { instruction: unknown; input: unknown; output: unknown; system: unknown };

export function alpacaExample(
  f: AlpacaFields,
  names: Record<keyof AlpacaFields, string>,
  source: SourceRef,
  meta: Record<string, unknown> | undefined,
): ChatExample | Rejection {
  const bad =
    expectString(f.instruction, names.instruction, source) ??
    expectString(f.input, names.input, source, false) ??
    expectString(f.output, names.output, source) ??
    expectString(f.system, names.system, source, false);
  if (bad) return bad;
  const instruction = f.instruction as string;
  const input = typeof f.input === 'string' ? f.input : '';
  const output = f.output as string;
  const system = typeof f.system === 'string' && !isBlank(f.system) ? f.system : undefined;
  if (isBlank(output)) return reject(source, 'empty-response', `field "${names.output}" is empty`, names.output);
  const messages: Message[] = [];
  if (system !== undefined) messages.push({ role: 'system', content: system });
  messages.push({ role: 'user', content: alpacaUserContent(instruction, input) });
  messages.push({ role: 'assistant', content: output });
  const alpaca = system === undefined ? { instruction, input, output } : { instruction, input, output, system };
  return withMeta({ kind: 'chat', messages, alpaca, source }, meta);
}

/** The user turn an Alpaca record becomes: the instruction, then the input after a blank line. */
export function alpacaUserContent(instruction: string, input: string): string {
  return isBlank(input) ? instruction : `${instruction}\n\n${input}`;
}

export function completionExample(
  prompt: unknown,
  completion: unknown,
  names: { prompt: string; completion: string },
  source: SourceRef,
  meta: Record<string, unknown> | undefined,
): CompletionExample | Rejection {
  const bad = expectString(prompt, names.prompt, source) ?? expectString(completion, names.completion, source);
  if (bad) return bad;
  if (isBlank(completion as string)) return reject(source, 'empty-response', `field "${names.completion}" is empty`, names.completion);
  return withMeta({ kind: 'completion', prompt: prompt as string, completion: completion as string, source }, meta);
}

interface ChatKeys {
  /** Field names for a message's role and content, tried in order. */
  role: string[];
  content: string[];
  /** A record-level system prompt, used when the conversation has none of its own. */
  system: unknown;
}

export function chatExample(
  list: unknown,
  field: string,
  source: SourceRef,
  meta: Record<string, unknown> | undefined,
  keys: ChatKeys,
): ChatExample | Rejection {
  // CSV cells and Parquet string columns hold a conversation as JSON text.
  if (typeof list === 'string' && list.trimStart().startsWith('[')) {
    try {
      list = JSON.parse(list);
    } catch {
      return reject(source, 'wrong-type', `field "${field}" is a string that is not a valid JSON array`, field);
    }
  }
  if (list === undefined) return reject(source, 'missing-field', `field "${field}" is missing`, field);
  if (!Array.isArray(list)) return reject(source, 'wrong-type', `field "${field}" is ${describe(list)}, expected an array`, field);
  const messages: Message[] = [];
  for (let i = 0; i < list.length; i++) {
    const m = parseMessage(list[i], `${field}[${i}]`, source, keys);
    if ('reason' in m) return m;
    messages.push(m);
  }
  if (!messages.some((m) => m.role === 'system') && typeof keys.system === 'string' && !isBlank(keys.system)) {
    messages.unshift({ role: 'system', content: keys.system });
  }
  if (!messages.some((m) => m.role === 'assistant')) {
    const msg = list.length === 0 ? `field "${field}" is an empty conversation` : `conversation in "${field}" has no assistant turn`;
    return reject(source, 'missing-field', msg, field);
  }
  return withMeta({ kind: 'chat', messages, source }, meta);
}

function parseMessage(m: unknown, at: string, source: SourceRef, keys: ChatKeys): Message | Rejection {
  if (!isRecordObject(m)) return reject(source, 'wrong-type', `${at} is ${describe(m)}, expected an object`, at);
  const roleKey = keys.role.find((k) => k in m) ?? keys.role[0];
  const contentKey = keys.content.find((k) => k in m) ?? keys.content[0];
  const rawRole = m[roleKey];
  const bad = expectString(rawRole, `${at}.${roleKey}`, source);
  if (bad) return bad;
  const role = ROLES[(rawRole as string).trim().toLowerCase()];
  if (!role) {
    const msg = `${at} has role "${rawRole as string}", expected system, user, assistant or tool (or human, gpt)`;
    return reject(source, 'unknown-role', msg, `${at}.${roleKey}`);
  }
  const content = messageText(m[contentKey], `${at}.${contentKey}`, source);
  if (typeof content !== 'string') return content;
  if (role === 'assistant' && isBlank(content)) {
    return reject(source, 'empty-response', `${at} (assistant) is empty`, `${at}.${contentKey}`);
  }
  const message: Message = { role, content };
  const w = m.weight;
  if (w !== undefined && w !== null) {
    if (w !== 0 && w !== 1) {
      const what = typeof w === 'number' ? String(w) : describe(w);
      return reject(source, 'wrong-type', `${at}.weight is ${what}, expected 0 or 1`, `${at}.weight`);
    }
    message.weight = w;
  }
  return message;
}

/** A string, or OpenAI's array of content parts when every part is text. */
function messageText(c: unknown, at: string, source: SourceRef): string | Rejection {
  if (!Array.isArray(c)) return expectString(c, at, source) ?? (c as string);
  let text = '';
  for (let i = 0; i < c.length; i++) {
    const part = c[i];
    if (!isRecordObject(part) || part.type !== 'text' || typeof part.text !== 'string') {
      const kind = isRecordObject(part) && typeof part.type === 'string' ? `a part of type "${part.type}"` : describe(part);
      return reject(source, 'wrong-type', `${at}[${i}] is ${kind}, expected a text part`, `${at}[${i}]`);
    }
    text += part.text;
  }
  return text;
}

function withMeta<T extends Example>(e: T, meta: Record<string, unknown> | undefined): T {
  if (meta) e.meta = meta;
  return e;
}
